"""Editing a course (PATCH /api/v1/courses/{id}, an addition to API.md §3): the course as it
would be passes create_course's checks; what enrollments were bought as stays fixed."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision import registry
from supervision.errors import Conflict, Invalid, NotFound
from supervision.models import Enrollment

from ..support.escrow_world import World
from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import audit_count

API = "/api/v1"


def test_an_institution_renames_and_reprices_its_course_and_the_trail_records_it(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    course = make.course(inst)
    before = audit_count(db)
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        updated = registry.update_course(db, actor, course.id, {
            "name": "初二数学培优班", "price_per_class_hour_fen": 5000})
    assert (updated.name, updated.price_per_class_hour_fen) == ("初二数学培优班", 5000)
    assert updated.grade_max == 8  # untouched fields stay
    assert audit_count(db) == before + 1


@pytest.mark.parametrize("change, field", [
    ({"grade_min": 9}, "grade_max"),  # the merged range 9-8 is upside down
    ({"subject": "olympiad_math"}, "subject"),
    ({"mode": "hybrid"}, "mode"),
    ({"class_size": 0}, "class_size"),
    ({"name": None}, "name"),
    ({"price_per_class_hour_fen": None}, "price_per_class_hour_fen"),
])
def test_a_partial_change_is_checked_on_the_course_as_it_would_be(
        db: Session, make: Factory, change: dict[str, Any], field: str) -> None:
    inst = make.institution()
    course = make.course(inst)  # grades 7-8
    with acting_as(db, "institution", institution_id=inst.id) as actor, \
            pytest.raises(Invalid) as caught:
        registry.update_course(db, actor, course.id, change)
    assert field in caught.value.errors
    db.refresh(course)
    assert course.grade_min == 7 and course.name == "初二数学提高班"


def test_another_institutions_venue_or_course_is_out_of_reach(db: Session,
                                                              make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    course, their_course, their_venue = make.course(mine), make.course(theirs), \
        make.venue(theirs)
    with acting_as(db, "institution", institution_id=mine.id) as actor:
        with pytest.raises(Invalid) as caught:
            registry.update_course(db, actor, course.id, {"venue_id": their_venue.id})
        assert set(caught.value.errors) == {"venue_id"}
        with pytest.raises(NotFound):
            registry.update_course(db, actor, their_course.id, {"name": "抢来的课"})


def test_a_regulator_of_the_district_may_correct_a_course(db: Session, make: Factory) -> None:
    inst = make.institution(district_code="320213")
    course = make.course(inst)
    with acting_as(db, "regulator", district_code="320213") as actor:
        assert registry.update_course(db, actor, course.id, {"class_size": 12}).class_size == 12
    with acting_as(db, "regulator", district_code="320205") as actor, pytest.raises(NotFound):
        registry.update_course(db, actor, course.id, {"class_size": 10})


def test_a_null_class_hour_length_takes_the_default_of_the_new_mode(db: Session,
                                                                    make: Factory) -> None:
    inst = make.institution()
    course = make.course(inst)
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        updated = registry.update_course(db, actor, course.id, {
            "mode": "online", "minutes_per_class_hour": None})
    assert (updated.mode, updated.minutes_per_class_hour) == ("online", 30)


def test_a_new_price_leaves_the_enrollments_price_and_the_class_hour_is_then_fixed(
        client: FlaskClient, db: Session, w: World) -> None:
    enrollment = w.paid_enrollment(client, hours=10)
    with acting_as(db, "institution", institution_id=w.institution.id) as actor:
        registry.update_course(db, actor, w.course.id, {"price_per_class_hour_fen": 9000})
        for change in ({"minutes_per_class_hour": 60}, {"mode": "online"}):
            with pytest.raises(Conflict):
                registry.update_course(db, actor, w.course.id, change)
    kept = db.get(Enrollment, enrollment["id"])
    assert kept is not None
    db.refresh(kept)
    assert kept.price_per_class_hour_fen == enrollment["price_per_class_hour_fen"] != 9000


def test_patch_course_answers_the_merged_course(client: FlaskClient, w: World) -> None:
    resp = client.patch(f"{API}/courses/{w.course.id}", headers=w.staff.headers,
                        json={"name": "初二数学（周三班）"})
    assert resp.status_code == 200, resp.json
    assert resp.json["name"] == "初二数学（周三班）"
    assert resp.json["subject"] == w.course.subject


def test_patch_course_refuses_an_upside_down_grade_range_with_422(client: FlaskClient,
                                                                  w: World) -> None:
    resp = client.patch(f"{API}/courses/{w.course.id}", headers=w.staff.headers,
                        json={"grade_min": 12, "grade_max": 1})
    assert resp.status_code == 422
    assert "grade_max" in resp.json["errors"]


def test_patch_course_refuses_a_new_class_hour_length_under_enrollments_with_409(
        client: FlaskClient, w: World) -> None:
    w.paid_enrollment(client, hours=4)
    resp = client.patch(f"{API}/courses/{w.course.id}", headers=w.staff.headers,
                        json={"minutes_per_class_hour": 50})
    assert resp.status_code == 409


def test_the_openapi_document_has_patch_course_with_every_field_optional(
        client: FlaskClient) -> None:
    doc = client.get(f"{API}/openapi.json").json
    operation = doc["paths"]["/api/v1/courses/{course_id}"]["patch"]
    assert {"200", "409", "422"} <= set(operation["responses"])
    schemas = doc["components"]["schemas"]
    patch = next(s for name, s in schemas.items() if name.startswith("CoursePatch"))
    assert not patch.get("required")
