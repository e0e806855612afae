"""Helpers of the reliability and fault tests: is the money still right, did anything change.

`money_problems` reads the books through the services only (trial balance, ledger audit,
escrow status of every enrollment) and lists every broken invariant; `row_counts` is a
fingerprint of every table, to prove a refused request wrote nothing at all.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.escrow import escrow_status, trial_balance, verify_ledger
from supervision.models import Base
from supervision.models.escrow import Consumption, Enrollment, Instruction, LedgerHold, Refund

BUCKETS = ("held_fen", "pending_confirmation_fen", "confirmed_fen", "released_fen",
           "refund_pending_fen", "refunded_fen")
IN_CUSTODY = ("held", "pending_confirmation", "confirmed", "refund_pending", "suspense",
              "suspense_unidentified")


def row_counts(session: Session) -> dict[str, int]:
    """Rows in every table of the models (an update is seen too: it writes an audit row)."""
    return {table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables}


def _sum_by_enrollment(session: Session, model: Any, status: str) -> dict[int, int]:
    rows = session.execute(select(model.enrollment_id, func.sum(model.amount_fen))
                           .where(model.status == status).group_by(model.enrollment_id))
    return {eid: int(total) for eid, total in rows}


def money_problems(session: Session) -> list[str]:
    """Every broken money invariant, read as the system actor through the services:
    the trial balance is zero and covers custody, the stored balances agree with the entries,
    and each enrollment's paid = held + pending + confirmed + released + refund_pending +
    refunded with no bucket negative and no more released than confirmed consumption."""
    previous = session.info.get("actor")
    session.info["actor"] = SYSTEM
    try:
        problems = list(verify_ledger(session))
        trial = trial_balance(session, SYSTEM)
        if not trial.balanced:
            problems.append(f"trial balance off: {trial.debits_fen} != {trial.credits_fen}")
        by_kind = {a["kind"]: a["balance_fen"] for a in trial.accounts}
        custody = by_kind.get("custody", 0) + by_kind.get("custody_unidentified", 0)
        in_custody = sum(by_kind.get(k, 0) for k in IN_CUSTODY)
        if custody != in_custody:
            problems.append(f"custody {custody} != money owed from custody {in_custody}")
        if by_kind.get("paid_out", 0) != by_kind.get("released", 0):
            problems.append("paid out to institutions != released")
        confirmed = _sum_by_enrollment(session, Consumption, "confirmed")
        for eid in session.scalars(select(Enrollment.id).order_by(Enrollment.id)):
            status = escrow_status(session, SYSTEM, eid)
            values = {b: getattr(status, b) for b in BUCKETS}
            if status.paid_fen != sum(values.values()):
                problems.append(f"enrollment {eid}: paid {status.paid_fen} != {values}")
            if min(values.values()) < 0 or status.refundable_fen < 0:
                problems.append(f"enrollment {eid}: a negative bucket {values}")
            if status.released_fen > confirmed.get(eid, 0):
                problems.append(f"enrollment {eid}: released {status.released_fen} > "
                                f"confirmed consumption {confirmed.get(eid, 0)}")
        problems += _holds_match_their_owners(session)
        return problems
    finally:
        session.info["actor"] = previous


def _holds_match_their_owners(session: Session) -> list[str]:
    """Open holds are exactly those of requested refunds and of undecided instructions."""
    by_refund: dict[int, int] = defaultdict(int)
    by_instruction: dict[int, int] = defaultdict(int)
    for kind, refund_id, instruction_id, amount in session.execute(
            select(LedgerHold.kind, LedgerHold.refund_id, LedgerHold.instruction_id,
                   LedgerHold.amount_fen).where(LedgerHold.status == "pending")):
        if kind == "refund_request":
            assert refund_id is not None
            by_refund[refund_id] += amount
        else:
            assert instruction_id is not None
            by_instruction[instruction_id] += amount
    requested = {rid: amount for rid, amount in session.execute(
        select(Refund.id, Refund.amount_fen).where(Refund.status == "requested"))}
    undecided = {iid: amount for iid, amount in session.execute(
        select(Instruction.id, Instruction.amount_fen)
        .where(Instruction.status.in_(("pending", "sent"))))}
    problems = []
    if dict(by_refund) != requested:
        problems.append(f"refund holds {dict(by_refund)} != requested refunds {requested}")
    if dict(by_instruction) != undecided:
        problems.append(f"instruction holds {dict(by_instruction)} != undecided {undecided}")
    return problems
