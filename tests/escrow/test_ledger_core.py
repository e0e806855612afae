"""The ledger core: balanced transfers, holds resolved once, no overdraft, immutable entries."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from supervision.errors import Conflict
from supervision.escrow import ledger, verify_ledger
from supervision.escrow.ledger import Insufficient, Move, NewHold, Post
from supervision.models.escrow import LedgerAccount, LedgerEntry, LedgerHold

from ..support.escrow_world import World


@pytest.fixture
def eid(client: FlaskClient, w: World) -> int:
    return int(w.paid_enrollment(client, hours=10)["id"])  # 40000 fen held


def state(db: Session, eid: int, kind: str) -> ledger.AccountState:
    return ledger.enrollment_accounts(db, [eid])[eid][kind]


def hold(db: Session, eid: int, amount: int) -> LedgerHold:
    [h] = ledger.book(db, holds=[NewHold(ledger.enr(eid, "held"),
                                         ledger.enr(eid, "refund_pending"), amount,
                                         "refund_request", enrollment_id=eid)]).holds
    return h


def test_a_transfer_writes_two_equal_entries_and_moves_both_balances(
        db: Session, eid: int) -> None:
    ledger.book(db, moves=[Move(ledger.enr(eid, "held"), ledger.enr(eid, "confirmed"), 1500,
                                "test", enrollment_id=eid, ref_type="test", ref_id=1)])
    assert state(db, eid, "held").balance == 38500
    assert state(db, eid, "confirmed").balance == 1500
    entries = db.scalars(select(LedgerEntry).where(LedgerEntry.ref_type == "test")).all()
    assert len({e.txn_id for e in entries}) == 1
    assert sorted((e.direction, e.amount_fen) for e in entries) == [
        ("credit", 1500), ("debit", 1500)]
    assert verify_ledger(db) == []


def test_an_overdraft_is_refused_before_anything_is_written(db: Session, eid: int) -> None:
    with pytest.raises(Insufficient) as info:
        ledger.book(db, moves=[
            Move(ledger.enr(eid, "held"), ledger.enr(eid, "confirmed"), 30000, "test"),
            Move(ledger.enr(eid, "held"), ledger.enr(eid, "confirmed"), 10001, "test")])
    assert info.value.rule == "INSUFFICIENT_ESCROW" and info.value.enrollment_ids == [eid]
    assert state(db, eid, "held").balance == 40000
    assert db.scalars(select(LedgerEntry).where(LedgerEntry.kind == "test")).all() == []


def test_holds_count_against_the_balance_at_once(db: Session, eid: int) -> None:
    hold(db, eid, 25000)
    held = state(db, eid, "held")
    assert (held.balance, held.available) == (40000, 15000)
    with pytest.raises(Insufficient):
        hold(db, eid, 15001)
    with pytest.raises(Insufficient):
        ledger.book(db, moves=[Move(ledger.enr(eid, "held"),
                                    ledger.enr(eid, "pending_confirmation"), 15001, "test")])
    hold(db, eid, 15000)
    assert state(db, eid, "held").available == 0


def test_a_hold_is_posted_or_voided_exactly_once(db: Session, eid: int) -> None:
    posted, voided = hold(db, eid, 1000), hold(db, eid, 2000)
    ledger.book(db, post=[Post(posted, "refund_approval")])
    ledger.book(db, void=[voided])
    for again in ({"post": [Post(posted, "refund_approval")]}, {"void": [posted]},
                  {"post": [Post(voided, "refund_approval")]}, {"void": [voided]}):
        with pytest.raises(Conflict), db.begin_nested():
            ledger.book(db, **again)  # type: ignore[arg-type]
    held, pending = state(db, eid, "held"), state(db, eid, "refund_pending")
    assert (held.balance, held.available, held.debits_pending) == (39000, 39000, 0)
    assert (pending.balance, pending.credits_pending) == (1000, 0)
    assert verify_ledger(db) == []


def test_the_database_refuses_a_negative_balance_whatever_the_code_does(
        db: Session, eid: int) -> None:
    held = state(db, eid, "held")
    with pytest.raises(DBAPIError), db.begin_nested():
        db.execute(update(LedgerAccount).where(LedgerAccount.id == held.id)
                   .values(debits_posted=40001))
    with pytest.raises(DBAPIError), db.begin_nested():
        db.execute(update(LedgerAccount).where(LedgerAccount.id == held.id)
                   .values(debits_pending=-1))


def test_ledger_entries_can_be_neither_updated_nor_deleted(db: Session, eid: int) -> None:
    entry = db.scalars(select(LedgerEntry).where(LedgerEntry.enrollment_id == eid)).first()
    assert entry is not None
    for statement in ("UPDATE ledger_entries SET amount_fen = 1 WHERE id = :id",
                      "DELETE FROM ledger_entries WHERE id = :id"):
        with pytest.raises(DBAPIError) as info, db.begin_nested():
            db.execute(text(statement), {"id": entry.id})
        assert "append-only" in str(info.value)
    db.expire(entry)
    assert entry.amount_fen == 40000


@pytest.mark.postgres
def test_postgresql_refuses_truncating_the_entries(db: Session, eid: int) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the TRUNCATE trigger is PostgreSQL's")
    with pytest.raises(DBAPIError), db.begin_nested():
        db.execute(text("TRUNCATE ledger_entries"))


def test_verify_ledger_notices_a_balance_that_disagrees_with_history(
        db: Session, eid: int) -> None:
    held = state(db, eid, "held")
    db.execute(update(LedgerAccount).where(LedgerAccount.id == held.id)
               .values(credits_posted=40001))
    problems = verify_ledger(db)
    assert any(ledger.enr(eid, "held") in p for p in problems)


def test_opening_institution_accounts_twice_changes_nothing(db: Session, w: World) -> None:
    ledger.open_institution_accounts(db, w.institution.id)
    ledger.open_institution_accounts(db, w.institution.id)
    codes = db.scalars(select(LedgerAccount.code).where(
        LedgerAccount.institution_id == w.institution.id,
        LedgerAccount.enrollment_id.is_(None))).all()
    assert sorted(codes) == sorted(ledger.inst(w.institution.id, k)
                                   for k in ledger.INSTITUTION_ACCOUNTS)


def test_the_balances_read_the_same_on_a_row_in_sql_and_on_a_locked_snapshot(
        db: Session) -> None:
    # Pending amounts on the side money comes in (credits on a credit-normal account) are
    # not holds on it: they must not reduce what is available.
    rows = [LedgerAccount(code="test:owed", kind="held", normal="credit", debits_posted=3000,
                          credits_posted=10000, debits_pending=2000, credits_pending=400),
            LedgerAccount(code="test:custody", kind="custody", normal="debit",
                          debits_posted=9000, credits_posted=1000, debits_pending=700,
                          credits_pending=500)]
    db.add_all(rows)
    db.flush()
    expected = {"test:owed": (7000, 2000, 5000), "test:custody": (8000, 500, 7500)}
    a = LedgerAccount
    in_sql = {code: (b, p, v) for code, b, p, v in db.execute(
        select(a.code, a.balance, a.pending_out, a.available).where(a.code.in_(expected)))}
    on_rows = {r.code: (r.balance, r.pending_out, r.available) for r in rows}
    locked = ledger.lock_accounts(db, codes=expected)
    snapshots = {c: (s.balance, s.pending_out, s.available) for c, s in locked.items()}
    assert in_sql == on_rows == snapshots == expected
