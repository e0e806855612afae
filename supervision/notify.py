"""Notifications: enqueued in the caller's transaction, so a notification exists exactly when
what it tells of was committed; the delivery (at least once) is a worker, `workers/outbox.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models.outbox import OutboxMessage


def enqueue(session: Session, kind: str, payload: dict[str, Any]) -> OutboxMessage:
    """Record a notification (e.g. "flag.opened", "escrow.deposit") to deliver later."""
    message = OutboxMessage(kind=kind, payload=payload)
    session.add(message)
    return message
