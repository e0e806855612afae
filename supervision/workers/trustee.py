"""Instructions out to the trustee (API.md §6), each in its own short transactions.

`deliver_instructions` (after the commit that created them) and `deliver_pending` (the retry
job) claim an instruction with a lease, POST it outside any transaction and record the answer:
never a lock or a transaction held open across the HTTP call.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from .. import outbound
from ..access.scope import SYSTEM
from ..config import Settings
from ..models.base import utcnow
from ..models.escrow import Instruction
from ..models.trustee import InstructionDelivery
from ..unit_of_work import unit_of_work

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Attempt:
    accepted: bool
    status_code: int | None
    error: str | None
    # The trustee could not be reached at all (refused, timed out, 5xx after the retries):
    # the rest of a batch is left for the retry job instead of waiting on each in turn.
    unreachable: bool


def deliver_instructions(session_factory: sessionmaker[Session], settings: Settings,
                         instruction_ids: list[int]) -> None:
    """Hand each still-pending instruction to the trustee; what fails stays pending."""
    _deliver(session_factory, settings, instruction_ids)


def deliver_pending(session_factory: sessionmaker[Session], settings: Settings) -> int:
    """The scheduler's retry job: every pending instruction, including any orphaned by a crash
    between its commit and its delivery; and, once a day by default, any the trustee accepted
    but never answered (sent again under the same Idempotency-Key: it will not pay twice, and
    an instruction it lost is not lost for good). Returns how many the trustee accepted."""
    stale = utcnow() - dt.timedelta(
        seconds=settings.trustee_resend_after_seconds)
    d = InstructionDelivery
    with unit_of_work(session_factory, settings=settings, actor=SYSTEM) as uow:
        session = uow.session
        ids = list(session.scalars(
            select(Instruction.id).outerjoin(d, d.instruction_id == Instruction.id)
            .where(or_(Instruction.status == "pending",
                       and_(Instruction.status == "sent", d.last_attempt_at < stale)))
            .order_by(Instruction.id)))
    return _deliver(session_factory, settings, ids, resend_before=stale)


def _deliver(session_factory: sessionmaker[Session], settings: Settings,
             instruction_ids: list[int], *, resend_before: dt.datetime | None = None) -> int:
    url = settings.trustee_api_url.rstrip("/")
    if not url:
        log.warning("TRUSTEE_API_URL is not set: %d instruction(s) stay pending",
                    len(instruction_ids))
        return 0
    http = outbound.make_session(retries=settings.trustee_retries,
                                 backoff=settings.trustee_backoff_seconds)
    accepted = 0
    try:
        for instruction_id in instruction_ids:
            payload = _claim(session_factory, settings, instruction_id, resend_before)
            if payload is None:
                continue
            attempt = _post(http, settings, url, payload)
            _record(session_factory, settings, instruction_id, attempt)
            accepted += attempt.accepted
            if attempt.unreachable:
                log.warning("trustee unreachable (%s): leaving the rest for the retry job",
                            attempt.error)
                break
    finally:
        http.close()
    return accepted


def lease_seconds(settings: Settings) -> float:
    """Long enough to cover every try of one delivery, with a margin."""
    tries = settings.trustee_retries + 1
    return tries * (settings.trustee_timeout_seconds * 2 + 10.0) + 30.0


def _claim(session_factory: sessionmaker[Session], settings: Settings,
           instruction_id: int, resend_before: dt.datetime | None = None
           ) -> dict[str, Any] | None:
    """Take the lease on a pending instruction (or a sent one last tried before
    `resend_before`); None when there is nothing to send or another deliverer has it."""
    now = utcnow()
    statuses = ("pending", "sent") if resend_before is not None else ("pending",)
    with unit_of_work(session_factory, settings=settings, actor=SYSTEM) as uow:
        session = uow.session
        instruction = session.scalars(select(Instruction).where(
            Instruction.id == instruction_id, Instruction.status.in_(statuses))
            .with_for_update(skip_locked=True)).first()
        if instruction is None:
            return None
        delivery = session.get(InstructionDelivery, instruction_id)
        if delivery is None:
            delivery = InstructionDelivery(instruction_id=instruction_id, attempts=0,
                                           institution_id=instruction.institution_id)
            session.add(delivery)
        elif delivery.claimed_until is not None and delivery.claimed_until > now:
            return None
        if instruction.status == "sent" and not (
                resend_before is not None and delivery.last_attempt_at is not None
                and delivery.last_attempt_at < resend_before):
            return None
        delivery.claimed_until = now + dt.timedelta(seconds=lease_seconds(settings))
        return instruction_body(instruction)


def instruction_body(instruction: Instruction) -> dict[str, Any]:
    """What the trustee receives (API.md §6)."""
    return {"instruction_id": instruction.id, "kind": instruction.kind,
            "amount_fen": instruction.amount_fen, "account_no": instruction.account_no,
            "payee": instruction.payee, "memo": instruction.memo}


def _post(http: requests.Session, settings: Settings, url: str,
          payload: dict[str, Any]) -> Attempt:
    try:
        resp = outbound.signed_request(
            http, "POST", f"{url}/instructions", secret=settings.trustee_secret,
            payload=payload, headers={"Idempotency-Key": str(payload["instruction_id"])},
            timeout=settings.trustee_timeout_seconds)
    except requests.RequestException as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500], True)
    # 409 is the trustee saying it already has this Idempotency-Key: our body for one
    # instruction never changes, so it is the same instruction, accepted earlier.
    if resp.status_code in (200, 201, 202, 409):
        return Attempt(True, resp.status_code, None, False)
    error = f"HTTP {resp.status_code}: {resp.text[:300]}"
    return Attempt(False, resp.status_code, error, resp.status_code >= 500)


def _record(session_factory: sessionmaker[Session], settings: Settings,
            instruction_id: int, attempt: Attempt) -> None:
    now = utcnow()
    with unit_of_work(session_factory, settings=settings, actor=SYSTEM) as uow:
        session = uow.session
        instruction = session.scalars(select(Instruction).where(
            Instruction.id == instruction_id).with_for_update()).one()
        delivery = session.get(InstructionDelivery, instruction_id)
        assert delivery is not None  # created by _claim, never deleted
        delivery.claimed_until = None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = attempt.status_code
        delivery.last_error = attempt.error
        instruction.attempts = (instruction.attempts or 0) + 1
        # The trustee's callback may have resolved it while we waited for the answer.
        if attempt.accepted and instruction.status == "pending":
            instruction.status = "sent"
            instruction.sent_at = now
    if not attempt.accepted:
        log.warning("instruction %s not delivered: %s", instruction_id, attempt.error)
