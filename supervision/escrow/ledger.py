"""The double-entry core: accounts, balanced transfers, holds, all in integer fen.

Chart of accounts (credit-normal: what custody owes someone; debit-normal: where money is):
- per enrollment, credit-normal, the six buckets of API.md §4: held, pending_confirmation,
  confirmed, released, refund_pending, refunded. A deposit credits held; every later
  movement of the enrollment's money is a transfer between these six, so
  paid = held + pending_confirmation + confirmed + released + refund_pending + refunded
  holds by construction (and the invariant test checks it against the deposits).
- per institution: custody (debit: money in its supervised trust sub-account), suspense
  (credit: receipts we could not apply), paid_out and refunds_paid (debit: money that left
  custody to the institution or back to parents).
- global: custody_unidentified / suspense_unidentified, for a receipt whose reference names
  no enrollment (so no institution either).
When the trustee pays out, two transfers book it: the enrollment's confirmed → released (or
refund_pending → refunded), and paid_out (or refunds_paid) ← custody.

`book()` is the only writer of balances: it locks every account it touches in one statement
in id order (no deadlock between two bookings), checks the overdraft rule, updates the
counters and writes the entries, all in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import is_postgres
from ..errors import Conflict, RuleViolation
from ..models.base import utcnow
from ..models.escrow import LedgerAccount, LedgerBalances, LedgerHold
from . import pg_batch
from .pg_batch import table

BUCKETS = ("held", "pending_confirmation", "confirmed", "released", "refund_pending",
           "refunded")
INSTITUTION_ACCOUNTS = {"custody": "debit", "suspense": "credit", "paid_out": "debit",
                        "refunds_paid": "debit"}
GLOBAL_ACCOUNTS = {"custody_unidentified": "debit", "suspense_unidentified": "credit"}


def enr(enrollment_id: int, kind: str) -> str:
    return f"enr:{enrollment_id}:{kind}"


def inst(institution_id: int, kind: str) -> str:
    return f"inst:{institution_id}:{kind}"


def glob(kind: str) -> str:
    return f"global:{kind}"


# --- opening accounts ------------------------------------------------------------------------

def _insert_ignoring_existing(session: Session, rows: list[dict[str, Any]]) -> None:
    module: Any = postgresql if is_postgres(session) else sqlite
    stmt = module.insert(LedgerAccount).on_conflict_do_nothing(index_elements=["code"])
    session.execute(stmt, rows)


def open_institution_accounts(session: Session, institution_id: int) -> None:
    """Idempotent, and safe when two transactions open the same accounts at once."""
    _insert_ignoring_existing(session, [
        {"code": inst(institution_id, kind), "kind": kind, "normal": normal,
         "institution_id": institution_id}
        for kind, normal in INSTITUTION_ACCOUNTS.items()])


def open_global_accounts(session: Session) -> None:
    _insert_ignoring_existing(session, [
        {"code": glob(kind), "kind": kind, "normal": normal}
        for kind, normal in GLOBAL_ACCOUNTS.items()])


def open_enrollment_accounts(session: Session, enrollment_id: int, institution_id: int) -> None:
    open_institution_accounts(session, institution_id)
    # In bucket order, so one enrollment's account ids ascend held, pending, confirmed...
    session.execute(insert(LedgerAccount), [
        {"code": enr(enrollment_id, kind), "kind": kind, "normal": "credit",
         "enrollment_id": enrollment_id, "institution_id": institution_id}
        for kind in BUCKETS])


# --- booking ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Transfer:
    """`amount` fen from the debit account to the credit account (by code)."""

    debit: str
    credit: str
    amount: int
    kind: str
    enrollment_id: int | None = None
    institution_id: int | None = None


@dataclass(frozen=True)
class Move(_Transfer):
    """A posted transfer: entries written and balances moved at once."""

    ref_type: str | None = None
    ref_id: int | None = None
    trustee_txn_id: str | None = None


@dataclass(frozen=True)
class NewHold(_Transfer):
    """A pending transfer: counts against the debit account now, posted or voided later."""

    instruction_id: int | None = None
    refund_id: int | None = None


@dataclass(frozen=True)
class Post:
    """Post a pending hold: it becomes a transfer with entries of the given kind."""

    hold: LedgerHold
    kind: str
    ref_type: str | None = None
    ref_id: int | None = None
    trustee_txn_id: str | None = None


@dataclass
class AccountState(LedgerBalances):
    """A locked account's counters, read as plain values: `book()` adds to them in Python to
    check the overdraft rule before one batched UPDATE writes the same deltas."""

    id: int
    code: str
    kind: str
    normal: str
    enrollment_id: int | None
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


@dataclass
class Booked:
    holds: list[LedgerHold] = field(default_factory=list)
    accounts: dict[str, AccountState] = field(default_factory=dict)


class Insufficient(RuleViolation):
    """A transfer or hold would overdraw an account (a refund or consumption of more money
    than the enrollment holds)."""

    def __init__(self, accounts: list[AccountState]) -> None:
        self.accounts = accounts
        self.enrollment_ids = sorted({a.enrollment_id for a in accounts if a.enrollment_id})
        message = "not enough money held in escrow"
        errors = {}
        if self.enrollment_ids:
            message += " for enrollment " + ", ".join(map(str, self.enrollment_ids))
            errors["enrollment_ids"] = [
                f"enrollment {a.enrollment_id}: short of {-a.available} fen"
                for a in accounts if a.enrollment_id]
        super().__init__("INSUFFICIENT_ESCROW", message, errors=errors)


def _state_columns() -> list[Any]:
    """The columns of an AccountState, in its field order."""
    return [LedgerAccount.id, LedgerAccount.code, LedgerAccount.kind, LedgerAccount.normal,
            LedgerAccount.enrollment_id, *(getattr(LedgerAccount, c) for c in pg_batch.COUNTERS)]


def lock_accounts(session: Session, *, codes: Iterable[str] = (),
                  ids: Iterable[int] = ()) -> dict[str, AccountState]:
    """SELECT .. FOR UPDATE, in id order so two bookings never wait on each other in a cycle.
    (SQLite ignores FOR UPDATE; its BEGIN IMMEDIATE already serialises writers.)"""
    codes, ids = sorted(set(codes)), sorted(set(ids))
    stmt = (select(*_state_columns())
            .where(or_(pg_batch.member_of(session, LedgerAccount.code, codes),
                       pg_batch.member_of(session, LedgerAccount.id, ids)))
            .order_by(LedgerAccount.id).with_for_update())
    states = {row.code: AccountState(*row) for row in session.execute(stmt)}
    missing = set(codes) - set(states)
    if missing:
        raise RuntimeError(f"ledger accounts missing: {sorted(missing)}")
    return states


def book(session: Session, *, moves: Sequence[Move] = (), holds: Sequence[NewHold] = (),
         post: Sequence[Post] = (), void: Sequence[LedgerHold] = (),
         touch: Iterable[str] = ()) -> Booked:
    """Apply transfers, new holds and hold resolutions atomically (within the caller's
    transaction). Raises Insufficient before writing any balance if an account would be
    overdrawn, and Conflict if a hold to resolve was already resolved.

    `touch` locks further accounts without changing them, so that the caller may read them
    (returned in Booked.accounts) without a concurrent booking changing them under it.
    """
    now = utcnow()
    _resolve_holds(session, [p.hold for p in post], "posted", now)
    _resolve_holds(session, void, "voided", now)
    resolved = [*(p.hold for p in post), *void]
    by_id = {h.debit_account_id for h in resolved} | {h.credit_account_id for h in resolved}
    codes = {c for m in moves for c in (m.debit, m.credit)}
    codes |= {c for n in holds for c in (n.debit, n.credit)} | set(touch)
    states = lock_accounts(session, codes=codes, ids=by_id)
    code_of = {s.id: s.code for s in states.values()}

    delta: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for m in moves:
        delta[m.debit][0] += m.amount
        delta[m.credit][1] += m.amount
    for n in holds:
        delta[n.debit][2] += n.amount
        delta[n.credit][3] += n.amount
    for p in post:
        d, c = code_of[p.hold.debit_account_id], code_of[p.hold.credit_account_id]
        delta[d][0] += p.hold.amount_fen
        delta[d][2] -= p.hold.amount_fen
        delta[c][1] += p.hold.amount_fen
        delta[c][3] -= p.hold.amount_fen
    for h in void:
        delta[code_of[h.debit_account_id]][2] -= h.amount_fen
        delta[code_of[h.credit_account_id]][3] -= h.amount_fen

    _apply_deltas(session, states, delta)
    booked = Booked(accounts=states)
    booked.holds = _insert_holds(session, holds, states, now)
    _insert_entries(session, states, moves, post, code_of, now)
    return booked


def _resolve_holds(session: Session, holds: Sequence[LedgerHold], status: str,
                   now: Any) -> None:
    """pending → posted | voided, exactly once: the conditional UPDATE is the arbiter when
    two transactions try (the second waits for the first, then matches nothing)."""
    if not holds:
        return
    ids = [h.id for h in holds]
    t = table(LedgerHold)
    result = session.execute(update(t).where(t.c.id.in_(ids), t.c.status == "pending")
                             .values(status=status, resolved_at=now))
    if result.rowcount != len(set(ids)):  # type: ignore[attr-defined]
        raise Conflict("a hold of this operation was already resolved")
    for h in holds:
        session.expire(h, ["status", "resolved_at"])


def _apply_deltas(session: Session, states: dict[str, AccountState],
                  delta: dict[str, list[int]]) -> None:
    overdrawn: list[AccountState] = []
    for code, d in delta.items():
        s = states[code]
        s.debits_posted += d[0]
        s.credits_posted += d[1]
        s.debits_pending += d[2]
        s.credits_pending += d[3]
        if s.available < 0 or min(s.debits_pending, s.credits_pending) < 0:
            overdrawn.append(s)
    if overdrawn:
        raise Insufficient(overdrawn)
    pg_batch.add_counters(session, [(states[code].id, d[0], d[1], d[2], d[3])
                                for code, d in delta.items() if any(d)])


def _insert_holds(session: Session, holds: Sequence[NewHold], states: dict[str, AccountState],
                  now: Any) -> list[LedgerHold]:
    objs = [LedgerHold(kind=h.kind, debit_account_id=states[h.debit].id,
                       credit_account_id=states[h.credit].id, amount_fen=h.amount,
                       status="pending", enrollment_id=h.enrollment_id,
                       institution_id=h.institution_id, instruction_id=h.instruction_id,
                       refund_id=h.refund_id, created_at=now)
            for h in holds]
    if objs:
        session.add_all(objs)
        session.flush()
    return objs


def _insert_entries(session: Session, states: dict[str, AccountState], moves: Sequence[Move],
                    post: Sequence[Post], code_of: dict[int, str], now: Any) -> None:
    rows: list[dict[str, Any]] = []

    def pair(debit: str, credit: str, amount: int, kind: str, enrollment_id: int | None,
             institution_id: int | None, ref_type: str | None, ref_id: int | None,
             trustee_txn_id: str | None) -> None:
        txn = uuid.uuid4().hex
        for code, direction in ((debit, "debit"), (credit, "credit")):
            rows.append({"txn_id": txn, "account_id": states[code].id,
                         "account_kind": states[code].kind, "direction": direction,
                         "amount_fen": amount, "kind": kind, "enrollment_id": enrollment_id,
                         "institution_id": institution_id, "ref_type": ref_type,
                         "ref_id": ref_id, "trustee_txn_id": trustee_txn_id, "at": now})

    for m in moves:
        pair(m.debit, m.credit, m.amount, m.kind, m.enrollment_id, m.institution_id,
             m.ref_type, m.ref_id, m.trustee_txn_id)
    for p in post:
        h = p.hold
        pair(code_of[h.debit_account_id], code_of[h.credit_account_id], h.amount_fen, p.kind,
             h.enrollment_id, h.institution_id, p.ref_type, p.ref_id, p.trustee_txn_id)
    pg_batch.insert_entries(session, rows)


# --- reading ---------------------------------------------------------------------------------

def enrollment_accounts(session: Session, enrollment_ids: Iterable[int]
                        ) -> dict[int, dict[str, AccountState]]:
    """The six bucket accounts of each enrollment, read without locking."""
    ids = sorted(set(enrollment_ids))
    out: dict[int, dict[str, AccountState]] = defaultdict(dict)
    stmt = select(*_state_columns()).where(LedgerAccount.enrollment_id.in_(ids))
    for row in session.execute(stmt):
        state = AccountState(*row)
        out[row.enrollment_id][state.kind] = state
    return out
