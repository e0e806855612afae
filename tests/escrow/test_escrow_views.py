"""The escrow reads: status, trial balance, institution summary, entries; and deposits."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.escrow import apply_deposit, custody_balance
from supervision.models import Flag
from supervision.models.escrow import Deposit, Enrollment, LedgerEntry

from ..support.escrow_world import BUCKETS, World, now, world
from ..support.factories import Factory
from ..support.parties import party


def deposit(w: World, reference: str, amount: int, txn: str) -> str:
    return apply_deposit(w.system(), SYSTEM, event_id=f"e-{txn}", payment_reference=reference,
                         amount_fen=amount, trustee_txn_id=txn, received_at=now())


# --- deposits --------------------------------------------------------------------------------

def test_a_deposit_of_the_exact_amount_activates_the_enrollment(
        client: FlaskClient, w: World, db: Session) -> None:
    e = w.enroll(client, hours=10)
    assert deposit(w, e["payment_reference"], 40000, "TX-A") == "applied"
    status = w.escrow(client, e["id"])
    assert (status["paid_fen"], status["held_fen"], status["refundable_fen"]) == (
        40000, 40000, 40000)
    assert status["class_hours"] == {"purchased": 10, "consumed": 0, "remaining": 10}
    assert status["movements"][0]["kind"] == "deposit"
    assert status["movements"][0]["from"] == "custody"
    assert status["movements"][0]["trustee_txn_id"] == "TX-A"
    enrollment = db.get(Enrollment, e["id"])
    assert enrollment is not None and enrollment.status == "active"
    assert custody_balance(db, w.institution.supervised_account_no) == 40000


@pytest.mark.parametrize(("case", "expected_institution"), [
    ("unknown", False), ("wrong_amount", True), ("already_paid", True)])
def test_an_unmatched_deposit_goes_to_suspense_with_a_critical_flag(
        client: FlaskClient, w: World, db: Session, case: str,
        expected_institution: bool) -> None:
    e = w.enroll(client, hours=10)
    if case == "already_paid":
        deposit(w, e["payment_reference"], 40000, "TX-FIRST")
    reference = "SVNOSUCHREFERENCE" if case == "unknown" else e["payment_reference"]
    amount = 39999 if case == "wrong_amount" else 40000
    assert deposit(w, reference, amount, "TX-ODD") == "suspense"
    flag = db.scalars(select(Flag).where(Flag.rule == "FUND_UNMATCHED_DEPOSIT")).one()
    assert (flag.severity, flag.subject_id) == ("critical", "TX-ODD")
    assert flag.institution_id == (w.institution.id if expected_institution else None)
    held = w.escrow(client, e["id"])["held_fen"]
    assert held == (40000 if case == "already_paid" else 0)
    odd = db.scalars(select(LedgerEntry).where(LedgerEntry.trustee_txn_id == "TX-ODD")).all()
    assert sorted((x.direction, x.account_kind) for x in odd) == (
        [("credit", "suspense"), ("debit", "custody")] if expected_institution
        else [("credit", "suspense_unidentified"), ("debit", "custody_unidentified")])
    if expected_institution:
        summary = client.get(f"/api/v1/escrow/institutions/{w.institution.id}/summary",
                             headers=w.regulator.headers).json
        assert summary["suspense_fen"] == amount
        assert summary["custody_fen"] == amount + held


def test_the_same_trustee_transaction_is_booked_once(client: FlaskClient, w: World,
                                                     db: Session) -> None:
    e = w.enroll(client)
    assert deposit(w, e["payment_reference"], e["amount_fen"], "TX-ONCE") == "applied"
    # The same receipt under another event id (a reused id with another reference or amount
    # is another receipt: tests/test_trustee_events.py).
    again = apply_deposit(w.system(), SYSTEM, event_id="another-event",
                          payment_reference=e["payment_reference"], amount_fen=e["amount_fen"],
                          trustee_txn_id="TX-ONCE", received_at=now())
    assert again == "applied"
    assert db.scalar(select(func.count()).select_from(Deposit)) == 1
    assert w.escrow(client, e["id"])["paid_fen"] == e["amount_fen"]


# --- reads -----------------------------------------------------------------------------------

def test_the_six_buckets_always_add_up_to_what_was_paid(client: FlaskClient,
                                                         w: World) -> None:
    e = w.paid_enrollment(client, hours=10)
    cid = w.attend(client, [e["id"]]).json["consumptions"][0]["id"]
    client.post(f"/api/v1/consumptions/{cid}/confirm", headers=w.parent.headers)
    w.attend(client, [e["id"]], class_hours=1)
    client.post(f"/api/v1/enrollments/{e['id']}/refunds", headers=w.parent.headers,
                json={"reason": "x", "amount_fen": 5000})
    status = client.get(f"/api/v1/enrollments/{e['id']}/escrow", headers=w.parent.headers).json
    assert status["paid_fen"] == sum(status[k] for k in BUCKETS) == 40000
    assert (status["held_fen"], status["pending_confirmation_fen"],
            status["confirmed_fen"], status["refundable_fen"]) == (28000, 4000, 8000, 23000)
    assert status["class_hours"] == {"purchased": 10, "consumed": 3, "remaining": 5}
    assert [m["kind"] for m in status["movements"]] == [
        "deposit", "consumption", "confirmation", "consumption"]


def test_escrow_status_is_for_the_parent_the_institution_and_the_regulator(
        client: FlaskClient, w: World, db: Session) -> None:
    e = w.paid_enrollment(client)
    url = f"/api/v1/enrollments/{e['id']}/escrow"
    for who in (w.parent, w.staff, w.regulator):
        assert client.get(url, headers=who.headers).status_code == 200
    assert client.get(url, headers=party(db, "parent").headers).status_code == 404
    assert client.get("/api/v1/enrollments/999999/escrow",
                      headers=w.regulator.headers).status_code == 404


def test_the_trial_balance_is_balanced_and_totals_accounts_by_kind(
        client: FlaskClient, w: World) -> None:
    e = w.paid_enrollment(client)
    w.attend(client, [e["id"]])
    deposit(w, "SVUNKNOWN", 123, "TX-U")
    resp = client.get("/api/v1/escrow/trial-balance", headers=w.regulator.headers)
    assert resp.status_code == 200
    tb = resp.json
    assert tb["balanced"] is True and tb["debits_fen"] == tb["credits_fen"] > 0
    kinds: dict[str, Any] = {a["kind"]: a for a in tb["accounts"]}
    assert kinds["held"]["balance_fen"] >= 32000
    assert kinds["custody_unidentified"]["balance_fen"] >= 123
    for who in (w.staff, w.parent):
        assert client.get("/api/v1/escrow/trial-balance", headers=who.headers).status_code == 403


def test_the_institution_summary_sums_its_enrollments(client: FlaskClient, w: World,
                                                      db: Session, make: Factory) -> None:
    a = w.paid_enrollment(client, hours=10)
    w.paid_enrollment(client, hours=5, student="小红")
    w.attend(client, [a["id"]])
    url = f"/api/v1/escrow/institutions/{w.institution.id}/summary"
    summary = client.get(url, headers=w.staff.headers).json
    assert summary == {"institution_id": w.institution.id, "paid_fen": 60000,
                       "held_fen": 52000, "pending_confirmation_fen": 8000,
                       "confirmed_fen": 0, "released_fen": 0, "refund_pending_fen": 0,
                       "refunded_fen": 0, "refundable_fen": 52000, "custody_fen": 60000,
                       "suspense_fen": 0}
    assert client.get(url, headers=world(db, make).staff.headers).status_code == 404
    assert client.get(url, headers=w.parent.headers).status_code == 403
    district = party(db, "regulator", district_code="320205")
    assert client.get(url, headers=district.headers).status_code == 404


def test_entries_are_listed_in_order_paginated_and_scoped(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    e = w.paid_enrollment(client)
    w.attend(client, [e["id"]])
    resp = client.get(f"/api/v1/escrow/entries?enrollment_id={e['id']}&page_size=3",
                      headers=w.staff.headers)
    assert resp.status_code == 200
    assert '"total": 4' in resp.headers["X-Pagination"]
    rows = resp.json
    assert [r["kind"] for r in rows] == ["deposit", "deposit", "consumption"]
    assert rows[0]["txn_id"] == rows[1]["txn_id"] and rows[0]["at"].endswith("+08:00")
    assert {r["direction"] for r in rows[:2]} == {"debit", "credit"}
    other = world(db, make)
    assert client.get(f"/api/v1/escrow/entries?enrollment_id={e['id']}",
                      headers=other.staff.headers).json == []
    assert client.get(f"/api/v1/escrow/entries?institution_id={w.institution.id}",
                      headers=w.regulator.headers).json[0]["kind"] == "deposit"
    assert client.get("/api/v1/escrow/entries", headers=w.parent.headers).status_code == 403
    assert client.get("/api/v1/escrow/entries?page_size=101",
                      headers=w.regulator.headers).status_code == 422
