"""What a parent reads (API.md §4): enrollments that name their course and institution, and an
escrow status that says where money is stuck (disputed, set aside for refunds), lists the
refunds and names the class each consumption paid for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..support.escrow_world import BUCKETS, World, now
from ..support.factories import Factory


@pytest.fixture
def settings_overrides(httpserver: HTTPServer) -> dict[str, Any]:
    """A real local HTTP server plays the trustee, so an approved refund is instructed."""
    httpserver.expect_request("/instructions", method="POST").respond_with_data("", status=202)
    return {"TRUSTEE_API_URL": httpserver.url_for("/").rstrip("/"), "TRUSTEE_RETRIES": 0}


def parent_escrow(client: FlaskClient, w: World, enrollment_id: int) -> dict[str, Any]:
    resp = client.get(f"/api/v1/enrollments/{enrollment_id}/escrow", headers=w.parent.headers)
    assert resp.status_code == 200, resp.json
    status = dict(resp.json)
    # The identity holds whatever is stuck where.
    assert status["paid_fen"] == sum(status[k] for k in BUCKETS)
    return status


def stuck(status: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (status["held_fen"], status["pending_confirmation_fen"], status["disputed_fen"],
            status["refund_requested_fen"], status["refundable_fen"])


def test_every_enrollment_body_names_its_course_institution_and_student(
        client: FlaskClient, w: World) -> None:
    created = w.enroll(client, hours=10, student="李小红")
    expected = {"course_name": w.course.name, "institution_name": w.institution.name,
                "student_name": "李小红", "student_grade": 7}
    assert {k: created[k] for k in expected} == expected
    assert created["activated_at"] is None
    w.pay(created)
    one = client.get(f"/api/v1/enrollments/{created['id']}", headers=w.parent.headers).json
    listed = client.get("/api/v1/enrollments", headers=w.parent.headers).json
    assert [x["id"] for x in listed] == [created["id"]]
    for body in (one, listed[0]):
        assert {k: body[k] for k in expected} == expected
        assert dt.datetime.fromisoformat(body["activated_at"]) < now()


def test_a_page_of_enrollments_reads_its_names_in_one_query(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    other = make.institution(name="另一家培训中心")
    courses = [w.course, make.course(other, name="初一英语"), make.course(w.institution,
                                                                         name="初二物理")]
    for course in courses:
        w.enroll(client, hours=2, course=course)
    statements: list[str] = []
    engine = db.get_bind()

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        listed = client.get("/api/v1/enrollments", headers=w.parent.headers).json
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {(x["course_name"], x["institution_name"]) for x in listed} == {
        (w.course.name, w.institution.name), ("初一英语", "另一家培训中心"),
        ("初二物理", w.institution.name)}
    named = [s for s in statements if "courses" in s and "institutions" in s]
    assert len(named) == 1, statements


def test_the_escrow_status_tracks_disputes_and_refunds_with_known_numbers(
        client: FlaskClient, w: World) -> None:
    e = w.paid_enrollment(client, hours=10)  # 10 × 4000 fen
    assert stuck(parent_escrow(client, w, e["id"])) == (40000, 0, 0, 0, 40000)
    assert parent_escrow(client, w, e["id"])["refunds"] == []

    first, second = w.past_session(hours_ago=5), w.past_session(hours_ago=3)
    billed = [w.attend(client, [e["id"]], cls=c, class_hours=1).json["consumptions"][0]
              for c in (first, second)]
    assert stuck(parent_escrow(client, w, e["id"])) == (32000, 8000, 0, 0, 32000)

    resp = client.post(f"/api/v1/consumptions/{billed[0]['id']}/dispute",
                       headers=w.parent.headers, json={"reason": "孩子那天请假"})
    assert resp.status_code == 200
    assert stuck(parent_escrow(client, w, e["id"])) == (32000, 8000, 4000, 0, 32000)

    resp = client.post(f"/api/v1/enrollments/{e['id']}/refunds", headers=w.parent.headers,
                       json={"reason": "搬家了", "amount_fen": 12000})
    assert resp.status_code == 201
    refund_id = resp.json["id"]
    status = parent_escrow(client, w, e["id"])
    assert stuck(status) == (32000, 8000, 4000, 12000, 20000)
    assert status["refunds"] == [{
        "id": refund_id, "amount_fen": 12000, "status": "requested",
        "requested_at": resp.json["requested_at"],
        "auto_approve_at": resp.json["auto_approve_at"]}]

    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.staff.headers).status_code == 200
    status = parent_escrow(client, w, e["id"])
    assert stuck(status) == (20000, 8000, 4000, 0, 20000)
    assert status["refund_pending_fen"] == 12000
    assert [(r["id"], r["status"]) for r in status["refunds"]] == [(refund_id, "instructed")]


def test_each_consumption_movement_names_the_class_it_paid_for(
        client: FlaskClient, w: World) -> None:
    e = w.paid_enrollment(client, hours=10)
    cls = w.past_session(hours_ago=4)
    consumption = w.attend(client, [e["id"]], cls=cls, class_hours=1).json["consumptions"][0]
    assert client.post(f"/api/v1/consumptions/{consumption['id']}/confirm",
                       headers=w.parent.headers).status_code == 200
    lines = parent_escrow(client, w, e["id"])["movements"]
    assert [line["kind"] for line in lines] == ["deposit", "consumption", "confirmation"]
    assert "session" not in lines[0]
    for line in lines[1:]:
        assert line["session"]["id"] == cls.id
        assert line["session"]["course_name"] == w.course.name
        assert dt.datetime.fromisoformat(line["session"]["starts_at"]) == cls.starts_at
