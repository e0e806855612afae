"""Idempotency-Key on money-moving POSTs (API.md §1), and the trustee being unreachable."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from supervision import escrow
from supervision.escrow import confirm_consumption, record_attendance
from supervision.models.escrow import Consumption, Enrollment, Instruction, Refund

from ..support.escrow_world import World, now, world
from ..support.factories import Factory
from ..support.parties import party
from ..support.servers import free_port


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Nobody listens there: the trustee is down (connection refused).
    return {"TRUSTEE_API_URL": f"http://127.0.0.1:{free_port()}", "TRUSTEE_RETRIES": 0,
            "TRUSTEE_TIMEOUT_SECONDS": 1.0}


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def enroll(client: FlaskClient, w: World, key: str, hours: int = 3,
           headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/v1/enrollments",
                       headers={**(headers or w.parent.headers), "Idempotency-Key": key},
                       json={"course_id": w.course.id, "student_name": "小明",
                             "student_grade": 7, "class_hours": hours})


def test_the_same_key_and_body_answer_the_first_response_and_do_nothing_more(
        client: FlaskClient, w: World, db: Session) -> None:
    first = enroll(client, w, "k-1")
    second = enroll(client, w, "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert count(db, Enrollment) == 1


def test_the_same_key_with_another_body_or_endpoint_is_a_conflict(
        client: FlaskClient, w: World, db: Session) -> None:
    first = enroll(client, w, "k-2", hours=3)
    assert enroll(client, w, "k-2", hours=4).status_code == 409
    resp = client.post(f"/api/v1/enrollments/{first.json['id']}/refunds",
                       headers={**w.parent.headers, "Idempotency-Key": "k-2"},
                       json={"reason": "x"})
    assert resp.status_code == 409
    assert count(db, Enrollment) == 1


def test_keys_belong_to_their_principal(client: FlaskClient, w: World, db: Session) -> None:
    assert enroll(client, w, "shared").status_code == 201
    other = party(db, "parent")
    resp = enroll(client, w, "shared", headers=other.headers)
    assert resp.status_code == 201
    assert count(db, Enrollment) == 2


def test_a_refusal_is_remembered_so_a_retry_cannot_turn_it_into_a_success(
        client: FlaskClient, w: World, db: Session) -> None:
    e = w.enroll(client)
    url = f"/api/v1/enrollments/{e['id']}/refunds"
    headers = {**w.parent.headers, "Idempotency-Key": "refund-1"}
    refused = client.post(url, headers=headers, json={"reason": "x"})
    assert refused.status_code == 422 and refused.json["rule"] == "INSUFFICIENT_ESCROW"
    w.pay(e)  # now the same request would succeed...
    retry = client.post(url, headers=headers, json={"reason": "x"})
    assert (retry.status_code, retry.json) == (422, refused.json)  # ...but it is a retry
    assert count(db, Refund) == 0
    fresh = client.post(url, headers={**w.parent.headers, "Idempotency-Key": "refund-2"},
                        json={"reason": "x"})
    assert fresh.status_code == 201


def test_attendance_confirm_and_dispute_replay_too(client: FlaskClient, w: World,
                                                   db: Session) -> None:
    e = w.paid_enrollment(client)
    cls = w.past_session()
    h = {**w.staff.headers, "Idempotency-Key": "att-1"}
    first = client.post(f"/api/v1/sessions/{cls.id}/attendance", headers=h,
                        json={"enrollment_ids": [e["id"]]})
    again = client.post(f"/api/v1/sessions/{cls.id}/attendance", headers=h,
                        json={"enrollment_ids": [e["id"]]})
    assert first.status_code == again.status_code == 201 and first.json == again.json
    cid = first.json["consumptions"][0]["id"]
    ph = {**w.parent.headers, "Idempotency-Key": "conf-1"}
    assert client.post(f"/api/v1/consumptions/{cid}/confirm", headers=ph).status_code == 200
    assert client.post(f"/api/v1/consumptions/{cid}/confirm", headers=ph).status_code == 200
    # Without the key, a second confirmation is the illegal transition it is.
    assert client.post(f"/api/v1/consumptions/{cid}/confirm",
                       headers=w.parent.headers).status_code == 409
    assert count(db, Consumption) == 1
    assert w.escrow(client, e["id"])["confirmed_fen"] == 8000


def test_a_bad_key_is_refused(client: FlaskClient, w: World) -> None:
    assert enroll(client, w, "x" * 201).status_code == 422


def test_with_the_trustee_down_a_release_run_answers_and_its_instructions_stay_pending(
        client: FlaskClient, w: World, db: Session) -> None:
    e = w.paid_enrollment(client)
    [c] = record_attendance(w.as_(w.staff), w.actor(w.staff), session_id=w.past_session().id,
                            enrollment_ids=[e["id"]], class_hours=2, as_of=now())
    confirm_consumption(w.as_(w.parent), w.actor(w.parent), c.id, as_of=now())
    headers = {**w.regulator.headers, "Idempotency-Key": "run-1"}
    resp = client.post("/api/v1/escrow/release-runs", headers=headers)
    assert resp.status_code == 201
    assert [i["status"] for i in resp.json["instructions"]] == ["pending"]
    replay = client.post("/api/v1/escrow/release-runs", headers=headers)
    assert replay.json == resp.json
    assert count(db, Instruction) == 1
    instruction = db.get(Instruction, resp.json["instructions"][0]["id"])
    assert instruction is not None and instruction.attempts == 1


def test_with_the_trustee_down_an_approved_refund_is_instructed_and_pending(
        client: FlaskClient, w: World, db: Session) -> None:
    e = w.paid_enrollment(client)
    refund = client.post(f"/api/v1/enrollments/{e['id']}/refunds", headers=w.parent.headers,
                         json={"reason": "x"}).json
    resp = client.post(f"/api/v1/refunds/{refund['id']}/approve", headers=w.staff.headers)
    assert resp.status_code == 200 and resp.json["status"] == "instructed"
    instruction = db.scalars(select(Instruction).where(
        Instruction.refund_id == refund["id"])).one()
    assert instruction.status == "pending"


def test_another_institutions_enrollment_is_404_for_a_parent_and_for_staff(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    other = world(db, make)
    e = other.paid_enrollment(client)
    for url in (f"/api/v1/enrollments/{e['id']}", f"/api/v1/enrollments/{e['id']}/escrow"):
        assert client.get(url, headers=w.parent.headers).status_code == 404
        assert client.get(url, headers=w.staff.headers).status_code == 404


def test_the_openapi_document_offers_the_key_on_money_moving_posts_only(
        client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]

    def takes_key(path: str, method: str) -> bool:
        params = paths[f"/api/v1{path}"][method].get("parameters", [])
        return any(p.get("name") == "Idempotency-Key" for p in params)

    for path in ("/enrollments", "/sessions/{session_id}/attendance",
                 "/consumptions/{consumption_id}/confirm",
                 "/consumptions/{consumption_id}/dispute",
                 "/enrollments/{enrollment_id}/refunds", "/refunds/{refund_id}/approve",
                 "/refunds/{refund_id}/reject", "/escrow/release-runs"):
        assert takes_key(path, "post"), path
    assert not takes_key("/enrollments", "get")


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlock_is_retried_not_reported_as_a_refusal(
        client: FlaskClient, w: World, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    e = w.paid_enrollment(client)
    real = escrow.record_attendance
    calls = []

    def deadlock_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            real(*args, **kwargs)  # books, then dies: the retry must not book twice
            raise OperationalError("UPDATE ledger_accounts ...", {}, _Deadlock())
        return real(*args, **kwargs)

    monkeypatch.setattr(escrow, "record_attendance", deadlock_once)
    resp = w.attend(client, [e["id"]])
    assert resp.status_code == 201 and len(calls) == 2
    assert count(db, Consumption) == 1
    assert w.escrow(client, e["id"])["pending_confirmation_fen"] == 8000
