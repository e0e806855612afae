"""Deposits reported by the trustee: applied to the enrollment, or booked to suspense."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access.scope import Actor
from ..compliance.flags import raise_flag
from ..errors import Invalid
from ..models.escrow import Deposit, Enrollment
from ..notify import enqueue
from ..wording import yuan
from . import ledger
from .ledger import Move
from .locks import for_update

# deposits.trustee_txn_id is a String(64); a reused id's own key carries this mark.
TXN_ID_MAX = 64
REUSE_MARK = "~reuse~"


def apply_deposit(session: Session, actor: Actor, *, event_id: str, payment_reference: str,
                  amount_fen: int, trustee_txn_id: str, received_at: dt.datetime) -> str:
    """Book a receipt into custody: "applied" to the enrollment it pays for, or "suspense"
    when it cannot be (unknown reference, wrong amount, enrollment already paid): never
    lost, never applied, and flagged FUND_UNMATCHED_DEPOSIT for the regulator.

    The same trustee transaction reported again (under another event id) books nothing and
    answers the first outcome. A transaction id reported again with another reference or
    amount is another receipt, not a repeat: it goes to suspense, flagged (see
    `_book_reused_txn`).
    """
    if amount_fen <= 0:
        raise Invalid.field("amount_fen", "a deposit must be a positive amount of fen")
    seen = session.scalars(select(Deposit).where(
        Deposit.trustee_txn_id == trustee_txn_id)).first()
    if seen is not None:
        if seen.payment_reference == payment_reference[:100] and seen.amount_fen == amount_fen:
            return seen.outcome
        return _book_reused_txn(session, actor, seen, event_id=event_id,
                                payment_reference=payment_reference, amount_fen=amount_fen,
                                received_at=received_at)
    # Locked: of two deposits for one enrollment at once, the second sees it paid.
    enrollment = session.scalars(for_update(select(Enrollment).where(
        Enrollment.payment_reference == payment_reference))).first()
    reason = _refusal(enrollment, amount_fen)
    if reason is not None or enrollment is None:
        return _book_suspense(session, actor, enrollment, reason or "unknown payment reference",
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


def reused_txn_key(trustee_txn_id: str, payment_reference: str, amount_fen: int) -> str:
    """The key a receipt that reuses `trustee_txn_id` is booked under: the trustee's id (cut
    to fit) and a digest of what differs. The same reuse delivered again (another event id,
    same reference and amount) gets the same key, so the unique constraint on
    deposits.trustee_txn_id still books it once, even from two requests at once."""
    digest = hashlib.sha256(
        f"{trustee_txn_id}\x1f{payment_reference}\x1f{amount_fen}".encode()).hexdigest()
    return f"{trustee_txn_id[:TXN_ID_MAX - len(REUSE_MARK) - 16]}{REUSE_MARK}{digest[:16]}"


def _book_reused_txn(session: Session, actor: Actor, first: Deposit, *, event_id: str,
                     payment_reference: str, amount_fen: int, received_at: dt.datetime) -> str:
    """A receipt whose trustee_txn_id another deposit already carries, with another reference
    or amount: the trustee's error or a forged event, never dropped and never applied. It is
    booked to suspense (the institution's when the reference is known) under its own key and
    flagged FUND_UNMATCHED_DEPOSIT; reconciliation then reports that key as missing from the
    statement, which can show the trustee's id only once."""
    txn = first.trustee_txn_id
    key = reused_txn_key(txn, payment_reference, amount_fen)
    again = session.scalars(select(Deposit).where(Deposit.trustee_txn_id == key)).first()
    if again is not None:
        return again.outcome
    enrollment = session.scalars(select(Enrollment).where(
        Enrollment.payment_reference == payment_reference)).first()
    reason_zh = (f"交易流水号 {txn} 被重复使用：已有一笔收款（参考号 {first.payment_reference}，"
                 f"金额{yuan(first.amount_fen)}）用过该流水号")
    return _book_suspense(session, actor, enrollment,
                          f"trustee_txn_id {txn} reused by another receipt", event_id=event_id,
                          payment_reference=payment_reference,
                          amount_fen=amount_fen, trustee_txn_id=key, received_at=received_at,
                          reason_zh=reason_zh,
                          evidence={"reused_trustee_txn_id": txn,
                                    "first_deposit_id": first.id,
                                    "first_payment_reference": first.payment_reference,
                                    "first_amount_fen": first.amount_fen})


def _book_suspense(session: Session, actor: Actor, enrollment: Enrollment | None,
                   reason: str, *,
                   event_id: str, payment_reference: str, amount_fen: int,
                   trustee_txn_id: str, received_at: dt.datetime,
                   reason_zh: str | None = None, evidence: dict[str, Any] | None = None) -> str:
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
    reason_zh = reason_zh or _refusal_zh(enrollment, amount_fen)
    raise_flag(session, actor, rule="FUND_UNMATCHED_DEPOSIT", severity="critical",
               institution_id=institution_id, subject_type="deposit",
               subject_id=trustee_txn_id,
               summary=f"收款{yuan(amount_fen)}无法入账（{reason_zh}），已记入待查账户",
               evidence={"payment_reference": payment_reference, "amount_fen": amount_fen,
                         "trustee_txn_id": trustee_txn_id, "event_id": event_id,
                         "reason": reason_zh,
                         "enrollment_id": enrollment.id if enrollment is not None else None,
                         **(evidence or {})})
    enqueue(session, "escrow.suspense", {
        "institution_id": institution_id, "amount_fen": amount_fen,
        "trustee_txn_id": trustee_txn_id, "reason": reason})
    return "suspense"
