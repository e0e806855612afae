"""Payment instructions to the trustee: release runs, and the trustee's answers.

An instruction places holds on the money it moves (confirmed → released for a release,
refund_pending → refunded for a refund) the moment it is created, so the money cannot be
instructed twice; the trustee's answer posts the holds (executed) or voids them (failed),
exactly once, and a later run instructs voided money again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from ..access.scope import SYSTEM, Actor, scope_clause, scoped
from ..db import advisory_lock
from ..models import Institution
from ..models.base import utcnow
from ..models.escrow import Enrollment, Instruction, LedgerAccount, LedgerHold, Refund, ReleaseRun
from ..notify import enqueue
from . import ledger
from .ledger import AccountState, Move, NewHold, Post
from .locks import locked_one

IN_CUSTODY = ("held", "pending_confirmation", "confirmed", "refund_pending")


def new_instruction(session: Session, *, kind: str, institution: Institution, amount_fen: int,
                    payee: str, memo: str, refund_id: int | None = None,
                    release_run_id: int | None = None) -> Instruction:
    instruction = Instruction(kind=kind, institution_id=institution.id, refund_id=refund_id,
                              release_run_id=release_run_id, amount_fen=amount_fen,
                              account_no=institution.supervised_account_no, payee=payee[:200],
                              memo=memo[:300], status="pending", attempts=0)
    session.add(instruction)
    session.flush()
    return instruction


def refund_instruction(session: Session, refund: Refund) -> tuple[Instruction, NewHold]:
    """A refund's payment order and the hold it places on refund_pending (the caller books
    the hold together with whatever puts the money there)."""
    enrollment = session.get(Enrollment, refund.enrollment_id)
    institution = session.get(Institution, refund.institution_id)
    assert enrollment is not None and institution is not None  # FKs
    instruction = new_instruction(
        session, kind="refund", institution=institution, amount_fen=refund.amount_fen,
        refund_id=refund.id, payee=f"{enrollment.student_name}家长（原路退回）",
        memo=f"退费 #{refund.id}，报名 #{enrollment.id}，"
             f"付款参考号 {enrollment.payment_reference}")
    hold = NewHold(ledger.enr(enrollment.id, "refund_pending"), ledger.enr(enrollment.id,
                                                                           "refunded"),
                   refund.amount_fen, "refund_payout", enrollment_id=enrollment.id,
                   institution_id=refund.institution_id, instruction_id=instruction.id,
                   refund_id=refund.id)
    return instruction, hold


# --- release runs ----------------------------------------------------------------------------

def create_release_run(session: Session, actor: Actor) -> ReleaseRun:
    """One release instruction per institution for its confirmed money not yet instructed,
    plus a new instruction for each refund whose last one failed. Running it again at once
    creates nothing. Suspended or revoked institutions are not paid: their money stays
    confirmed, in custody, until the regulator reinstates them (or instructs refunds)."""
    # Release runs are rare: one at a time, so two never both instruct the same money.
    advisory_lock(session, "escrow.release_run")
    run = ReleaseRun(actor=actor.label, instruction_count=0, total_fen=0)
    session.add(run)
    session.flush()
    holds: list[NewHold] = []
    instructions: list[Instruction] = []
    for institution, items in _releasable(session, actor).items():
        amount = sum(available for _, available in items)
        instruction = new_instruction(session, kind="release", institution=institution,
                                      amount_fen=amount, payee=institution.name,
                                      memo=f"课消拨付 第{run.id}批", release_run_id=run.id)
        instructions.append(instruction)
        holds += [NewHold(ledger.enr(eid, "confirmed"), ledger.enr(eid, "released"), available,
                          "release", enrollment_id=eid, institution_id=institution.id,
                          instruction_id=instruction.id)
                  for eid, available in items]
    for refund in _refunds_to_reinstruct(session, actor):
        instruction, hold = refund_instruction(session, refund)
        instruction.release_run_id = run.id
        instructions.append(instruction)
        holds.append(hold)
    ledger.book(session, holds=holds)
    run.instruction_count = len(instructions)
    run.total_fen = sum(i.amount_fen for i in instructions)
    session.flush()
    return run


def _releasable(session: Session, actor: Actor) -> dict[Institution, list[tuple[int, int]]]:
    a = LedgerAccount
    stmt = (select(a.enrollment_id, a.institution_id, a.available)
            .join(Institution, Institution.id == a.institution_id)
            .where(a.kind == "confirmed", a.available > 0, Institution.status == "active",
                   scope_clause(actor, a))
            .order_by(a.institution_id, a.enrollment_id))
    by_institution: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for enrollment_id, institution_id, amount in session.execute(stmt):
        assert enrollment_id is not None and institution_id is not None  # kind == confirmed
        by_institution[institution_id].append((enrollment_id, int(amount)))
    institutions = {i.id: i for i in session.scalars(
        select(Institution).where(Institution.id.in_(list(by_institution))))}
    return {institutions[iid]: items for iid, items in by_institution.items()}


def _refunds_to_reinstruct(session: Session, actor: Actor) -> list[Refund]:
    live = exists().where(Instruction.refund_id == Refund.id,
                          Instruction.status.in_(("pending", "sent", "executed")))
    return list(session.scalars(
        scoped(select(Refund), actor, Refund)
        .where(Refund.status == "instructed", ~live).order_by(Refund.id)))


def run_instructions(session: Session, run: ReleaseRun) -> list[Instruction]:
    return list(session.scalars(select(Instruction).where(
        Instruction.release_run_id == run.id).order_by(Instruction.id)))


# --- the trustee's answers -------------------------------------------------------------------

def _claim(session: Session, instruction_id: int, **values: Any) -> str | None:
    """pending|sent → executed|failed, once, under the instruction's row lock. None if this
    call made the change, else the status it found."""
    # The trustee answers about the system's own instructions, whoever relays the answer.
    instruction = locked_one(session, SYSTEM, Instruction, instruction_id)
    if instruction.status not in ("pending", "sent"):
        return instruction.status
    for name, value in values.items():
        setattr(instruction, name, value)
    session.flush()
    return None


def instruction_executed(session: Session, instruction_id: int, trustee_txn_id: str,
                         executed_at: dt.datetime) -> str:
    """Post the instruction's holds and book the money out of custody. Returns "executed",
    or "already_executed" / "already_failed" when it was resolved before (nothing done)."""
    found = _claim(session, instruction_id, status="executed", trustee_txn_id=trustee_txn_id,
                   executed_at=executed_at)
    if found is not None:
        return f"already_{found}"
    instruction = session.get(Instruction, instruction_id)
    assert instruction is not None
    holds = _pending_holds(session, instruction_id)
    release = instruction.kind == "release"
    ref: dict[str, Any] = {"ref_type": "instruction", "ref_id": instruction.id,
                           "trustee_txn_id": trustee_txn_id}
    payout = Move(ledger.inst(instruction.institution_id, "paid_out" if release
                              else "refunds_paid"),
                  ledger.inst(instruction.institution_id, "custody"), instruction.amount_fen,
                  "payout" if release else "refund_payout",
                  institution_id=instruction.institution_id, **ref)
    enrollment_ids = sorted({h.enrollment_id for h in holds if h.enrollment_id})
    booked = ledger.book(
        session, moves=[payout], post=[Post(h, "release" if release else "refund", **ref)
                                       for h in holds],
        touch=[ledger.enr(e, k) for e in enrollment_ids for k in ledger.BUCKETS])
    refund = session.get(Refund, instruction.refund_id) if instruction.refund_id else None
    if refund is not None and refund.status == "instructed":
        refund.status, refund.completed_at = "completed", executed_at
    _close_finished(session, booked.accounts, enrollment_ids, executed_at)
    session.flush()
    enqueue(session, f"escrow.{instruction.kind}", {
        "instruction_id": instruction.id, "institution_id": instruction.institution_id,
        "refund_id": instruction.refund_id, "amount_fen": instruction.amount_fen,
        "status": "executed", "trustee_txn_id": trustee_txn_id})
    return "executed"


def _pending_holds(session: Session, instruction_id: int) -> list[LedgerHold]:
    return list(session.scalars(select(LedgerHold).where(
        LedgerHold.instruction_id == instruction_id, LedgerHold.status == "pending")
        .order_by(LedgerHold.id)))


def _close_finished(session: Session, accounts: dict[str, AccountState],
                    enrollment_ids: list[int], at: dt.datetime) -> None:
    """An enrollment none of whose money is left in custody (nor held for anything) is over:
    refunded if a refund ended it, completed otherwise."""
    for eid in enrollment_ids:
        buckets = {k: accounts[ledger.enr(eid, k)] for k in ledger.BUCKETS}
        if any(buckets[k].balance for k in IN_CUSTODY) or any(
                b.debits_pending or b.credits_pending for b in buckets.values()):
            continue
        enrollment = session.get(Enrollment, eid)
        if enrollment is not None and enrollment.status == "active":
            enrollment.status = "refunded" if buckets["refunded"].balance else "completed"
            enrollment.closed_at = at


def instruction_failed(session: Session, instruction_id: int, reason: str) -> str:
    """Void the instruction's holds: the money is back where it was, and a later release run
    instructs it again. Returns "failed", or "already_executed" / "already_failed"."""
    found = _claim(session, instruction_id, status="failed", failed_at=utcnow(),
                   failure_reason=reason[:500])
    if found is not None:
        return f"already_{found}"
    instruction = session.get(Instruction, instruction_id)
    assert instruction is not None
    ledger.book(session, void=_pending_holds(session, instruction_id))
    enqueue(session, "escrow.instruction_failed", {
        "instruction_id": instruction.id, "kind": instruction.kind,
        "institution_id": instruction.institution_id, "refund_id": instruction.refund_id,
        "amount_fen": instruction.amount_fen, "reason": reason[:500]})
    return "failed"


def instructions_query(session: Session, actor: Actor, *, kind: str | None = None,
                       status: str | None = None,
                       institution_id: int | None = None) -> Select[tuple[Instruction]]:
    stmt = scoped(select(Instruction), actor, Instruction).order_by(
        Instruction.id.desc())
    if kind is not None:
        stmt = stmt.where(Instruction.kind == kind)
    if status is not None:
        stmt = stmt.where(Instruction.status == status)
    if institution_id is not None:
        stmt = stmt.where(Instruction.institution_id == institution_id)
    return stmt
