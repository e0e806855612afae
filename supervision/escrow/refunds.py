"""Refunds of unconsumed money: requested (held at once), approved (instructed), rejected."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, get_in_scope, policy_of, scoped
from ..compliance.flags import raise_flag
from ..errors import Conflict, RuleViolation
from ..models.escrow import Enrollment, Instruction, LedgerHold, Refund
from ..notify import enqueue
from ..wording import yuan
from . import ledger
from .consumption import working_days_later
from .instructions import refund_instruction
from .ledger import Move, NewHold, Post
from .locks import locked_one


def request_refund(session: Session, actor: Actor, enrollment_id: int, *, reason: str,
                   amount_fen: int | None, as_of: dt.datetime) -> Refund:
    """Hold the amount at once (later attendance cannot consume it). Default: everything
    refundable. More than refundable → INSUFFICIENT_ESCROW."""
    enrollment = get_in_scope(session, actor, Enrollment, enrollment_id)
    held_code = ledger.enr(enrollment.id, "held")
    # Lock before reading: "all that is refundable" must not change between read and hold.
    refundable = ledger.lock_accounts(session, codes=[held_code])[held_code].available
    amount = refundable if amount_fen is None else amount_fen
    if enrollment.status != "active" or amount <= 0 or amount > refundable:
        raise RuleViolation("INSUFFICIENT_ESCROW",
                            f"refundable now: {refundable} fen (enrollment {enrollment.status})",
                            errors={"amount_fen": [f"at most {refundable}"]})
    days = int(policy_of(session)["rules"]["refund_auto_approve_working_days"])
    refund = Refund(enrollment_id=enrollment.id, institution_id=enrollment.institution_id,
                    parent_id=enrollment.parent_id, amount_fen=amount, reason=reason,
                    status="requested", requested_at=as_of,
                    auto_approve_at=working_days_later(session, as_of, days))
    session.add(refund)
    session.flush()
    ledger.book(session, holds=[NewHold(
        held_code, ledger.enr(enrollment.id, "refund_pending"), amount, "refund_request",
        enrollment_id=enrollment.id, institution_id=enrollment.institution_id,
        refund_id=refund.id)])
    enqueue(session, "escrow.refund", _payload(refund))
    return refund


def _payload(refund: Refund) -> dict[str, Any]:
    return {"refund_id": refund.id, "enrollment_id": refund.enrollment_id,
            "institution_id": refund.institution_id, "parent_id": refund.parent_id,
            "amount_fen": refund.amount_fen, "status": refund.status}


def _decide(refund: Refund, status: str, actor: Actor, as_of: dt.datetime,
            **values: Any) -> None:
    refund.status, refund.decided_at, refund.decided_by = status, as_of, actor.label
    for name, value in values.items():
        setattr(refund, name, value)


def _request_hold(session: Session, refund: Refund) -> LedgerHold:
    return session.scalars(select(LedgerHold).where(
        LedgerHold.refund_id == refund.id, LedgerHold.kind == "refund_request",
        LedgerHold.status == "pending")).one()


def approve_refund(session: Session, actor: Actor, refund_id: int, *,
                   as_of: dt.datetime) -> Instruction:
    """requested → instructed (the institution, the regulator, or the 5-day auto-approval);
    rejected → instructed by a regulator, if the money is still held. Returns the refund
    instruction, to be delivered to the trustee after the commit. The refund row is locked:
    of two concurrent decisions the second sees the first's outcome and gets a 409."""
    refund = locked_one(session, actor, Refund, refund_id)
    overrulable = actor.role in ("regulator", "system")
    if refund.status == "requested":
        to_refund_pending: dict[str, Any] = {"post": [Post(
            _request_hold(session, refund), "refund_approval", ref_type="refund",
            ref_id=refund.id)]}
    elif refund.status == "rejected" and overrulable:
        # The hold was voided at rejection: take the money again, if attendance has not.
        to_refund_pending = {"moves": [Move(
            ledger.enr(refund.enrollment_id, "held"),
            ledger.enr(refund.enrollment_id, "refund_pending"), refund.amount_fen,
            "refund_approval", enrollment_id=refund.enrollment_id,
            institution_id=refund.institution_id, ref_type="refund", ref_id=refund.id)]}
    else:
        raise Conflict(f"a {refund.status} refund cannot be approved"
                       + ("" if overrulable else " by the institution"))
    _decide(refund, "instructed", actor, as_of)
    instruction, payout_hold = refund_instruction(session, refund)
    ledger.book(session, holds=[payout_hold], **to_refund_pending)
    enqueue(session, "escrow.refund", _payload(refund))
    session.flush()
    return instruction


def reject_refund(session: Session, actor: Actor, refund_id: int, *, reason: str,
                  as_of: dt.datetime) -> Refund:
    """requested → rejected: the hold is voided (the money may be consumed again) and the
    regulator gets a REFUND_REJECTED flag; it may still approve the refund."""
    refund = locked_one(session, actor, Refund, refund_id)
    if refund.status != "requested":
        raise Conflict(f"a {refund.status} refund cannot be rejected")
    _decide(refund, "rejected", actor, as_of, reject_reason=reason)
    ledger.book(session, void=[_request_hold(session, refund)])
    raise_flag(session, actor, rule="REFUND_REJECTED", severity="medium",
               institution_id=refund.institution_id, subject_type="refund",
               subject_id=refund.id,
               summary=f"机构拒绝退费申请（{yuan(refund.amount_fen)}）",
               evidence={"refund_id": refund.id, "enrollment_id": refund.enrollment_id,
                         "amount_fen": refund.amount_fen, "reason": reason,
                         "parent_reason": refund.reason},
               at=as_of)
    enqueue(session, "escrow.refund", _payload(refund))
    session.flush()
    return refund


def auto_approve_due(session: Session, actor: Actor, as_of: dt.datetime) -> list[int]:
    """The scheduler's job: approve requests unanswered past auto_approve_at. Returns the
    refund instructions created, for delivery after the commit."""
    due = list(session.scalars(
        select(Refund.id).where(Refund.status == "requested", Refund.auto_approve_at <= as_of)
        .order_by(Refund.id).with_for_update(skip_locked=True)))
    return [approve_refund(session, actor, refund_id, as_of=as_of).id for refund_id in due]


def refunds_query(session: Session, actor: Actor, *, enrollment_id: int | None = None,
                  status: str | None = None) -> Select[tuple[Refund]]:
    stmt = scoped(select(Refund), actor, Refund).order_by(Refund.id.desc())
    if enrollment_id is not None:
        stmt = stmt.where(Refund.enrollment_id == enrollment_id)
    if status is not None:
        stmt = stmt.where(Refund.status == status)
    return stmt
