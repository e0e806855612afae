"""The trustee's signed events in (API.md §6): `check_signature` then `handle_event` (a
repeated event_id does nothing again). Instructions out are a worker: `workers/trustee.py`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import outbound
from ..access.scope import Actor
from ..config import Settings
from ..errors import Invalid, Unauthenticated
from ..models.base import utcnow
from ..models.escrow import Instruction
from ..models.trustee import TrusteeEvent
from .deposits import apply_deposit
from .instructions import instruction_executed, instruction_failed

log = logging.getLogger(__name__)

# Who the audit trail names for what a trustee event changes.
TRUSTEE = Actor(principal_id=None, role="trustee", name="trustee")

RESOLVED = ("executed", "failed")


# --- inbound ---------------------------------------------------------------------------------

def check_signature(settings: Settings, timestamp: str | None, signature: str | None,
                    body: bytes, *, now: float | None = None) -> None:
    """401 unless `body` was signed with the trustee secret within the window (API.md §6)."""
    ok = outbound.verify(settings.trustee_secret, timestamp, signature, body,
                         window_seconds=settings.trustee_signature_window_seconds,
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


def handle_event(session: Session, actor: Actor, event: dict[str, Any], *,
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
    row.outcome = _apply(session, actor, event)
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


def _apply(session: Session, actor: Actor, event: dict[str, Any]) -> str:
    kind = event["type"]
    if kind == "deposit.received":
        return apply_deposit(
            session, actor, event_id=event["event_id"],
            payment_reference=event["payment_reference"],
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
