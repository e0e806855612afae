"""The institutions' portal at /institution/: every page through the test client, as a
clerk signed in with the institution's token; each write through the API's services, each
refusal in Chinese with nothing written, another institution's records a 404."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.scope import policy_of
from supervision.clock import SHANGHAI
from supervision.compliance.model import Window
from supervision.compliance.rules import evaluate_all
from supervision.compliance.rules.timing import SESSION_RULES, proposed_session_codes
from supervision.models import ClassSession, Flag, FlagEvent, Teacher
from supervision.models.escrow import Consumption
from tests.support.complaints import complaint
from tests.support.escrow_world import World, world
from tests.support.factories import Factory
from tests.support.institution import CSRF, GOOD_ID, Clerk, count, text
from tests.support.parties import token_in


@pytest.fixture
def other(db: Session, make: Factory) -> World:
    """A second institution, with its own records the clerk must never see."""
    return world(db, make)


# --- signing in ------------------------------------------------------------------------------

def test_pages_redirect_to_sign_in_until_the_clerk_signs_in(client: FlaskClient) -> None:
    resp = client.get("/institution/teachers")
    assert resp.status_code == 302
    assert "/institution/signin" in resp.headers["Location"]


def test_a_parents_token_is_refused_at_the_institutions_sign_in(client: FlaskClient,
                                                                 w: World) -> None:
    resp = Clerk(client).sign_in(token_in(w.parent.headers))
    assert resp.status_code == 403
    assert "该令牌不是机构令牌" in text(resp)


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Teacher)
    resp = clerk.client.post("/institution/teachers", data={
        "name": "李老师", "id_number": GOOD_ID, "background_check_status": "clear",
        "employment": "full_time", "hired_on": "2026-09-01"})
    assert resp.status_code == 400
    assert count(db, Teacher) == before


def test_every_form_carries_a_csrf_token(clerk: Clerk, w: World) -> None:
    for url in ("/institution/week", "/institution/teachers"):
        assert CSRF.search(text(clerk.get(url))), url


# --- 考勤 ------------------------------------------------------------------------------------

def test_the_roster_lists_the_courses_active_enrollments_with_hours_left(
        clerk: Clerk, w: World, client: FlaskClient) -> None:
    enrollment = w.paid_enrollment(client, hours=12, student="小红")
    cls = w.past_session()
    page = text(clerk.get(f"/institution/sessions/{cls.id}/attendance"))
    assert "小红" in page
    assert f'id="tick-{enrollment["id"]}"' in page
    assert re.search(r'class="num hours-left">12<', page)


def test_ticking_students_records_their_attendance_through_the_escrow_service(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    enrollment = w.paid_enrollment(client, hours=12)
    cls = w.past_session(minutes=90)  # 45-minute class hours: 2 hours
    resp = clerk.post(f"/institution/sessions/{cls.id}/attendance",
                      {"enrollment_id": str(enrollment["id"])})
    assert resp.status_code == 302
    recorded = db.scalars(select(Consumption).where(Consumption.session_id == cls.id)).all()
    assert [(c.enrollment_id, c.class_hours) for c in recorded] == [(enrollment["id"], 2)]
    page = text(clerk.get(f"/institution/sessions/{cls.id}/attendance"))
    assert "已记录" in page and re.search(r'class="num hours-left">10<', page)


def test_attendance_for_a_student_paid_after_the_session_started_is_refused_in_chinese(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    early = w.paid_enrollment(client, student="早付")
    late = w.enroll(client, student="晚付")
    cls = w.past_session(hours_ago=3)
    w.pay(late, received_at=cls.starts_at + dt.timedelta(minutes=30))
    resp = clerk.post(f"/institution/sessions/{cls.id}/attendance",
                      {"enrollment_id": [str(early["id"]), str(late["id"])]})
    assert resp.status_code == 422
    assert "这节课开始后才付款到账" in text(resp)
    assert count(db, Consumption) == 0  # all or nothing: not even the one paid in time


def test_attendance_for_a_session_not_started_is_refused_in_chinese(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    enrollment = w.paid_enrollment(client)
    cls = w.make.session_of(w.course, w.teacher,
                            starts_at=clock.now() + dt.timedelta(days=2))
    resp = clerk.post(f"/institution/sessions/{cls.id}/attendance",
                      {"enrollment_id": str(enrollment["id"])})
    assert resp.status_code == 422
    assert "还没有开始" in text(resp)
    assert count(db, Consumption) == 0


def test_another_institutions_session_is_not_found(clerk: Clerk, other: World,
                                                   db: Session) -> None:
    cls = other.past_session()
    assert clerk.get(f"/institution/sessions/{cls.id}/attendance").status_code == 404
    assert clerk.post(f"/institution/sessions/{cls.id}/attendance",
                      {"enrollment_id": "1"}).status_code == 404
    assert clerk.post(f"/institution/sessions/{cls.id}/cancel").status_code == 404
    assert count(db, Consumption) == 0
    db.refresh(cls)
    assert cls.status == "scheduled"


# --- 课程与排课 ------------------------------------------------------------------------------

def test_courses_show_the_guide_price_ceiling_and_mark_a_price_above_it(
        clerk: Clerk, w: World, make: Factory) -> None:
    # Offline, 20 a class (middle band), 45-minute class hours; policy.toml's ceiling then
    # is below 100 yuan, so 100 yuan is above and 40 yuan is not.
    dear = make.course(w.institution, name="贵的课", price_per_class_hour_fen=10000)
    page = text(clerk.get("/institution/courses"))
    dear_row = page.split(f'id="course-{dear.id}"')[1].split("</tr>")[0]
    cheap_row = page.split(f'id="course-{w.course.id}"')[1].split("</tr>")[0]
    assert "高于上限" in dear_row and "高于上限" not in cheap_row
    assert "¥" in cheap_row or "元" in cheap_row


def _session_data(w: World, starts: str, ends: str, **extra: str) -> dict[str, str]:
    return {"course_id": str(w.course.id), "teacher_id": str(w.teacher.id),
            "starts_at": starts, "ends_at": ends, **extra}


def test_a_session_on_a_weekday_afternoon_is_saved_through_the_registry(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, ClassSession)
    resp = clerk.post("/institution/sessions",
                      _session_data(w, "2027-03-10T16:00", "2027-03-10T17:30"))  # a Wednesday
    assert resp.status_code == 302
    assert count(db, ClassSession) == before + 1
    page = text(clerk.get("/institution/week?week=2027-03-10"))
    assert "16:00–17:30" in page


def test_a_weekend_session_late_in_the_evening_is_warned_about_before_it_is_saved(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, ClassSession)
    data = _session_data(w, "2027-03-13T19:30", "2027-03-13T21:00")  # a Saturday, till 21:00
    resp = clerk.post("/institution/sessions", data)
    page = text(resp)
    assert resp.status_code == 200
    assert "SUBJECT_ON_WEEKEND" in page and "LATE_END_OFFLINE" in page
    assert "学科类培训不得安排在周末" in page
    assert count(db, ClassSession) == before  # warned, not saved
    resp = clerk.post("/institution/sessions", {**data, "confirmed": "y"})
    assert resp.status_code == 302
    assert count(db, ClassSession) == before + 1


def test_the_warnings_are_the_codes_the_compliance_engine_raises_for_the_saved_session(
        db: Session, w: World) -> None:
    starts = dt.datetime(2027, 1, 30, 19, 0, tzinfo=SHANGHAI)  # a winter-vacation Saturday
    codes = proposed_session_codes(db, policy_of(db), w.course, starts,
                                   starts + dt.timedelta(minutes=100))
    assert set(codes) >= {"SUBJECT_ON_WEEKEND", "SUBJECT_IN_VACATION", "LATE_END_OFFLINE"}
    cls = w.make.session_of(w.course, w.teacher, starts_at=starts, minutes=100)
    assert set(codes) == set(engine_codes(db, cls))


def test_a_non_subject_course_gets_no_timing_warning(db: Session, w: World,
                                                     make: Factory) -> None:
    art = make.course(w.institution, name="美术", subject="art", category="non_subject")
    starts = dt.datetime(2027, 3, 13, 19, 30, tzinfo=SHANGHAI)
    assert proposed_session_codes(db, policy_of(db), art, starts,
                                  starts + dt.timedelta(minutes=90)) == []


def test_a_session_ending_before_it_starts_is_refused_in_chinese_and_not_saved(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, ClassSession)
    resp = clerk.post("/institution/sessions",
                      _session_data(w, "2027-03-10T16:00", "2027-03-10T15:00"))
    assert resp.status_code == 422
    assert "结束时间必须晚于开始时间" in text(resp)
    assert count(db, ClassSession) == before


def test_cancelling_a_future_session_goes_through_the_registry(
        clerk: Clerk, w: World, db: Session) -> None:
    cls = w.make.session_of(w.course, w.teacher,
                            starts_at=clock.now() + dt.timedelta(days=3))
    assert clerk.post(f"/institution/sessions/{cls.id}/cancel").status_code == 302
    db.refresh(cls)
    assert cls.status == "cancelled"


def test_another_institutions_course_cannot_be_scheduled(clerk: Clerk, w: World,
                                                         other: World, db: Session) -> None:
    before = count(db, ClassSession)
    resp = clerk.post("/institution/sessions", {
        "course_id": str(other.course.id), "teacher_id": str(w.teacher.id),
        "starts_at": "2027-03-10T16:00", "ends_at": "2027-03-10T17:00"})
    assert resp.status_code == 422  # not one of the choices: never reaches the service
    assert count(db, ClassSession) == before
    assert f'id="course-{other.course.id}"' not in text(clerk.get("/institution/courses"))


# --- 从业人员 --------------------------------------------------------------------------------

def _teacher(name: str, id_number: str) -> dict[str, str]:
    return {"name": name, "id_number": id_number, "background_check_status": "clear",
            "employment": "full_time", "hired_on": "2026-09-01"}


def test_a_teacher_with_a_bad_id_number_is_refused_in_chinese_and_not_saved(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Teacher)
    resp = clerk.post("/institution/teachers", _teacher("李老师", "110105194912310021"))
    assert resp.status_code == 422
    assert "身份证号校验位不正确" in text(resp)
    assert count(db, Teacher) == before


def test_a_teacher_with_a_good_id_number_is_saved_and_shown_masked(
        clerk: Clerk, w: World, db: Session) -> None:
    resp = clerk.post("/institution/teachers", _teacher("李老师", GOOD_ID))
    assert resp.status_code == 302
    page = text(clerk.get("/institution/teachers"))
    assert "李老师" in page and "1101**********002X" in page
    assert GOOD_ID not in page


def test_editing_a_teacher_keeps_the_id_number_when_left_blank(
        clerk: Clerk, w: World, db: Session) -> None:
    masked = w.teacher.id_number_masked
    form = text(clerk.get(f"/institution/teachers/{w.teacher.id}"))
    assert masked in form
    resp = clerk.post(f"/institution/teachers/{w.teacher.id}",
                      {**_teacher("王老师（改）", ""), "background_check_status": "pending"})
    assert resp.status_code == 302
    db.refresh(w.teacher)
    assert (w.teacher.name, w.teacher.background_check_status) == ("王老师（改）", "pending")
    assert w.teacher.id_number_masked == masked


def test_a_teachers_open_flags_are_shown_beside_the_teacher(
        clerk: Clerk, w: World, db: Session) -> None:
    flag = add_flag(db, w, subject_type="teacher", subject_id=str(w.teacher.id),
                    summary="王老师无教师资格证")
    page = text(clerk.get("/institution/teachers"))
    row = page.split(f'id="teacher-{w.teacher.id}"')[1].split("</tr>")[0]
    assert f'id="teacher-flag-{flag.id}"' in row and "无教师资格证" in row


def test_another_institutions_teacher_is_not_found(clerk: Clerk, other: World,
                                                   db: Session) -> None:
    assert clerk.get(f"/institution/teachers/{other.teacher.id}").status_code == 404
    resp = clerk.post(f"/institution/teachers/{other.teacher.id}", _teacher("改名", ""))
    assert resp.status_code == 404
    db.refresh(other.teacher)
    assert other.teacher.name != "改名"
    assert f'id="teacher-{other.teacher.id}"' not in text(clerk.get("/institution/teachers"))


# --- 待办 ------------------------------------------------------------------------------------

def add_flag(db: Session, w: World, *, status: str = "open", subject_type: str = "course",
             subject_id: str | None = None, summary: str = "周末上课") -> Flag:
    flag = Flag(rule="SUBJECT_ON_WEEKEND", severity="high", status=status,
                institution_id=w.institution.id, subject_type=subject_type,
                subject_id=subject_id or str(w.course.id), summary=summary, evidence={},
                due_on=dt.date(2026, 12, 20) if status == "rectification_ordered" else None)
    db.add(flag)
    db.flush()
    return flag


def test_a_rectification_order_is_answered_with_a_note_through_the_workflow(
        clerk: Clerk, w: World, db: Session) -> None:
    flag = add_flag(db, w, status="rectification_ordered")
    page = text(clerk.get("/institution/todo"))
    assert "周末上课" in page and "2026年12月20日" in page
    resp = clerk.post(f"/institution/flags/{flag.id}/respond", {"note": "已改到周三下午"})
    assert resp.status_code == 302
    db.refresh(flag)
    assert flag.status == "rectification_submitted"
    events = db.scalars(select(FlagEvent).where(FlagEvent.flag_id == flag.id)).all()
    assert [(e.action, e.note) for e in events] == [("respond", "已改到周三下午")]


def test_answering_a_flag_not_under_order_is_refused_in_chinese_and_writes_nothing(
        clerk: Clerk, w: World, db: Session) -> None:
    flag = add_flag(db, w, status="open")
    resp = clerk.post(f"/institution/flags/{flag.id}/respond", {"note": "已整改"})
    assert resp.status_code == 422
    assert "尚未下达整改通知" in text(resp)
    db.refresh(flag)
    assert flag.status == "open"
    assert count(db, FlagEvent) == 0


def test_another_institutions_flag_is_not_found(clerk: Clerk, other: World,
                                                db: Session) -> None:
    flag = add_flag(db, other, status="rectification_ordered", summary="别家的问题")
    assert "别家的问题" not in text(clerk.get("/institution/todo"))
    resp = clerk.post(f"/institution/flags/{flag.id}/respond", {"note": "x"})
    assert resp.status_code == 404
    db.refresh(flag)
    assert flag.status == "rectification_ordered"


def test_a_complaint_is_answered_through_the_complaints_service(
        clerk: Clerk, w: World, db: Session) -> None:
    c = complaint(db, w.parent, w.institution, text="退费迟迟不到账")
    assert "退费迟迟不到账" in text(clerk.get("/institution/todo"))
    resp = clerk.post(f"/institution/complaints/{c.id}/respond", {"note": "已于今日退回"})
    assert resp.status_code == 302
    db.refresh(c)
    assert c.status == "responded"


def test_another_institutions_complaint_cannot_be_answered(
        clerk: Clerk, other: World, db: Session) -> None:
    c = complaint(db, other.parent, other.institution, text="别家的投诉")
    assert "别家的投诉" not in text(clerk.get("/institution/todo"))
    assert clerk.post(f"/institution/complaints/{c.id}/respond",
                      {"note": "x"}).status_code == 404
    db.refresh(c)
    assert c.status == "submitted"


def engine_codes(db: Session, cls: ClassSession) -> list[str]:
    """What a compliance run raises about `cls` (the §2 per-session rules)."""
    window = Window.around(cls.starts_at)
    return [f.rule for f in evaluate_all(db, window, codes=list(SESSION_RULES))
            if f.subject_type == "session" and f.subject_id == str(cls.id)]
