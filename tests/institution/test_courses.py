"""新增课程 and 编辑课程 in the institutions' portal: the course form saves through create_course
or update_course, warns before saving with the course rules' own findings (compliance.preview),
refuses in Chinese; the form warns exactly when a compliance run would flag the saved course."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock, registry
from supervision.compliance.model import Window
from supervision.compliance.preview import COURSE_RULES, preview_course
from supervision.compliance.rules import evaluate_all
from supervision.models import AuditLog, Course
from tests.support.escrow_world import World, world
from tests.support.factories import Factory
from tests.support.institution import Clerk, count, text
from tests.support.parties import acting_as
from tests.support.registry_bodies import course_body


def course_data(**kw: Any) -> dict[str, Any]:
    # Offline, 20 a class (the middle band), 45 minutes: a 40-yuan class hour is far below
    # every ceiling of config/policy.toml.
    data = {"name": "初一数学提高班", "subject": "math", "category": "subject",
            "grade_min": "7", "grade_max": "7", "mode": "offline", "class_size": "20",
            "minutes_per_class_hour": "45", "price_yuan": "40.50", "venue_id": "0"}
    data.update(kw)
    return data


def saved(db: Session, name: str) -> Course | None:
    db.expire_all()
    return db.scalar(select(Course).where(Course.name == name))


def test_a_course_under_the_guide_price_is_saved_in_whole_fen(
        clerk: Clerk, w: World, db: Session) -> None:
    resp = clerk.post("/institution/courses", course_data())
    assert resp.status_code == 302
    course = saved(db, "初一数学提高班")
    assert course is not None
    assert course.institution_id == w.institution.id
    assert course.price_per_class_hour_fen == 4050
    assert "初一数学提高班" in text(clerk.get("/institution/courses"))


def test_a_course_above_the_guide_price_is_warned_and_saved_only_once_confirmed(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Course)
    data = course_data(price_yuan="900")
    resp = clerk.post("/institution/courses", data)
    page = text(resp)
    assert resp.status_code == 200
    assert "PRICE_ABOVE_GUIDE" in page and "收费超过政府指导价上限" in page
    assert "我已知晓" in page
    assert count(db, Course) == before  # warned, not saved
    resp = clerk.post("/institution/courses", {**data, "confirmed": "y"})
    assert resp.status_code == 302
    course = saved(db, "初一数学提高班")
    assert course is not None and course.price_per_class_hour_fen == 90000


def test_a_non_subject_course_named_like_a_subject_is_warned_as_disguised(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Course)
    data = course_data(name="思维拓展营", subject="other", category="non_subject")
    resp = clerk.post("/institution/courses", data)
    assert resp.status_code == 200
    assert "DISGUISED_SUBJECT" in text(resp) and "思维" in text(resp)
    assert count(db, Course) == before
    assert clerk.post("/institution/courses", {**data, "confirmed": "y"}).status_code == 302
    assert count(db, Course) == before + 1


def test_a_plain_non_subject_course_saves_without_a_warning(
        clerk: Clerk, w: World, db: Session) -> None:
    resp = clerk.post("/institution/courses", course_data(
        name="少儿篮球", subject="pe", category="non_subject", price_yuan="900"))
    assert resp.status_code == 302
    assert saved(db, "少儿篮球") is not None


def test_a_grade_range_upside_down_is_refused_in_chinese_and_nothing_is_written(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Course)
    resp = clerk.post("/institution/courses", course_data(grade_min="9", grade_max="7",
                                                          confirmed="y"))
    assert resp.status_code == 422
    assert "最高年级不能低于最低年级" in text(resp)
    assert count(db, Course) == before


def test_another_institutions_venue_is_refused_and_nothing_is_written(
        clerk: Clerk, w: World, db: Session, make: Factory) -> None:
    others = world(db, make)
    venue = make.venue(others.institution)
    before = count(db, Course)
    resp = clerk.post("/institution/courses", course_data(venue_id=str(venue.id)))
    assert resp.status_code == 422  # not among the form's choices
    assert count(db, Course) == before


def test_the_course_form_without_its_csrf_token_is_refused_and_writes_nothing(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Course)
    resp = clerk.client.post("/institution/courses", data=course_data())
    assert resp.status_code == 400
    assert count(db, Course) == before
    assert 'name="csrf_token"' in text(clerk.get("/institution/courses/new"))


# --- the warning is the rule's own finding --------------------------------------------------

WARNED = re.compile(r"（([A-Z_]+)）</li>")


def warned_codes(page: str) -> set[str]:
    return set(WARNED.findall(page))


def run_codes(db: Session, course: Course) -> set[str]:
    """What a compliance run's course rules find about the saved course."""
    window = Window.around(clock.now(), lookback_days=0, horizon_days=0)
    return {f.rule for f in evaluate_all(db, window, codes=COURSE_RULES)
            if f.subject_type == "course" and f.subject_id == str(course.id)}


@pytest.mark.parametrize("name, change, expected", [
    ("keyword only", dict(name="思维拓展营", subject="other", category="non_subject",
                          grade_min="3", grade_max="4"), {"DISGUISED_SUBJECT"}),
    ("clear", dict(name="少儿篮球", subject="pe", category="non_subject"), set()),
    ("keyword outside the rules' grades", dict(name="高中英语口语", subject="other",
                                               category="non_subject", grade_min="10",
                                               grade_max="12"), set()),
    ("declared non-subject, teaches math, priced high",
     dict(name="趣味课堂", subject="math", category="non_subject", price_yuan="900"),
     {"DISGUISED_SUBJECT", "PRICE_ABOVE_GUIDE"}),
    ("preschool online art", dict(name="幼儿美术", subject="art", category="non_subject",
                                  grade_min="0", grade_max="0", mode="online"),
     {"PRESCHOOL_ONLINE"}),
    ("preschool math", dict(name="幼小衔接数学", grade_min="0", grade_max="1"),
     {"PRESCHOOL_SUBJECT"}),
])
def test_the_form_warns_exactly_when_a_run_would_flag_the_saved_course(
        clerk: Clerk, w: World, db: Session, name: str, change: dict[str, Any],
        expected: set[str]) -> None:
    data = course_data(**change)
    page = text(clerk.post("/institution/courses", data))
    assert warned_codes(page) == expected, name
    resp = clerk.post("/institution/courses", {**data, "confirmed": "y"})
    assert resp.status_code == 302
    course = saved(db, data["name"])
    assert course is not None
    assert run_codes(db, course) == expected


def test_a_preview_writes_nothing_not_even_an_audit_row_and_the_transaction_goes_on(
        db: Session, w: World) -> None:
    courses, trail = count(db, Course), count(db, AuditLog)
    with acting_as(db, "institution", institution_id=w.institution.id) as actor:
        findings = preview_course(db, actor, course_body(
            name="思维训练营", subject="math", category="non_subject"))
        assert {f.rule for f in findings} == {"DISGUISED_SUBJECT"}
        assert db.in_transaction()
        kept = registry.create_course(db, actor, course_body(name="之后照常保存"))
    assert count(db, Course) == courses + 1 and kept.id is not None
    assert count(db, AuditLog) == trail + 1  # the saved course's row only


def test_a_preview_judges_only_its_own_course_and_of_an_edit_the_changed_one(
        db: Session, make: Factory) -> None:
    inst = make.institution(category="non_subject")
    make.course(inst, name="奥数思维", subject="math", category="non_subject")  # flagged
    plain = make.course(inst, name="少儿篮球", subject="pe", category="non_subject")
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        assert preview_course(db, actor, {"class_size": 12}, course_id=plain.id) == []
        findings = preview_course(db, actor, {"subject": "math", "category": "subject"},
                                  course_id=plain.id)
    assert {f.rule for f in findings} == {"CATEGORY_OUTSIDE_LICENSE"}
    assert {f.subject_id for f in findings} == {str(plain.id)}
    db.refresh(plain)
    assert (plain.subject, plain.category) == ("pe", "non_subject")  # rolled back


# --- 编辑课程 ------------------------------------------------------------------------------------

def test_each_course_has_an_edit_link_to_the_form_filled_in(clerk: Clerk, w: World) -> None:
    listing = text(clerk.get("/institution/courses"))
    assert f'/institution/courses/{w.course.id}/edit' in listing and "编辑" in listing
    page = text(clerk.get(f"/institution/courses/{w.course.id}/edit"))
    assert f'value="{w.course.name}"' in page
    assert f'value="{w.course.price_per_class_hour_fen / 100:.2f}"' in page
    assert "只对今后的新报名生效" in page


def test_an_edit_is_warned_like_a_new_course_and_saved_once_confirmed(
        clerk: Clerk, w: World, db: Session) -> None:
    url = f"/institution/courses/{w.course.id}"
    data = course_data(name="思维拓展营", subject="other", category="non_subject",
                       grade_min="3", grade_max="4")
    page = text(clerk.post(url, data))
    assert warned_codes(page) == {"DISGUISED_SUBJECT"}
    assert saved(db, "思维拓展营") is None
    assert clerk.post(url, {**data, "confirmed": "y"}).status_code == 302
    course = saved(db, "思维拓展营")
    assert course is not None and course.id == w.course.id


def test_an_edit_of_the_class_hour_under_enrollments_is_refused_in_chinese(
        clerk: Clerk, client: FlaskClient, w: World, db: Session) -> None:
    w.paid_enrollment(client, hours=4)
    assert "授课形式" in text(clerk.get(f"/institution/courses/{w.course.id}/edit"))
    resp = clerk.post(f"/institution/courses/{w.course.id}", course_data(
        name=w.course.name, minutes_per_class_hour="60", confirmed="y"))
    assert resp.status_code == 422
    assert "每课时分钟数不能再修改" in text(resp)
    db.refresh(w.course)
    assert w.course.minutes_per_class_hour == 45


def test_another_institutions_course_cannot_be_opened_for_editing(
        clerk: Clerk, w: World, db: Session, make: Factory) -> None:
    others = world(db, make)
    assert clerk.get(f"/institution/courses/{others.course.id}/edit").status_code == 404
    resp = clerk.post(f"/institution/courses/{others.course.id}", course_data())
    assert resp.status_code == 404
