"""Raising flags: one flag per (rule, subject), shared by the engine and by escrow events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models.base import utcnow
from ..models.compliance import Flag, FlagEvent
from ..scope import actor_of

REOPEN_ON_DETECTION = {"resolved", "cleared"}


def raise_flag(session: Session, *, rule: str, severity: str, institution_id: int | None,
               subject_type: str, subject_id: str | int, summary: str,
               evidence: dict[str, Any], at: dt.datetime | None = None) -> Flag:
    """Open a flag, or refresh the existing one for the same (rule, subject).

    A dismissed flag stays dismissed; a resolved or cleared one reopens.
    """
    now = at or utcnow()
    flag = session.scalars(select(Flag).where(
        Flag.rule == rule, Flag.subject_type == subject_type,
        Flag.subject_id == str(subject_id))).first()
    if flag is None:
        flag = Flag(rule=rule, severity=severity, status="open", institution_id=institution_id,
                    subject_type=subject_type, subject_id=str(subject_id), summary=summary,
                    evidence=evidence, first_detected_at=now, last_detected_at=now)
        session.add(flag)
        session.flush()
        _event(session, flag, "detected", None, "open", now)
        return flag
    flag.last_detected_at = now
    flag.summary = summary
    flag.evidence = evidence
    if flag.status in REOPEN_ON_DETECTION:
        previous = flag.status
        flag.status = "open"
        _event(session, flag, "redetected", previous, "open", now)
    session.flush()
    return flag


def _event(session: Session, flag: Flag, action: str, from_status: str | None,
           to_status: str, at: dt.datetime, note: str | None = None) -> None:
    session.add(FlagEvent(flag_id=flag.id, institution_id=flag.institution_id, at=at,
                          actor=actor_of(session).label, action=action, note=note,
                          from_status=from_status, to_status=to_status))
