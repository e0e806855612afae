"""新增课程 in the institutions' portal: the course form saves through create_course, warns
about PRICE_ABOVE_GUIDE and DISGUISED_SUBJECT before saving, refuses in Chinese."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.models import Course
from tests.institution.test_pages import Clerk, count, text
from tests.support.escrow_world import World, world
from tests.support.factories import Factory
from tests.support.parties import token_in


@pytest.fixture
def w(db: Session, make: Factory) -> World:
    return world(db, make)


@pytest.fixture
def clerk(client: FlaskClient, w: World) -> Clerk:
    c = Clerk(client)
    assert c.sign_in(token_in(w.staff.headers)).status_code == 302
    return c


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
    assert "PRICE_ABOVE_GUIDE" in page and "课时单价高于政府指导价上限" in page
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
