"""POST /api/v1/trustee/events: signed, idempotent by event_id, booked at most once (API.md §6)."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.escrow import trial_balance, verify_ledger
from supervision.escrow.deposits import reused_txn_key
from supervision.models import Flag
from supervision.models.escrow import Deposit, Instruction, LedgerEntry
from supervision.models.trustee import TrusteeEvent

from ..support.factories import Factory
from ..support.parties import acting
from ..support.trustee import (
    EVENTS,
    deposit_event,
    enrollment,
    entries_with_txn,
    executed_event,
    pay,
    release_instruction,
    signed_post,
)


def count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_known_reference_with_the_exact_amount_is_applied(client: FlaskClient, db: Session,
                                                            make: Factory) -> None:
    e = enrollment(db, make, make.institution())
    event = deposit_event(e.payment_reference, e.amount_fen)
    resp = signed_post(client, event)
    assert resp.status_code == 200
    assert resp.json == {"event_id": event["event_id"], "outcome": "applied"}
    db.refresh(e)
    assert e.status == "active"
    assert entries_with_txn(db, event["trustee_txn_id"]) == 2


@pytest.mark.parametrize("case", ["bad signature", "other secret", "stale", "future",
                                  "no timestamp", "no signature", "no headers",
                                  "body changed"])
def test_an_unsigned_or_badly_signed_event_is_401_and_books_nothing(
        client: FlaskClient, db: Session, make: Factory, case: str) -> None:
    e = enrollment(db, make, make.institution())
    event = deposit_event(e.payment_reference, e.amount_fen)
    body = json.dumps(event).encode()
    from supervision.outbound import signed_headers

    headers = signed_headers("dev-only-trustee-secret", body)
    if case == "bad signature":
        headers["X-Supervision-Signature"] = "sha256=" + "0" * 64
    elif case == "other secret":
        headers = signed_headers("not-the-secret", body)
    elif case == "stale":
        headers = signed_headers("dev-only-trustee-secret", body, now=time.time() - 301)
    elif case == "future":
        headers = signed_headers("dev-only-trustee-secret", body, now=time.time() + 301)
    elif case == "no timestamp":
        del headers["X-Supervision-Timestamp"]
    elif case == "no signature":
        del headers["X-Supervision-Signature"]
    elif case == "no headers":
        headers = {"Content-Type": "application/json"}
    elif case == "body changed":
        body = body.replace(str(e.amount_fen).encode(), str(e.amount_fen + 1).encode())
    resp = client.post(EVENTS, data=body, headers=headers)
    assert resp.status_code == 401
    assert resp.json["code"] == 401 and set(resp.json) >= {"status", "message", "errors"}
    assert count(db, TrusteeEvent) == 0 and count(db, Deposit) == 0
    db.refresh(e)
    assert e.status == "awaiting_payment"


def test_a_timestamp_just_inside_the_window_is_accepted(client: FlaskClient, db: Session,
                                                        make: Factory) -> None:
    e = enrollment(db, make, make.institution())
    resp = signed_post(client, deposit_event(e.payment_reference, e.amount_fen),
                       timestamp=time.time() - 290)
    assert resp.status_code == 200


def test_a_replayed_event_answers_200_and_is_booked_once(client: FlaskClient, db: Session,
                                                         make: Factory) -> None:
    e = enrollment(db, make, make.institution())
    event = deposit_event(e.payment_reference, e.amount_fen)
    first = signed_post(client, event)
    # The same event re-serialised (other key order, other spacing) is still the same event.
    again = signed_post(client, None, raw=json.dumps(dict(reversed(event.items())),
                                                     indent=2).encode())
    assert first.json["outcome"] == "applied"
    assert again.status_code == 200
    assert again.json == {"event_id": event["event_id"], "outcome": "duplicate",
                          "original_outcome": "applied"}
    assert entries_with_txn(db, event["trustee_txn_id"]) == 2
    assert count(db, TrusteeEvent) == 1 and count(db, Deposit) == 1


def test_an_event_id_reused_with_another_body_answers_200_and_does_nothing(
        client: FlaskClient, db: Session, make: Factory) -> None:
    inst = make.institution()
    a, b = enrollment(db, make, inst), enrollment(db, make, inst)
    first = deposit_event(a.payment_reference, a.amount_fen)
    other = deposit_event(b.payment_reference, b.amount_fen, event_id=first["event_id"])
    signed_post(client, first)
    resp = signed_post(client, other)
    assert resp.status_code == 200
    assert resp.json["outcome"] == "duplicate_conflict"
    db.refresh(b)
    assert b.status == "awaiting_payment"
    assert entries_with_txn(db, other["trustee_txn_id"]) == 0


@pytest.mark.parametrize("reference, delta, reason", [
    ("SV-NOBODY-PAYS-THIS", 0, "unknown payment reference"),
    (None, 1, "differs"),
    (None, -100, "differs"),
])
def test_an_unknown_reference_or_a_wrong_amount_goes_to_suspense_and_is_flagged(
        client: FlaskClient, db: Session, make: Factory, reference: str | None, delta: int,
        reason: str) -> None:
    e = enrollment(db, make, make.institution())
    event = deposit_event(reference or e.payment_reference, e.amount_fen + delta)
    resp = signed_post(client, event)
    assert resp.json["outcome"] == "suspense"
    db.refresh(e)
    assert e.status == "awaiting_payment"
    deposit = db.scalars(select(Deposit)).one()
    assert deposit.outcome == "suspense" and reason in (deposit.reason or "")
    assert entries_with_txn(db, event["trustee_txn_id"]) == 2  # custody ↔ suspense: never lost
    flag = db.scalars(select(Flag).where(Flag.rule == "FUND_UNMATCHED_DEPOSIT")).one()
    assert flag.severity == "critical" and flag.status == "open"
    # The same unmatched deposit delivered again is neither booked nor flagged twice.
    assert signed_post(client, event).json["outcome"] == "duplicate"
    assert entries_with_txn(db, event["trustee_txn_id"]) == 2
    assert count(db, Flag) == 1


@pytest.mark.parametrize("change", ["another reference", "another amount",
                                    "an unknown reference"])
def test_a_trustee_txn_id_reused_with_another_receipt_goes_to_suspense_flagged_never_dropped(
        client: FlaskClient, db: Session, make: Factory, change: str) -> None:
    inst = make.institution()
    a, b = enrollment(db, make, inst), enrollment(db, make, inst, price=5000)
    first = deposit_event(a.payment_reference, a.amount_fen, txn="TX-REUSED")
    assert signed_post(client, first).json["outcome"] == "applied"
    reference, amount = {"another reference": (b.payment_reference, b.amount_fen),
                         "another amount": (a.payment_reference, a.amount_fen + 100),
                         "an unknown reference": ("SV-NOBODY", 777)}[change]
    reuse = deposit_event(reference, amount, txn="TX-REUSED")
    resp = signed_post(client, reuse)
    assert resp.status_code == 200
    assert resp.json == {"event_id": reuse["event_id"], "outcome": "suspense"}
    # Never applied: b stays unpaid even though its reference and amount are right.
    db.refresh(b)
    assert b.status == "awaiting_payment"
    deposit = db.scalars(select(Deposit).where(Deposit.event_id == reuse["event_id"])).one()
    assert deposit.outcome == "suspense" and deposit.amount_fen == amount
    # Its own key, so the unique trustee_txn_id still means "booked once".
    assert deposit.trustee_txn_id != "TX-REUSED" and deposit.trustee_txn_id.startswith(
        "TX-REUSED")
    suspense = "suspense_unidentified" if change == "an unknown reference" else "suspense"
    entries = db.scalars(select(LedgerEntry).where(LedgerEntry.ref_type == "deposit",
                                                   LedgerEntry.ref_id == deposit.id)).all()
    assert sorted((x.direction, x.account_kind, x.amount_fen) for x in entries) == sorted([
        ("debit", "custody" if suspense == "suspense" else "custody_unidentified", amount),
        ("credit", suspense, amount)])
    assert {x.institution_id for x in entries} == (
        {inst.id} if suspense == "suspense" else {None})
    flag = db.scalars(select(Flag).where(Flag.rule == "FUND_UNMATCHED_DEPOSIT")).one()
    assert flag.severity == "critical" and flag.status == "open"
    assert flag.subject_id == deposit.trustee_txn_id
    assert "交易流水号 TX-REUSED 被重复使用" in flag.summary
    assert "交易流水号 TX-REUSED 被重复使用" in flag.evidence["reason"]
    assert flag.evidence["reused_trustee_txn_id"] == "TX-REUSED"
    assert flag.evidence["payment_reference"] == reference
    with acting(db, SYSTEM):
        assert trial_balance(db, SYSTEM).balanced and verify_ledger(db) == []
    # The same reuse delivered again under yet another event id is booked and flagged once.
    again = deposit_event(reference, amount, txn="TX-REUSED")
    assert signed_post(client, again).json["outcome"] == "suspense"
    assert count(db, Deposit) == 2 and count(db, Flag) == 1
    assert entries_with_txn(db, deposit.trustee_txn_id) == 2
    assert entries_with_txn(db, "TX-REUSED") == 2


def test_the_same_trustee_txn_id_with_the_same_reference_and_amount_is_booked_once(
        client: FlaskClient, db: Session, make: Factory) -> None:
    e = enrollment(db, make, make.institution())
    first = deposit_event(e.payment_reference, e.amount_fen, txn="TX-TWICE")
    assert signed_post(client, first).json["outcome"] == "applied"
    again = deposit_event(e.payment_reference, e.amount_fen, txn="TX-TWICE")
    resp = signed_post(client, again)
    assert resp.json == {"event_id": again["event_id"], "outcome": "applied"}
    assert count(db, Deposit) == 1 and count(db, Flag) == 0
    assert entries_with_txn(db, "TX-TWICE") == 2


def test_a_reused_key_fits_the_column_and_tells_receipts_apart() -> None:
    long_txn = "T" * 64
    keys = {reused_txn_key(long_txn, ref, amount)
            for ref, amount in (("SV-A", 100), ("SV-B", 100), ("SV-A", 101))}
    assert len(keys) == 3
    assert all(len(k) <= 64 and k.startswith("T" * 20) for k in keys)
    assert reused_txn_key(long_txn, "SV-A", 100) == reused_txn_key(long_txn, "SV-A", 100)


@pytest.mark.parametrize("body, field", [
    ({"type": "deposit.received"}, "event_id"),
    ({"event_id": "e1", "type": "payment.teleported"}, "type"),
    ({"event_id": "e1"}, "type"),
    ({**deposit_event("R", 100), "status": "applied"}, "status"),
    ({**deposit_event("R", 100), "amount_fen": "100"}, "amount_fen"),
    ({**deposit_event("R", 100), "amount_fen": 0}, "amount_fen"),
    ({**deposit_event("R", 100), "amount_fen": 10**20}, "amount_fen"),
    ({**deposit_event("R", 100), "received_at": "2026-12-01T10:00:00"}, "received_at"),
    ({**deposit_event("R", 100), "payment_reference": "R\u0000"}, "payment_reference"),
    ({"event_id": "e1", "type": "instruction.executed", "instruction_id": 1,
      "trustee_txn_id": "T", "executed_at": "2026-12-01T10:00:00+08:00", "reason": "x"},
     "reason"),
    ({"event_id": "e1", "type": "instruction.failed", "instruction_id": "abc", "reason": "x"},
     "instruction_id"),
])
def test_a_signed_but_invalid_event_is_422_naming_the_field(
        client: FlaskClient, db: Session, body: dict[str, object], field: str) -> None:
    resp = signed_post(client, body)
    assert resp.status_code == 422
    assert field in resp.json["errors"]
    assert count(db, TrusteeEvent) == 0


def test_malformed_json_that_is_signed_is_400(client: FlaskClient) -> None:
    resp = signed_post(client, None, raw=b'{"event_id": ')
    assert resp.status_code == 400
    assert resp.json["code"] == 400


def test_an_execution_for_an_unknown_instruction_is_422_and_not_recorded(
        client: FlaskClient, db: Session) -> None:
    resp = signed_post(client, executed_event(987654))
    assert resp.status_code == 422
    assert "instruction_id" in resp.json["errors"]
    assert count(db, TrusteeEvent) == 0


def test_an_executed_instruction_is_booked_once_even_under_another_event_id(
        client: FlaskClient, db: Session, make: Factory) -> None:
    inst = make.institution()
    e = enrollment(db, make, inst)
    pay(db, e)
    instruction = release_instruction(db, make, inst, e)
    event = executed_event(instruction.id)
    resp = signed_post(client, event)
    assert resp.json["outcome"] == "executed"
    db.refresh(instruction)
    assert instruction.status == "executed"
    assert instruction.trustee_txn_id == event["trustee_txn_id"]
    booked = entries_with_txn(db, event["trustee_txn_id"])
    assert booked >= 2
    again = signed_post(client, {**executed_event(instruction.id), "trustee_txn_id": "TX-OTHER"})
    assert again.status_code == 200 and again.json["outcome"] == "already_executed"
    failed = signed_post(client, {"event_id": "late-failure", "type": "instruction.failed",
                                  "instruction_id": str(instruction.id), "reason": "late"})
    assert failed.json["outcome"] == "already_executed"
    assert entries_with_txn(db, event["trustee_txn_id"]) == booked
    assert entries_with_txn(db, "TX-OTHER") == 0


def test_a_failed_instruction_returns_the_money_and_a_later_run_instructs_it_again(
        client: FlaskClient, db: Session, make: Factory) -> None:
    inst = make.institution()
    e = enrollment(db, make, inst)
    pay(db, e)
    instruction = release_instruction(db, make, inst, e)
    resp = signed_post(client, {"event_id": "f1", "type": "instruction.failed",
                                "instruction_id": instruction.id, "reason": "账户冻结"})
    assert resp.json == {"event_id": "f1", "outcome": "failed"}
    db.refresh(instruction)
    assert instruction.status == "failed" and instruction.failure_reason == "账户冻结"
    from supervision.escrow import create_release_run

    run = create_release_run(db, SYSTEM)
    again = db.scalars(select(Instruction).where(Instruction.release_run_id == run.id)).one()
    assert again.amount_fen == instruction.amount_fen


def test_the_events_endpoint_takes_no_bearer_token_and_is_documented_as_such(
        client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/trustee/events"]["post"]
    assert operation["security"] == []
    assert "oneOf" in operation["requestBody"]["content"]["application/json"]["schema"]
