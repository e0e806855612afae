"""Raising flags: one flag per (rule, subject), shared by the engine and by escrow events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import notify
from ..access.scope import Actor
from ..models.base import utcnow
from ..models.compliance import Flag, FlagEvent
from ..vocab import CLEARABLE_FLAG_STATUSES, OUTSTANDING_FLAG_STATUSES
from .catalogue import CATALOGUE

REOPEN_ON_DETECTION = ("resolved", "cleared")
CLEARABLE = CLEARABLE_FLAG_STATUSES
OUTSTANDING = OUTSTANDING_FLAG_STATUSES


def rule_title(code: str) -> str:
    """The rule's Chinese title from the catalogue (the code itself if it is unknown)."""
    spec = CATALOGUE.get(code)
    return spec.title_zh if spec is not None else code


def opened_payload(flag: Flag, *, reopened: bool = False) -> dict[str, Any]:
    """What a "flag.opened" notification carries: enough to act on, no personal data."""
    return {"flag_id": flag.id, "rule": flag.rule, "title": rule_title(flag.rule),
            "severity": flag.severity, "status": flag.status,
            "institution_id": flag.institution_id, "subject_type": flag.subject_type,
            "subject_id": flag.subject_id, "summary": flag.summary, "reopened": reopened}


def raise_flag(session: Session, actor: Actor, *, rule: str, severity: str,
               institution_id: int | None, subject_type: str, subject_id: str | int, summary: str,
               evidence: dict[str, Any], at: dt.datetime | None = None) -> Flag:
    """Open a flag, or refresh the existing one for the same (rule, subject).

    A dismissed flag stays dismissed; a resolved or cleared one reopens. A new or reopened
    flag is announced through the outbox in the same transaction.
    """
    now = at or utcnow()
    key = (rule, subject_type, str(subject_id))
    flag = _find(session, *key)
    if flag is None:
        flag = _insert(session, rule=rule, severity=severity, institution_id=institution_id,
                       subject_type=subject_type, subject_id=str(subject_id), summary=summary,
                       evidence=evidence, now=now)
        if flag is not None:
            record_event(session, actor, flag, "detected", None, "open", now)
            notify.enqueue(session, "flag.opened", opened_payload(flag))
            session.flush()
            return flag
        # A concurrent writer created it between our look and our insert: refresh theirs.
        flag = _find(session, *key, for_update=True)
        assert flag is not None
    flag.last_detected_at = now
    flag.severity = severity
    flag.summary = summary
    flag.evidence = evidence
    if flag.status in REOPEN_ON_DETECTION:
        previous = flag.status
        flag.status = "open"
        record_event(session, actor, flag, "redetected", previous, "open", now)
        notify.enqueue(session, "flag.opened", opened_payload(flag, reopened=True))
    session.flush()
    return flag


def _find(session: Session, rule: str, subject_type: str, subject_id: str,
          *, for_update: bool = False) -> Flag | None:
    stmt = select(Flag).where(Flag.rule == rule, Flag.subject_type == subject_type,
                              Flag.subject_id == subject_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def _insert(session: Session, *, now: dt.datetime, **values: Any) -> Flag | None:
    """Insert inside a savepoint so that losing a race to the unique key costs only this
    statement, not the caller's whole transaction (a deposit must still be booked)."""
    flag = Flag(status="open", first_detected_at=now, last_detected_at=now, **values)
    try:
        with session.begin_nested():
            session.add(flag)
            session.flush()
    except IntegrityError:
        return None
    return flag


def record_event(session: Session, actor: Actor, flag: Flag, action: str,
                 from_status: str | None, to_status: str, at: dt.datetime,
                 note: str | None = None) -> FlagEvent:
    event = FlagEvent(flag_id=flag.id, institution_id=flag.institution_id, at=at,
                      actor=actor.label, action=action, note=note,
                      from_status=from_status, to_status=to_status)
    session.add(event)
    return event
