"""Refunds: requested (held at once), approved (instructed to the trustee), rejected, completed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.escrow import (
    auto_approve_due,
    instruction_executed,
    instruction_failed,
    verify_ledger,
)
from supervision.escrow.instructions import create_release_run
from supervision.models import Flag
from supervision.models.escrow import Enrollment, Instruction, Refund

from ..support.escrow_world import World, buckets, entries_of, now, world
from ..support.factories import Factory
from ..support.parties import party
from ..support.trustee import accepting_trustee


@pytest.fixture
def settings_overrides(httpserver: HTTPServer) -> dict[str, Any]:
    """A real local HTTP server plays the trustee: instructions are really delivered."""
    return accepting_trustee(httpserver)


@pytest.fixture
def paid(client: FlaskClient, w: World) -> dict[str, Any]:
    return w.paid_enrollment(client, hours=10)  # 40000 fen held


def request_refund(client: FlaskClient, w: World, enrollment_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/enrollments/{enrollment_id}/refunds",
                       headers=w.parent.headers, json={"reason": "搬家了", **body})


def test_a_refund_request_holds_all_refundable_money_by_default(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session) -> None:
    resp = request_refund(client, w, paid["id"])
    assert resp.status_code == 201
    body = resp.json
    assert (body["amount_fen"], body["status"]) == (40000, "requested")
    refund = db.get(Refund, body["id"])
    assert refund is not None
    assert dt.datetime.fromisoformat(body["auto_approve_at"]) > now() + dt.timedelta(days=4)
    status = w.escrow(client, paid["id"])
    # Still held (in custody, unconsumed) but no longer refundable or consumable.
    assert status["held_fen"] == 40000 and status["refundable_fen"] == 0
    resp = w.attend(client, [paid["id"]])
    assert resp.status_code == 422 and resp.json["rule"] == "INSUFFICIENT_ESCROW"


def test_a_partial_refund_leaves_the_rest_consumable(client: FlaskClient, w: World,
                                                     paid: dict[str, Any]) -> None:
    assert request_refund(client, w, paid["id"], amount_fen=30000).status_code == 201
    assert w.escrow(client, paid["id"])["refundable_fen"] == 10000
    assert w.escrow(client, paid["id"])["class_hours"]["remaining"] == 2
    assert w.attend(client, [paid["id"]]).status_code == 201  # 2 hours = 8000
    resp = w.attend(client, [paid["id"]])
    assert resp.status_code == 422 and resp.json["rule"] == "INSUFFICIENT_ESCROW"


def test_asking_more_than_refundable_is_refused(client: FlaskClient, w: World,
                                                paid: dict[str, Any]) -> None:
    resp = request_refund(client, w, paid["id"], amount_fen=40001)
    assert resp.status_code == 422 and resp.json["rule"] == "INSUFFICIENT_ESCROW"
    assert request_refund(client, w, paid["id"], amount_fen=40000).status_code == 201
    resp = request_refund(client, w, paid["id"], amount_fen=1)
    assert resp.status_code == 422 and resp.json["rule"] == "INSUFFICIENT_ESCROW"
    assert request_refund(client, w, paid["id"], amount_fen=0).status_code == 422


def test_nothing_is_refundable_before_payment(client: FlaskClient, w: World) -> None:
    unpaid = w.enroll(client)
    resp = request_refund(client, w, unpaid["id"])
    assert resp.status_code == 422 and resp.json["rule"] == "INSUFFICIENT_ESCROW"


def test_only_the_parent_requests_a_refund_of_its_own_enrollment(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session) -> None:
    stranger = party(db, "parent")
    resp = client.post(f"/api/v1/enrollments/{paid['id']}/refunds", headers=stranger.headers,
                       json={"reason": "x"})
    assert resp.status_code == 404
    for who in (w.staff, w.regulator):
        resp = client.post(f"/api/v1/enrollments/{paid['id']}/refunds", headers=who.headers,
                           json={"reason": "x"})
        assert resp.status_code == 403
    assert request_refund(client, w, paid["id"], reason="").status_code == 422


def test_approval_instructs_the_trustee_before_answering(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session,
        httpserver: HTTPServer) -> None:
    refund_id = request_refund(client, w, paid["id"], amount_fen=10000).json["id"]
    resp = client.post(f"/api/v1/refunds/{refund_id}/approve", headers=w.staff.headers)
    assert resp.status_code == 200
    assert resp.json["status"] == "instructed"
    instruction = db.scalars(select(Instruction).where(Instruction.refund_id == refund_id)).one()
    assert (instruction.kind, instruction.amount_fen, instruction.status) == (
        "refund", 10000, "sent")
    assert instruction.account_no == w.institution.supervised_account_no
    sent = [json.loads(req.get_data()) for req, _ in httpserver.log]
    assert sent == [{"instruction_id": instruction.id, "kind": "refund", "amount_fen": 10000,
                     "account_no": instruction.account_no, "payee": instruction.payee,
                     "memo": instruction.memo}]
    status = w.escrow(client, paid["id"])
    assert (status["held_fen"], status["refund_pending_fen"], status["refundable_fen"]) == (
        30000, 10000, 30000)


def test_an_executed_refund_completes_and_an_emptied_enrollment_is_refunded(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session) -> None:
    refund_id = request_refund(client, w, paid["id"]).json["id"]
    client.post(f"/api/v1/refunds/{refund_id}/approve", headers=w.regulator.headers)
    instruction = db.scalars(select(Instruction).where(Instruction.refund_id == refund_id)).one()
    assert instruction_executed(w.system(), instruction.id, "TX-R1", now()) == "executed"
    refund = client.get(f"/api/v1/refunds/{refund_id}", headers=w.parent.headers).json
    assert refund["status"] == "completed"
    status = w.escrow(client, paid["id"])
    assert buckets(status) == {"held_fen": 0, "pending_confirmation_fen": 0,
                               "confirmed_fen": 0, "released_fen": 0, "refund_pending_fen": 0,
                               "refunded_fen": 40000, "paid_fen": 40000, "refundable_fen": 0}
    enrollment = db.get(Enrollment, paid["id"])
    assert enrollment is not None and enrollment.status == "refunded"
    kinds = {(e.kind, e.account_kind, e.direction, e.trustee_txn_id)
             for e in entries_of(db, "instruction", instruction.id)}
    assert kinds == {("refund", "refund_pending", "debit", "TX-R1"),
                     ("refund", "refunded", "credit", "TX-R1"),
                     ("refund_payout", "refunds_paid", "debit", "TX-R1"),
                     ("refund_payout", "custody", "credit", "TX-R1")}
    summary = client.get(f"/api/v1/escrow/institutions/{w.institution.id}/summary",
                         headers=w.regulator.headers).json
    assert summary["custody_fen"] == 0 and summary["refunded_fen"] == 40000
    assert instruction_executed(w.system(), instruction.id, "TX-R1", now()) == (
        "already_executed")
    assert instruction_failed(w.system(), instruction.id, "late") == "already_executed"
    assert verify_ledger(db) == []


def test_a_failed_refund_instruction_is_instructed_again_by_the_next_run(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session) -> None:
    refund_id = request_refund(client, w, paid["id"], amount_fen=5000).json["id"]
    client.post(f"/api/v1/refunds/{refund_id}/approve", headers=w.staff.headers)
    first = db.scalars(select(Instruction).where(Instruction.refund_id == refund_id)).one()
    assert instruction_failed(w.system(), first.id, "账户已注销") == "failed"
    assert w.escrow(client, paid["id"])["refund_pending_fen"] == 5000
    run = create_release_run(w.as_(w.regulator), w.actor(w.regulator))
    again = db.scalars(select(Instruction).where(Instruction.refund_id == refund_id,
                                                 Instruction.id != first.id)).one()
    assert (again.release_run_id, again.amount_fen, again.status) == (run.id, 5000, "pending")
    assert create_release_run(w.as_(w.regulator), w.actor(w.regulator)).instruction_count == 0
    instruction_executed(w.system(), again.id, "TX-R2", now())
    assert w.escrow(client, paid["id"])["refunded_fen"] == 5000


def test_a_rejection_releases_the_hold_and_flags_the_regulator(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session) -> None:
    refund_id = request_refund(client, w, paid["id"]).json["id"]
    resp = client.post(f"/api/v1/refunds/{refund_id}/reject", headers=w.staff.headers,
                       json={"reason": "已上课"})
    assert resp.status_code == 200
    assert (resp.json["status"], resp.json["reject_reason"]) == ("rejected", "已上课")
    assert w.escrow(client, paid["id"])["refundable_fen"] == 40000
    flag = db.scalars(select(Flag).where(Flag.rule == "REFUND_REJECTED")).one()
    assert (flag.severity, flag.subject_id) == ("medium", str(refund_id))
    assert client.post(f"/api/v1/refunds/{refund_id}/reject", headers=w.staff.headers,
                       json={"reason": "again"}).status_code == 409
    # The institution cannot change its mind; the regulator can overrule it.
    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.staff.headers).status_code == 409
    resp = client.post(f"/api/v1/refunds/{refund_id}/approve", headers=w.regulator.headers)
    assert resp.status_code == 200 and resp.json["status"] == "instructed"
    assert w.escrow(client, paid["id"])["refund_pending_fen"] == 40000


def test_a_regulator_cannot_approve_a_rejected_refund_whose_money_was_consumed(
        client: FlaskClient, w: World, paid: dict[str, Any]) -> None:
    refund_id = request_refund(client, w, paid["id"]).json["id"]
    client.post(f"/api/v1/refunds/{refund_id}/reject", headers=w.staff.headers,
                json={"reason": "no"})
    assert w.attend(client, [paid["id"]]).status_code == 201
    resp = client.post(f"/api/v1/refunds/{refund_id}/approve", headers=w.regulator.headers)
    assert resp.status_code == 422 and resp.json["rule"] == "INSUFFICIENT_ESCROW"
    refund = client.get(f"/api/v1/refunds/{refund_id}", headers=w.parent.headers).json
    assert refund["status"] == "rejected"


def test_illegal_refund_transitions_are_conflicts(client: FlaskClient, w: World,
                                                  paid: dict[str, Any], db: Session) -> None:
    refund_id = request_refund(client, w, paid["id"]).json["id"]
    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.staff.headers).status_code == 200
    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.staff.headers).status_code == 409
    assert client.post(f"/api/v1/refunds/{refund_id}/reject", headers=w.staff.headers,
                       json={"reason": "x"}).status_code == 409
    instruction = db.scalars(select(Instruction).where(Instruction.refund_id == refund_id)).one()
    instruction_executed(w.system(), instruction.id, "TX-9", now())
    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.regulator.headers).status_code == 409


def test_refund_decisions_are_scoped_and_role_bound(client: FlaskClient, w: World,
                                                    paid: dict[str, Any], db: Session,
                                                    make: Factory) -> None:
    refund_id = request_refund(client, w, paid["id"]).json["id"]
    other = world(db, make, district_code="320205")
    district = party(db, "regulator", district_code="320205")
    for headers in (other.staff.headers, district.headers):
        assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                           headers=headers).status_code == 404
    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.parent.headers).status_code == 403
    assert client.post(f"/api/v1/refunds/{refund_id}/reject", headers=w.regulator.headers,
                       json={"reason": "x"}).status_code == 403
    assert client.get(f"/api/v1/refunds/{refund_id}",
                      headers=party(db, "parent").headers).status_code == 404
    listed = client.get(f"/api/v1/refunds?enrollment_id={paid['id']}&status=requested",
                        headers=w.staff.headers).json
    assert [r["id"] for r in listed] == [refund_id]
    assert client.get("/api/v1/refunds", headers=other.staff.headers).json == []


def test_unanswered_requests_are_approved_after_five_working_days(
        client: FlaskClient, w: World, paid: dict[str, Any], db: Session) -> None:
    refund_id = request_refund(client, w, paid["id"]).json["id"]
    refund = db.get(Refund, refund_id)
    assert refund is not None
    assert auto_approve_due(w.system(), SYSTEM,
                            refund.auto_approve_at - dt.timedelta(seconds=1)) == []
    ids = auto_approve_due(w.system(), SYSTEM, refund.auto_approve_at)
    instruction = db.get(Instruction, ids[0])
    assert instruction is not None and instruction.refund_id == refund_id
    db.refresh(refund)
    assert (refund.status, refund.decided_by) == ("instructed", "system:system")
    assert auto_approve_due(w.system(), SYSTEM, refund.auto_approve_at + dt.timedelta(days=9)) == []
