"""Deposits reported by the trustee: applied to the enrollment, or booked to suspense."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..compliance.flags import raise_flag
from ..errors import Invalid
from ..models.escrow import Deposit, Enrollment
from ..notify import enqueue
from ..wording import yuan
from . import ledger
from .ledger import Move
from .rows import for_update


def apply_deposit(session: Session, *, event_id: str, payment_reference: str, amount_fen: int,
                  trustee_txn_id: str, received_at: dt.datetime) -> str:
    """Book a receipt into custody: "applied" to the enrollment it pays for, or "suspense"
    when it cannot be (unknown reference, wrong amount, enrollment already paid): never
    lost, never applied, and flagged FUND_UNMATCHED_DEPOSIT for the regulator.

    The same trustee transaction reported again (under another event id) books nothing and
    answers the first outcome.
    """
    if amount_fen <= 0:
        raise Invalid.field("amount_fen", "a deposit must be a positive amount of fen")
    seen = session.scalars(select(Deposit).where(
        Deposit.trustee_txn_id == trustee_txn_id)).first()
    if seen is not None:
        return seen.outcome
    # Locked: of two deposits for one enrollment at once, the second sees it paid.
    enrollment = session.scalars(for_update(select(Enrollment).where(
        Enrollment.payment_reference == payment_reference))).first()
    reason = _refusal(enrollment, amount_fen)
    if reason is not None or enrollment is None:
        return _book_suspense(session, enrollment, reason or "unknown payment reference",
                              event_id=event_id, payment_reference=payment_reference,
                              amount_fen=amount_fen, trustee_txn_id=trustee_txn_id,
                              received_at=received_at)
    enrollment.status, enrollment.paid_at = "active", received_at
    return _book_applied(session, enrollment, event_id=event_id, amount_fen=amount_fen,
                         trustee_txn_id=trustee_txn_id, received_at=received_at)


def _refusal(enrollment: Enrollment | None, amount_fen: int) -> str | None:
    if enrollment is None:
        return "unknown payment reference"
    if amount_fen != enrollment.amount_fen:
        return f"amount {amount_fen} fen differs from the enrollment's {enrollment.amount_fen}"
    if enrollment.status != "awaiting_payment":
        return "enrollment already paid"
    return None


def _refusal_zh(enrollment: Enrollment | None, amount_fen: int) -> str:
    """_refusal as the regulator reads it in the flag (the deposit keeps the API's wording)."""
    if enrollment is None:
        return "付款参考号无对应报名"
    if amount_fen != enrollment.amount_fen:
        return f"金额{yuan(amount_fen)}与报名应缴{yuan(enrollment.amount_fen)}不符"
    return "该报名已缴费"


def _book_applied(session: Session, enrollment: Enrollment, *, event_id: str, amount_fen: int,
                  trustee_txn_id: str, received_at: dt.datetime) -> str:
    deposit = Deposit(event_id=event_id, trustee_txn_id=trustee_txn_id,
                      payment_reference=enrollment.payment_reference, amount_fen=amount_fen,
                      received_at=received_at, enrollment_id=enrollment.id,
                      institution_id=enrollment.institution_id, outcome="applied")
    session.add(deposit)
    session.flush()
    ledger.book(session, moves=[Move(
        ledger.inst(enrollment.institution_id, "custody"), ledger.enr(enrollment.id, "held"),
        amount_fen, "deposit", enrollment_id=enrollment.id,
        institution_id=enrollment.institution_id, ref_type="deposit", ref_id=deposit.id,
        trustee_txn_id=trustee_txn_id)])
    enqueue(session, "escrow.deposit", {
        "enrollment_id": enrollment.id, "institution_id": enrollment.institution_id,
        "parent_id": enrollment.parent_id, "amount_fen": amount_fen,
        "trustee_txn_id": trustee_txn_id})
    return "applied"


def _book_suspense(session: Session, enrollment: Enrollment | None, reason: str, *,
                   event_id: str, payment_reference: str, amount_fen: int,
                   trustee_txn_id: str, received_at: dt.datetime) -> str:
    institution_id = enrollment.institution_id if enrollment is not None else None
    deposit = Deposit(event_id=event_id, trustee_txn_id=trustee_txn_id,
                      payment_reference=payment_reference[:100], amount_fen=amount_fen,
                      received_at=received_at,
                      enrollment_id=enrollment.id if enrollment is not None else None,
                      institution_id=institution_id, outcome="suspense", reason=reason[:200])
    session.add(deposit)
    session.flush()
    if institution_id is None:
        ledger.open_global_accounts(session)
        debit, credit = ledger.glob("custody_unidentified"), ledger.glob("suspense_unidentified")
    else:
        debit, credit = ledger.inst(institution_id, "custody"), ledger.inst(institution_id,
                                                                            "suspense")
    ledger.book(session, moves=[Move(debit, credit, amount_fen, "suspense",
                                     institution_id=institution_id, ref_type="deposit",
                                     ref_id=deposit.id, trustee_txn_id=trustee_txn_id)])
    reason_zh = _refusal_zh(enrollment, amount_fen)
    raise_flag(session, rule="FUND_UNMATCHED_DEPOSIT", severity="critical",
               institution_id=institution_id, subject_type="deposit",
               subject_id=trustee_txn_id,
               summary=f"收款{yuan(amount_fen)}无法入账（{reason_zh}），已记入待查账户",
               evidence={"payment_reference": payment_reference, "amount_fen": amount_fen,
                         "trustee_txn_id": trustee_txn_id, "event_id": event_id,
                         "reason": reason_zh,
                         "enrollment_id": enrollment.id if enrollment is not None else None})
    enqueue(session, "escrow.suspense", {
        "institution_id": institution_id, "amount_fen": amount_fen,
        "trustee_txn_id": trustee_txn_id, "reason": reason})
    return "suspense"
