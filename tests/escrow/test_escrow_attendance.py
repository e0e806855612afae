"""POST /sessions/{id}/attendance, /consumptions/{id}/confirm and /dispute, auto-confirmation."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.calendar import add_working_days
from supervision.clock import SHANGHAI
from supervision.escrow import auto_confirm_due, record_attendance
from supervision.models import AuditLog, Flag
from supervision.models.escrow import Consumption, LedgerEntry
from supervision.models.outbox import OutboxMessage

from ..support.escrow_world import World, entries_of, now, world
from ..support.factories import Factory
from ..support.parties import party


def test_attendance_moves_held_money_to_pending_confirmation_for_each_student(
        client: FlaskClient, w: World, db: Session) -> None:
    a = w.paid_enrollment(client, hours=10)
    b = w.paid_enrollment(client, hours=5, student="小红")
    resp = w.attend(client, [a["id"], b["id"]], cls=w.past_session(minutes=90))
    assert resp.status_code == 201
    rows = resp.json["consumptions"]
    assert [(r["enrollment_id"], r["class_hours"], r["amount_fen"], r["status"])
            for r in rows] == [(a["id"], 2, 8000, "pending_confirmation"),
                               (b["id"], 2, 8000, "pending_confirmation")]
    status = w.escrow(client, a["id"])
    assert status["held_fen"] == 32000 and status["pending_confirmation_fen"] == 8000
    assert status["class_hours"] == {"purchased": 10, "consumed": 2, "remaining": 8}
    assert [m["kind"] for m in status["movements"]] == ["deposit", "consumption"]
    assert status["movements"][1]["from"] == "held"
    assert status["movements"][1]["to"] == "pending_confirmation"
    for r in rows:
        entries = entries_of(db, "consumption", r["id"])
        assert sorted((e.direction, e.account_kind, e.amount_fen) for e in entries) == [
            ("credit", "pending_confirmation", 8000), ("debit", "held", 8000)]


def test_auto_confirmation_is_fifteen_working_days_after_recording(
        client: FlaskClient, w: World, db: Session) -> None:
    a = w.paid_enrollment(client)
    before = clock.local_now()
    row = w.attend(client, [a["id"]]).json["consumptions"][0]
    at = dt.datetime.fromisoformat(row["auto_confirm_at"])
    assert at.utcoffset() == dt.timedelta(hours=8)
    assert at.date() == add_working_days(db, before.date(), 15)
    assert (at.hour, at.minute) == (before.hour, before.minute) or at.date() > before.date()


@pytest.mark.parametrize(("minutes", "per_hour", "expected"), [
    (90, 45, 2), (100, 45, 2), (30, 45, 1), (60, 30, 2), (135, 45, 3)])
def test_default_class_hours_are_the_session_length_rounded_down_at_least_one(
        client: FlaskClient, w: World, make: Factory, minutes: int, per_hour: int,
        expected: int) -> None:
    course = make.course(w.institution, minutes_per_class_hour=per_hour,
                         price_per_class_hour_fen=100)
    a = w.paid_enrollment(client, course=course, hours=10)
    resp = w.attend(client, [a["id"]], cls=w.past_session(minutes=minutes, course=course))
    assert resp.json["consumptions"][0]["class_hours"] == expected


def test_explicit_class_hours_override_the_default(client: FlaskClient, w: World) -> None:
    a = w.paid_enrollment(client)
    resp = w.attend(client, [a["id"]], cls=w.past_session(minutes=180), class_hours=3)
    assert resp.json["consumptions"][0]["amount_fen"] == 12000


def test_a_session_not_yet_started_or_cancelled_takes_no_attendance(
        client: FlaskClient, w: World, make: Factory) -> None:
    a = w.paid_enrollment(client)
    future = make.session_of(w.course, w.teacher, starts_at=now() + dt.timedelta(hours=1))
    resp = w.attend(client, [a["id"]], cls=future)
    assert resp.status_code == 422 and "session_id" in resp.json["errors"]
    cancelled = w.past_session()
    cancelled.status = "cancelled"
    w.db.flush()
    assert w.attend(client, [a["id"]], cls=cancelled).status_code == 422


def test_an_enrollment_of_another_course_or_unpaid_spoils_the_whole_request(
        client: FlaskClient, w: World, make: Factory, db: Session) -> None:
    paid = w.paid_enrollment(client)
    unpaid = w.enroll(client, student="小红")
    other_course = make.course(w.institution, subject="english")
    elsewhere = w.paid_enrollment(client, course=other_course)
    for ids in ([paid["id"], unpaid["id"]], [paid["id"], elsewhere["id"]],
                [paid["id"], 987654]):
        resp = w.attend(client, ids)
        assert resp.status_code == 422, ids
        assert "enrollment_ids" in resp.json["errors"]
    assert db.scalar(select(func.count()).select_from(Consumption)) == 0
    assert w.escrow(client, paid["id"])["held_fen"] == 40000


def test_attendance_beyond_the_held_money_is_refused_and_nothing_is_booked(
        client: FlaskClient, w: World, db: Session) -> None:
    rich = w.paid_enrollment(client, hours=10)
    poor = w.paid_enrollment(client, hours=1, student="小红")
    resp = w.attend(client, [rich["id"], poor["id"]], class_hours=2)
    assert resp.status_code == 422
    assert resp.json["rule"] == "INSUFFICIENT_ESCROW"
    assert str(poor["id"]) in resp.json["message"]
    assert db.scalar(select(func.count()).select_from(Consumption)) == 0
    assert db.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind == "consumption")) == 0
    assert w.escrow(client, rich["id"])["held_fen"] == 40000


def test_the_same_enrollment_twice_for_one_session_is_a_conflict(
        client: FlaskClient, w: World) -> None:
    a = w.paid_enrollment(client)
    cls = w.past_session()
    assert w.attend(client, [a["id"]], cls=cls).status_code == 201
    resp = w.attend(client, [a["id"]], cls=cls)
    assert resp.status_code == 409
    assert w.attend(client, [a["id"], a["id"]]).status_code == 409
    assert w.escrow(client, a["id"])["pending_confirmation_fen"] == 8000


def test_only_the_owning_institution_records_attendance(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    a = w.paid_enrollment(client)
    cls = w.past_session()
    other = world(db, make)
    resp = client.post(f"/api/v1/sessions/{cls.id}/attendance", headers=other.staff.headers,
                       json={"enrollment_ids": [a["id"]]})
    assert resp.status_code == 404
    for who in (w.parent, w.regulator):
        resp = client.post(f"/api/v1/sessions/{cls.id}/attendance", headers=who.headers,
                           json={"enrollment_ids": [a["id"]]})
        assert resp.status_code == 403
    assert w.attend(client, []).status_code == 422
    assert w.attend(client, [a["id"]], class_hours=0).status_code == 422


def test_forty_students_are_recorded_in_one_request(client: FlaskClient, w: World,
                                                    make: Factory) -> None:
    course = make.course(w.institution, class_size=40, price_per_class_hour_fen=3000)
    ids = [w.paid_enrollment(client, course=course, hours=10, student=f"学生{i}")["id"]
           for i in range(40)]
    resp = w.attend(client, ids, cls=w.past_session(course=course))
    assert resp.status_code == 201
    assert [c["enrollment_id"] for c in resp.json["consumptions"]] == ids
    assert w.escrow(client, ids[-1])["pending_confirmation_fen"] == 6000


# --- confirm and dispute ---------------------------------------------------------------------

@pytest.fixture
def consumed(client: FlaskClient, w: World) -> dict[str, int]:
    a = w.paid_enrollment(client)
    row = w.attend(client, [a["id"]]).json["consumptions"][0]
    return {"enrollment_id": a["id"], "consumption_id": row["id"]}


def test_the_parent_confirms_a_consumption_once(client: FlaskClient, w: World,
                                                consumed: dict[str, int], db: Session) -> None:
    url = f"/api/v1/consumptions/{consumed['consumption_id']}/confirm"
    resp = client.post(url, headers=w.parent.headers)
    assert resp.status_code == 200
    assert resp.json["status"] == "confirmed" and resp.json["confirmed_by"] == "parent"
    status = w.escrow(client, consumed["enrollment_id"])
    assert status["pending_confirmation_fen"] == 0 and status["confirmed_fen"] == 8000
    assert client.post(url, headers=w.parent.headers).status_code == 409
    assert len(entries_of(db, "consumption", consumed["consumption_id"])) == 4


def test_nobody_but_the_parent_confirms(client: FlaskClient, w: World,
                                        consumed: dict[str, int], db: Session) -> None:
    url = f"/api/v1/consumptions/{consumed['consumption_id']}/confirm"
    assert client.post(url, headers=party(db, "parent").headers).status_code == 404
    assert client.post(url, headers=w.staff.headers).status_code == 403
    assert client.post(url, headers=w.regulator.headers).status_code == 403
    assert client.post("/api/v1/consumptions/99999/confirm",
                       headers=w.parent.headers).status_code == 404


def test_a_dispute_keeps_the_money_pending_and_flags_the_regulator(
        client: FlaskClient, w: World, consumed: dict[str, int], db: Session) -> None:
    cid = consumed["consumption_id"]
    resp = client.post(f"/api/v1/consumptions/{cid}/dispute", headers=w.parent.headers,
                       json={"reason": "孩子那天请假了"})
    assert resp.status_code == 200
    assert resp.json["status"] == "disputed" and resp.json["dispute_reason"] == "孩子那天请假了"
    assert w.escrow(client, consumed["enrollment_id"])["pending_confirmation_fen"] == 8000
    flag = db.scalars(select(Flag).where(Flag.rule == "CONSUMPTION_DISPUTED")).one()
    assert flag.severity == "medium" and flag.subject_id == str(cid)
    assert flag.institution_id == w.institution.id
    again = client.post(f"/api/v1/consumptions/{cid}/dispute", headers=w.parent.headers,
                        json={"reason": "again"})
    assert again.status_code == 409
    assert client.post(f"/api/v1/consumptions/{cid}/dispute", headers=w.parent.headers,
                       json={}).status_code == 422
    # A disputed consumption is never confirmed automatically...
    assert auto_confirm_due(w.system(), now() + dt.timedelta(days=60)) == 0
    # ...but the parent may withdraw the dispute by confirming.
    resp = client.post(f"/api/v1/consumptions/{cid}/confirm", headers=w.parent.headers)
    assert resp.status_code == 200 and resp.json["status"] == "confirmed"


def test_a_confirmed_consumption_cannot_be_disputed(client: FlaskClient, w: World,
                                                    consumed: dict[str, int]) -> None:
    cid = consumed["consumption_id"]
    client.post(f"/api/v1/consumptions/{cid}/confirm", headers=w.parent.headers)
    resp = client.post(f"/api/v1/consumptions/{cid}/dispute", headers=w.parent.headers,
                       json={"reason": "late"})
    assert resp.status_code == 409


def test_unanswered_consumptions_are_confirmed_automatically_when_due(
        client: FlaskClient, w: World, consumed: dict[str, int], db: Session) -> None:
    c = db.get(Consumption, consumed["consumption_id"])
    assert c is not None
    assert auto_confirm_due(w.system(), c.auto_confirm_at - dt.timedelta(seconds=1)) == 0
    assert auto_confirm_due(w.system(), c.auto_confirm_at) == 1
    db.refresh(c)
    assert (c.status, c.confirmed_by) == ("confirmed", "auto")
    assert auto_confirm_due(w.system(), c.auto_confirm_at + dt.timedelta(days=1)) == 0
    assert w.escrow(client, consumed["enrollment_id"])["confirmed_fen"] == 8000


def test_consumptions_are_listed_in_scope(client: FlaskClient, w: World,
                                          consumed: dict[str, int], db: Session) -> None:
    for headers in (w.parent.headers, w.staff.headers, w.regulator.headers):
        resp = client.get(f"/api/v1/consumptions?enrollment_id={consumed['enrollment_id']}",
                          headers=headers)
        assert [c["id"] for c in resp.json] == [consumed["consumption_id"]]
    assert client.get("/api/v1/consumptions", headers=party(db, "parent").headers).json == []
    one = client.get(f"/api/v1/consumptions/{consumed['consumption_id']}",
                     headers=party(db, "parent").headers)
    assert one.status_code == 404


def test_the_service_refuses_attendance_for_a_session_of_another_institution(
        w: World, db: Session, make: Factory, client: FlaskClient) -> None:
    a = w.paid_enrollment(client)
    other = world(db, make)
    with pytest.raises(Exception) as info:
        record_attendance(w.as_(other.staff), w.actor(other.staff), session_id=w.past_session().id,
                          enrollment_ids=[a["id"]], class_hours=None, as_of=now())
    assert type(info.value).__name__ == "NotFound"


def test_a_confirmation_is_in_the_audit_trail(client: FlaskClient, w: World,
                                              consumed: dict[str, int]) -> None:
    cid = consumed["consumption_id"]
    client.post(f"/api/v1/consumptions/{cid}/confirm", headers=w.parent.headers)
    trail = client.get(f"/api/v1/audit?entity=consumptions&entity_id={cid}",
                       headers=w.regulator.headers).json
    changes = [row["changes"] for row in trail if row["action"] == "update"]
    assert changes and changes[0]["status"] == ["pending_confirmation", "confirmed"]
    assert any(row["action"] == "create" for row in trail)


# --- what attendance may never bill ----------------------------------------------------------

def written(db: Session, w: World, client: FlaskClient,
            enrollment_ids: list[int]) -> dict[str, object]:
    """Everything an attendance call writes: rows, audit, outbox, balances, consumed hours."""
    counts = {model.__name__: db.scalar(select(func.count()).select_from(model))
              for model in (Consumption, LedgerEntry, AuditLog, OutboxMessage)}
    status = {eid: w.escrow(client, eid) for eid in enrollment_ids}
    return {**counts, "buckets": {eid: (s["held_fen"], s["pending_confirmation_fen"],
                                        s["class_hours"]["consumed"])
                                  for eid, s in status.items()}}


def test_a_session_that_started_before_the_money_arrived_is_refused_whole_and_nothing_written(
        client: FlaskClient, w: World, db: Session) -> None:
    cls = w.past_session(hours_ago=3)
    early = w.enroll(client)
    assert w.pay(early, received_at=cls.starts_at - dt.timedelta(minutes=1)) == "applied"
    late = w.enroll(client, student="小红")
    assert w.pay(late, received_at=cls.starts_at + dt.timedelta(minutes=1)) == "applied"
    before = written(db, w, client, [early["id"], late["id"]])
    resp = w.attend(client, [early["id"], late["id"]], cls=cls)
    assert resp.status_code == 422
    assert resp.json["rule"] == "SESSION_BEFORE_ENROLLMENT"
    assert [p.split(":")[0] for p in resp.json["errors"]["enrollment_ids"]] == [str(late["id"])]
    assert written(db, w, client, [early["id"], late["id"]]) == before
    # The one paid in time is billed on its own.
    assert w.attend(client, [early["id"]], cls=cls).status_code == 201


def test_money_that_arrived_as_the_session_started_pays_for_it(
        client: FlaskClient, w: World) -> None:
    cls = w.past_session()
    e = w.enroll(client)
    w.pay(e, received_at=cls.starts_at)
    assert w.attend(client, [e["id"]], cls=cls).status_code == 201


def test_the_enrollment_shows_when_it_became_active(client: FlaskClient, w: World) -> None:
    e = w.enroll(client)
    assert e["activated_at"] is None
    paid_at = dt.datetime(2026, 11, 30, 9, 15, tzinfo=SHANGHAI)
    w.pay(e, received_at=paid_at)
    shown = client.get(f"/api/v1/enrollments/{e['id']}", headers=w.parent.headers).json
    assert shown["status"] == "active"
    assert dt.datetime.fromisoformat(shown["activated_at"]) == paid_at


@pytest.mark.parametrize(("minutes", "per_hour", "holds"), [
    (45, 45, 1), (89, 45, 1), (90, 45, 2), (30, 45, 1), (60, 30, 2)])
def test_more_class_hours_than_the_session_holds_are_refused_and_nothing_written(
        client: FlaskClient, w: World, db: Session, make: Factory, minutes: int,
        per_hour: int, holds: int) -> None:
    course = make.course(w.institution, minutes_per_class_hour=per_hour,
                         price_per_class_hour_fen=100)
    e = w.paid_enrollment(client, course=course, hours=60)
    cls = w.past_session(minutes=minutes, course=course)
    before = written(db, w, client, [e["id"]])
    for claimed in (holds + 1, 1000):
        resp = w.attend(client, [e["id"]], cls=cls, class_hours=claimed)
        assert resp.status_code == 422, claimed
        assert resp.json["rule"] == "HOURS_EXCEED_SESSION"
        assert "class_hours" in resp.json["errors"]
        assert written(db, w, client, [e["id"]]) == before
    # What the session does hold is accepted.
    assert w.attend(client, [e["id"]], cls=cls, class_hours=holds).status_code == 201


@pytest.mark.parametrize("status", ["suspended", "revoked"])
def test_a_suspended_or_revoked_institution_records_no_attendance(
        client: FlaskClient, w: World, db: Session, status: str) -> None:
    e = w.paid_enrollment(client)
    cls = w.past_session()
    w.institution.status = status
    db.flush()
    before = written(db, w, client, [e["id"]])
    resp = w.attend(client, [e["id"]], cls=cls)
    assert resp.status_code == 422
    assert resp.json["rule"] == "INSTITUTION_NOT_ACTIVE"
    assert written(db, w, client, [e["id"]]) == before


# --- the answer, written without the schema ----------------------------------------------------

def test_the_attendance_answer_is_what_the_schema_would_dump(
        client: FlaskClient, w: World, db: Session) -> None:
    from supervision.api.escrow import attendance_body
    from supervision.api.escrow_schemas import AttendanceOut
    from supervision.escrow import confirm_consumption, dispute_consumption

    ids = [w.paid_enrollment(client, student=f"丙{i}")["id"] for i in range(3)]
    resp = w.attend(client, ids)
    assert resp.status_code == 201
    rows = [db.get(Consumption, r["id"]) for r in resp.json["consumptions"]]
    assert resp.json == AttendanceOut().dump({"consumptions": rows})
    parent = w.as_(w.parent)
    confirm_consumption(parent, w.actor(w.parent), rows[1].id,  # type: ignore[union-attr]
                        as_of=clock.local_now())
    dispute_consumption(parent, w.actor(w.parent), rows[2].id,  # type: ignore[union-attr]
                        reason="请假", as_of=clock.local_now())
    db.expire_all()
    consumptions = [db.get(Consumption, r["id"]) for r in resp.json["consumptions"]]
    assert [c.status for c in consumptions] == [  # type: ignore[union-attr]
        "pending_confirmation", "confirmed", "disputed"]
    assert (attendance_body(consumptions)  # type: ignore[arg-type]
            == AttendanceOut().dump({"consumptions": consumptions}))
