"""POST/GET /enrollments: the pre-payment caps, institution status, scoping."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision.escrow import record_attendance

from ..support.escrow_world import World, now, world
from ..support.factories import Factory
from ..support.parties import party


def post(client: FlaskClient, w: World, **body: Any) -> Any:
    payload = {"course_id": w.course.id, "student_name": "小明", "student_grade": 7,
               "class_hours": 10, **body}
    return client.post("/api/v1/enrollments", headers=w.parent.headers, json=payload)


def test_a_parent_enrolls_and_gets_an_unguessable_reference_awaiting_payment(
        client: FlaskClient, w: World) -> None:
    resp = post(client, w, class_hours=20)
    assert resp.status_code == 201
    body = resp.json
    assert body["course_id"] == w.course.id
    assert body["institution_id"] == w.institution.id
    assert body["class_hours"] == 20
    assert body["price_per_class_hour_fen"] == 4000
    assert body["amount_fen"] == 80000
    assert body["status"] == "awaiting_payment"
    assert body["payment_reference"].startswith("SV") and len(body["payment_reference"]) == 18
    assert body["created_at"].endswith("+08:00")
    assert post(client, w).json["payment_reference"] != body["payment_reference"]


def test_the_price_is_the_course_price_when_enrolling(client: FlaskClient, w: World) -> None:
    first = post(client, w, class_hours=2).json
    w.course.price_per_class_hour_fen = 5000
    w.db.flush()
    assert post(client, w, class_hours=2).json["amount_fen"] == 10000
    again = client.get(f"/api/v1/enrollments/{first['id']}", headers=w.parent.headers).json
    assert again["amount_fen"] == 8000


def test_more_than_sixty_class_hours_is_refused_with_prepay_over_hours(
        client: FlaskClient, w: World) -> None:
    resp = post(client, w, class_hours=61)
    assert resp.status_code == 422
    assert resp.json["rule"] == "PREPAY_OVER_HOURS"
    assert post(client, w, class_hours=60).status_code == 201


def test_more_than_five_thousand_yuan_is_refused_with_prepay_over_amount(
        client: FlaskClient, w: World, make: Factory) -> None:
    dear = make.course(w.institution, subject="physics", price_per_class_hour_fen=10001)
    resp = post(client, w, course_id=dear.id, class_hours=50)
    assert resp.status_code == 422
    assert resp.json["rule"] == "PREPAY_OVER_AMOUNT"
    assert post(client, w, course_id=dear.id, class_hours=49).status_code == 201


def test_top_ups_count_with_the_unconsumed_hours_of_the_same_student_and_subject(
        client: FlaskClient, w: World, make: Factory) -> None:
    assert post(client, w, class_hours=40).status_code == 201
    resp = post(client, w, class_hours=21)
    assert resp.status_code == 422
    assert resp.json["rule"] == "PREPAY_OVER_HOURS"
    assert post(client, w, class_hours=20).status_code == 201
    # Another student, another subject, another institution: each has its own 60 hours.
    assert post(client, w, class_hours=60, student_name="小红").status_code == 201
    english = make.course(w.institution, subject="english")
    assert post(client, w, class_hours=60, course_id=english.id).status_code == 201
    elsewhere = make.course(make.institution())
    assert post(client, w, class_hours=60, course_id=elsewhere.id).status_code == 201
    # The same student name under another parent is another child.
    other = party(w.db, "parent")
    resp = client.post("/api/v1/enrollments", headers=other.headers, json={
        "course_id": w.course.id, "student_name": "小明", "student_grade": 7,
        "class_hours": 60})
    assert resp.status_code == 201


def test_consumed_hours_no_longer_count_against_the_cap(client: FlaskClient, w: World) -> None:
    first = w.paid_enrollment(client, hours=60)
    assert post(client, w, class_hours=1).json["rule"] == "PREPAY_OVER_HOURS"
    record_attendance(w.as_(w.staff), w.actor(w.staff),
                      session_id=w.past_session(minutes=5 * 45).id,
                      enrollment_ids=[first["id"]], class_hours=5, as_of=now())
    assert post(client, w, class_hours=6).json["rule"] == "PREPAY_OVER_HOURS"
    assert post(client, w, class_hours=5).status_code == 201


@pytest.mark.parametrize("status", ["suspended", "revoked"])
def test_a_suspended_or_revoked_institution_takes_no_enrollment(
        client: FlaskClient, w: World, status: str) -> None:
    w.institution.status = status
    w.db.flush()
    resp = post(client, w)
    assert resp.status_code == 422
    assert resp.json["rule"] == "INSTITUTION_NOT_ACTIVE"


def test_bad_enrollment_bodies_are_refused_with_field_errors(
        client: FlaskClient, w: World) -> None:
    for body, field in [({"class_hours": 0}, "class_hours"),
                        ({"class_hours": "3"}, "class_hours"),
                        ({"student_grade": 13}, "student_grade"),
                        ({"student_name": "  "}, "student_name"),
                        ({"status": "active"}, "status"),
                        ({"amount_fen": 1}, "amount_fen")]:
        resp = post(client, w, **body)
        assert resp.status_code == 422, body
        assert field in resp.json["errors"], resp.json


def test_an_unknown_course_is_404_and_only_parents_enroll(client: FlaskClient,
                                                          w: World) -> None:
    assert post(client, w, course_id=999999).status_code == 404
    for who in (w.staff, w.regulator):
        resp = client.post("/api/v1/enrollments", headers=who.headers, json={
            "course_id": w.course.id, "student_name": "小明", "student_grade": 7,
            "class_hours": 1})
        assert resp.status_code == 403


def test_enrollments_are_seen_by_their_parent_institution_and_regulator_only(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    mine = post(client, w).json
    other_parent = party(db, "parent")
    other_world = world(db, make, district_code="320205")
    theirs = other_world.enroll(client)

    def ids(headers: dict[str, str]) -> set[int]:
        resp = client.get("/api/v1/enrollments", headers=headers)
        assert resp.status_code == 200
        return {e["id"] for e in resp.json}

    assert ids(w.parent.headers) == {mine["id"]}
    assert ids(other_parent.headers) == set()
    assert ids(w.staff.headers) == {mine["id"]}
    assert {mine["id"], theirs["id"]} <= ids(w.regulator.headers)
    district = party(db, "regulator", district_code="320213")
    assert mine["id"] in ids(district.headers) and theirs["id"] not in ids(district.headers)
    for headers, enrollment in ((other_parent.headers, mine), (other_world.staff.headers, mine),
                                (district.headers, theirs)):
        resp = client.get(f"/api/v1/enrollments/{enrollment['id']}", headers=headers)
        assert resp.status_code == 404
    assert client.get(f"/api/v1/enrollments/{mine['id']}",
                      headers=w.parent.headers).status_code == 200


def test_the_enrollment_list_filters_and_pages(client: FlaskClient, w: World) -> None:
    for _ in range(3):
        post(client, w, class_hours=1)
    resp = client.get("/api/v1/enrollments?status=awaiting_payment&page_size=2",
                      headers=w.parent.headers)
    assert resp.status_code == 200
    assert len(resp.json) == 2
    assert '"total": 3' in resp.headers["X-Pagination"]
    assert client.get("/api/v1/enrollments?status=active",
                      headers=w.parent.headers).json == []
