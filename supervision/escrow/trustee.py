"""The trustee, both ways (API.md §6): signed events in, instructions out.

Inbound: `check_signature` then `handle_event` (a repeated event_id does nothing again).
Outbound: `deliver_instructions` / `deliver_pending` hand instructions to the trustee, each in
its own short transactions, never holding a lock or a transaction open across the HTTP call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .. import outbound
from ..access.scope import SYSTEM, Actor
from ..db import transaction
from ..errors import Invalid, Unauthenticated
from ..models.base import utcnow
from ..models.escrow import Instruction
from ..models.trustee import InstructionDelivery, TrusteeEvent
from .deposits import apply_deposit
from .instructions import instruction_executed, instruction_failed

log = logging.getLogger(__name__)

# Who the audit trail names for what a trustee event changes.
TRUSTEE = Actor(principal_id=None, role="trustee", name="trustee")

RESOLVED = ("executed", "failed")


# --- inbound ---------------------------------------------------------------------------------

def check_signature(settings: dict[str, Any], timestamp: str | None, signature: str | None,
                    body: bytes, *, now: float | None = None) -> None:
    """401 unless `body` was signed with the trustee secret within the window (API.md §6)."""
    ok = outbound.verify(str(settings["TRUSTEE_SECRET"]), timestamp, signature, body,
                         window_seconds=int(settings["TRUSTEE_SIGNATURE_WINDOW_SECONDS"]),
                         now=now)
    if not ok:
        raise Unauthenticated("missing, stale or bad trustee signature")


def body_hash(payload: Any) -> str:
    """SHA-256 of the canonical JSON: a re-serialised retry (other key order, other spacing)
    of the same event is still the same event."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class EventResult:
    event_id: str
    outcome: str
    original_outcome: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"event_id": self.event_id, "outcome": self.outcome}
        if self.original_outcome is not None:
            out["original_outcome"] = self.original_outcome
        return out


def handle_event(session: Session, event: dict[str, Any], *,
                 payload: dict[str, Any]) -> EventResult:
    """Record the event and apply its effect once, in the caller's transaction.

    `event` is the validated body (datetimes parsed), `payload` the body as received (stored,
    and hashed to tell a replay from an event_id reused for something else).
    """
    event_id = event["event_id"]
    digest = body_hash(payload)
    seen = _find_event(session, event_id)
    if seen is not None:
        return _replay(seen, digest)
    row = TrusteeEvent(event_id=event_id, type=event["type"], body_hash=digest,
                       payload=payload, received_at=utcnow(), outcome="received")
    try:
        # The savepoint keeps the request's transaction usable when a concurrent delivery of
        # the same event committed first: on PostgreSQL our INSERT waits for it, then fails.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        seen = _find_event(session, event_id)
        if seen is None:
            raise
        return _replay(seen, digest)
    row.outcome = _apply(session, event)
    session.flush()
    return EventResult(event_id, row.outcome)


def _find_event(session: Session, event_id: str) -> TrusteeEvent | None:
    return session.scalars(select(TrusteeEvent).where(TrusteeEvent.event_id == event_id)).first()


def _replay(seen: TrusteeEvent, digest: str) -> EventResult:
    if seen.body_hash != digest:
        # Answered 200 like any repeat (API.md: a repeated event_id → 200, nothing done), but
        # told apart so the trustee's operators can see they reused an id; nothing is applied.
        log.warning("trustee event %s repeated with a different body; ignored", seen.event_id)
        return EventResult(seen.event_id, "duplicate_conflict", seen.outcome)
    return EventResult(seen.event_id, "duplicate", seen.outcome)


def _apply(session: Session, event: dict[str, Any]) -> str:
    kind = event["type"]
    if kind == "deposit.received":
        return apply_deposit(
            session, event_id=event["event_id"], payment_reference=event["payment_reference"],
            amount_fen=event["amount_fen"], trustee_txn_id=event["trustee_txn_id"],
            received_at=event["received_at"])
    instruction = session.scalars(select(Instruction).where(
        Instruction.id == event["instruction_id"]).with_for_update()).first()
    if instruction is None:
        # 422 and nothing recorded (the event row rolls back with the request): the trustee
        # may deliver it again once the instruction is known.
        raise Invalid.field("instruction_id", "unknown instruction")
    if instruction.status in RESOLVED:
        return f"already_{instruction.status}"
    # Each resolves the instruction's holds once and says so ("executed" | "already_...").
    if kind == "instruction.executed":
        return instruction_executed(session, instruction.id, event["trustee_txn_id"],
                                               event["executed_at"])
    return instruction_failed(session, instruction.id, event["reason"])


# --- outbound --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    accepted: bool
    status_code: int | None
    error: str | None
    # The trustee could not be reached at all (refused, timed out, 5xx after the retries):
    # the rest of a batch is left for the retry job instead of waiting on each in turn.
    unreachable: bool


def deliver_instructions(session_factory: sessionmaker[Session], settings: dict[str, Any],
                         instruction_ids: list[int]) -> None:
    """Hand each still-pending instruction to the trustee; what fails stays pending."""
    _deliver(session_factory, settings, instruction_ids)


def deliver_pending(session_factory: sessionmaker[Session], settings: dict[str, Any]) -> int:
    """The scheduler's retry job: every pending instruction, including any orphaned by a crash
    between its commit and its delivery; and, once a day by default, any the trustee accepted
    but never answered (sent again under the same Idempotency-Key: it will not pay twice, and
    an instruction it lost is not lost for good). Returns how many the trustee accepted."""
    stale = utcnow() - dt.timedelta(
        seconds=float(settings.get("TRUSTEE_RESEND_AFTER_SECONDS", 86400)))
    d = InstructionDelivery
    with transaction(session_factory, settings=settings, actor=SYSTEM) as session:
        ids = list(session.scalars(
            select(Instruction.id).outerjoin(d, d.instruction_id == Instruction.id)
            .where(or_(Instruction.status == "pending",
                       and_(Instruction.status == "sent", d.last_attempt_at < stale)))
            .order_by(Instruction.id)))
    return _deliver(session_factory, settings, ids, resend_before=stale)


def _deliver(session_factory: sessionmaker[Session], settings: dict[str, Any],
             instruction_ids: list[int], *, resend_before: dt.datetime | None = None) -> int:
    url = str(settings.get("TRUSTEE_API_URL") or "").rstrip("/")
    if not url:
        log.warning("TRUSTEE_API_URL is not set: %d instruction(s) stay pending",
                    len(instruction_ids))
        return 0
    http = outbound.make_session(retries=int(settings.get("TRUSTEE_RETRIES", 2)),
                                 backoff=float(settings.get("TRUSTEE_BACKOFF_SECONDS", 0.3)))
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


def lease_seconds(settings: dict[str, Any]) -> float:
    """Long enough to cover every try of one delivery, with a margin."""
    tries = int(settings.get("TRUSTEE_RETRIES", 2)) + 1
    return tries * (float(settings["TRUSTEE_TIMEOUT_SECONDS"]) * 2 + 10.0) + 30.0


def _claim(session_factory: sessionmaker[Session], settings: dict[str, Any],
           instruction_id: int, resend_before: dt.datetime | None = None
           ) -> dict[str, Any] | None:
    """Take the lease on a pending instruction (or a sent one last tried before
    `resend_before`); None when there is nothing to send or another deliverer has it."""
    now = utcnow()
    statuses = ("pending", "sent") if resend_before is not None else ("pending",)
    with transaction(session_factory, settings=settings, actor=SYSTEM) as session:
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


def _post(http: requests.Session, settings: dict[str, Any], url: str,
          payload: dict[str, Any]) -> Attempt:
    try:
        resp = outbound.signed_request(
            http, "POST", f"{url}/instructions", secret=str(settings["TRUSTEE_SECRET"]),
            payload=payload, headers={"Idempotency-Key": str(payload["instruction_id"])},
            timeout=float(settings["TRUSTEE_TIMEOUT_SECONDS"]))
    except requests.RequestException as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500], True)
    # 409 is the trustee saying it already has this Idempotency-Key: our body for one
    # instruction never changes, so it is the same instruction, accepted earlier.
    if resp.status_code in (200, 201, 202, 409):
        return Attempt(True, resp.status_code, None, False)
    error = f"HTTP {resp.status_code}: {resp.text[:300]}"
    return Attempt(False, resp.status_code, error, resp.status_code >= 500)


def _record(session_factory: sessionmaker[Session], settings: dict[str, Any],
            instruction_id: int, attempt: Attempt) -> None:
    now = utcnow()
    with transaction(session_factory, settings=settings, actor=SYSTEM) as session:
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
