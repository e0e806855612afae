"""The outbox deliverer: due notifications POSTed to NOTIFY_URL, at least once.

It claims a batch of due rows in a short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, and
a lease: the claimed rows' next_attempt_at moves into the future, so a second deliverer neither
waits for them nor sends them), then POSTs each one, signed, outside any transaction, and
records the outcome in its own short transaction. A row is delivered only after a 2xx; a crash
between the POST and the record sends it again once the lease expires, which is what "at least
once" means: receivers dedupe on the message id. Rows are written by `notify.enqueue`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import outbound
from ..config import Settings
from ..db import is_postgres
from ..models.base import utcnow
from ..models.outbox import OutboxMessage
from ..unit_of_work import unit_of_work

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: dt.datetime
    attempts: int


def retry_delay(settings: Settings, attempts: int) -> dt.timedelta:
    """Exponential backoff: base, 2×base, 4×base ... capped."""
    base = settings.notify_retry_base_seconds
    cap = settings.notify_retry_max_seconds
    return dt.timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def deliver_outbox(session_factory: sessionmaker[Session], settings: Settings, *,
                   now: dt.datetime | None = None, batch_size: int = 100,
                   max_messages: int = 2000,
                   http: requests.Session | None = None) -> int:
    """POST due outbox rows to NOTIFY_URL; returns how many were delivered.

    Without NOTIFY_URL nothing is sent and the rows wait: they are never dropped.
    """
    url = settings.notify_url
    if not url:
        return 0
    http = http or outbound.make_session(retries=1, backoff=0.1)
    delivered = tried = 0
    while tried < max_messages:
        clock = now or utcnow()
        batch = _claim(session_factory, settings, clock, min(batch_size, max_messages - tried))
        if not batch:
            break
        for i, message in enumerate(batch):
            tried += 1
            error = _post(http, url, settings, message)
            if error is None:
                _record(session_factory, settings, message.id, delivered_at=now or utcnow())
                delivered += 1
                continue
            retry_at = (now or utcnow()) + retry_delay(settings, message.attempts + 1)
            _record(session_factory, settings, message.id, error=error, retry_at=retry_at)
            if error.startswith(("unreachable", "HTTP 5")):
                # The receiver is down: leave the rest of the batch for the same later time
                # instead of hammering it message by message.
                _release(session_factory, settings, [m.id for m in batch[i + 1:]], retry_at)
                return delivered
    return delivered


def _claim(session_factory: sessionmaker[Session], settings: Settings,
           now: dt.datetime, limit: int) -> list[_Claimed]:
    with unit_of_work(session_factory, settings=settings) as uow:
        session = uow.session
        stmt = (select(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None),
                       OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id).limit(limit))
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        claimed = [_Claimed(m.id, m.kind, dict(m.payload), m.created_at, m.attempts)
                   for m in rows]
        for message in rows:
            message.next_attempt_at = now + LEASE
    return claimed


def _post(http: requests.Session, url: str, settings: Settings,
          message: _Claimed) -> str | None:
    """Send one message; None when the receiver took it, else why not."""
    body = {"id": message.id, "kind": message.kind, "payload": message.payload,
            "created_at": message.created_at.isoformat()}
    try:
        response = outbound.signed_request(
            http, "POST", url, secret=settings.notify_secret, payload=body,
            headers={"Idempotency-Key": f"outbox-{message.id}"},
            timeout=settings.notify_timeout_seconds)
    except requests.RequestException as exc:
        log.warning("notification %s not delivered: %s", message.id, type(exc).__name__)
        return f"unreachable: {type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return None
    log.warning("notification %s refused with HTTP %s", message.id, response.status_code)
    return f"HTTP {response.status_code}"


def _record(session_factory: sessionmaker[Session], settings: Settings, message_id: int,
            *, delivered_at: dt.datetime | None = None, error: str | None = None,
            retry_at: dt.datetime | None = None) -> None:
    values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1}
    if delivered_at is not None:
        values.update(delivered_at=delivered_at, last_error=None)
    else:
        values.update(last_error=(error or "")[:500], next_attempt_at=retry_at)
    with unit_of_work(session_factory, settings=settings) as uow:
        session = uow.session
        session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                        .values(**values))


def _release(session_factory: sessionmaker[Session], settings: Settings,
             ids: list[int], retry_at: dt.datetime) -> None:
    if not ids:
        return
    with unit_of_work(session_factory, settings=settings) as uow:
        session = uow.session
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                                    OutboxMessage.delivered_at.is_(None))
                        .values(next_attempt_at=retry_at))
