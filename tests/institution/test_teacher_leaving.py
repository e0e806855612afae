"""离职 in the portal: a teacher marked as left is listed as 已离职, no longer offered for new
sessions, and a session after the day is refused by the service in Chinese."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from supervision import clock
from supervision.models import ClassSession
from tests.support.escrow_world import World, world
from tests.support.factories import Factory
from tests.support.institution import Clerk, count, text


def _row(page: str, teacher_id: int) -> str:
    return page.split(f'id="teacher-{teacher_id}"')[1].split("</tr>")[0]


def test_each_teacher_has_a_leave_form_dated_today(clerk: Clerk, w: World) -> None:
    row = _row(text(clerk.get("/institution/teachers")), w.teacher.id)
    assert f'/institution/teachers/{w.teacher.id}/leave' in row and "离职" in row
    assert f'value="{clock.today().isoformat()}"' in row


def _offered(clerk: Clerk, teacher_id: int) -> bool:
    select = text(clerk.get("/institution/week")).split('id="teacher_id"')[1]
    return f'<option value="{teacher_id}"' in select.split("</select>")[0]


def test_a_teacher_marked_left_is_listed_as_left_and_not_offered_for_sessions(
        clerk: Clerk, w: World, db: Session) -> None:
    today = clock.today()
    assert _offered(clerk, w.teacher.id)
    resp = clerk.post(f"/institution/teachers/{w.teacher.id}/leave",
                      {"left_on": today.isoformat()})
    assert resp.status_code == 302
    db.refresh(w.teacher)
    assert w.teacher.left_on == today
    row = _row(text(clerk.get("/institution/teachers")), w.teacher.id)
    assert "已离职" in row and "/leave" not in row
    assert not _offered(clerk, w.teacher.id)


def test_a_session_after_the_leaving_day_is_refused_in_chinese_and_not_saved(
        clerk: Clerk, w: World, db: Session) -> None:
    w.teacher.left_on = clock.today()
    db.flush()
    day = clock.today() + dt.timedelta(days=2)
    before = count(db, ClassSession)
    resp = clerk.post("/institution/sessions", {
        "course_id": str(w.course.id), "teacher_id": str(w.teacher.id),
        "starts_at": f"{day.isoformat()}T16:00", "ends_at": f"{day.isoformat()}T17:00",
        "confirmed": "y"})
    assert resp.status_code == 422
    assert "该教师已离职" in text(resp)
    assert count(db, ClassSession) == before


def test_leaving_while_sessions_remain_after_the_day_is_refused_in_chinese(
        clerk: Clerk, w: World, db: Session) -> None:
    w.make.session_of(w.course, w.teacher, starts_at=clock.now() + dt.timedelta(days=3))
    resp = clerk.post(f"/institution/teachers/{w.teacher.id}/leave",
                      {"left_on": clock.today().isoformat()})
    assert resp.status_code == 422
    assert "请先取消这些课次" in text(resp)
    db.refresh(w.teacher)
    assert w.teacher.left_on is None


def test_a_leaving_day_in_the_future_is_refused_in_chinese(clerk: Clerk, w: World,
                                                            db: Session) -> None:
    later = clock.today() + dt.timedelta(days=5)
    resp = clerk.post(f"/institution/teachers/{w.teacher.id}/leave",
                      {"left_on": later.isoformat()})
    assert resp.status_code == 422
    assert "离职日期不能晚于今天" in text(resp)


def test_another_institutions_teacher_cannot_be_marked_left(clerk: Clerk, db: Session,
                                                            make: Factory) -> None:
    others = world(db, make)
    resp = clerk.post(f"/institution/teachers/{others.teacher.id}/leave",
                      {"left_on": clock.today().isoformat()})
    assert resp.status_code == 404
    db.refresh(others.teacher)
    assert others.teacher.left_on is None
