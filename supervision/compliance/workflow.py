"""Reviewing flags: the regulator's actions, the institution's responses, and the flag lists.

The state machine of API.md §5 is the table TRANSITIONS, nothing else: any (action, status)
pair not in it is a conflict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, select
from sqlalchemy.orm import Session

from .. import notify
from ..access.policy import require_role
from ..access.scope import Actor, get_in_scope, scoped
from ..errors import Conflict, Invalid
from ..models import Institution
from ..models.base import utcnow
from ..models.compliance import Flag, FlagEvent
from ..vocab import FLAG_STATUSES, SEVERITY_RANK
from .flags import record_event, rule_title

# action: (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "order_rectification": (frozenset({"open", "acknowledged"}), "rectification_ordered"),
    "resolve": (frozenset({"acknowledged", "rectification_submitted"}), "resolved"),
    "dismiss": (frozenset({"open", "acknowledged", "rectification_ordered",
                           "rectification_submitted"}), "dismissed"),
    "reopen": (frozenset({"resolved", "dismissed", "cleared"}), "open"),
}
STATUSES = FLAG_STATUSES


@dataclass(frozen=True)
class FlagFilters:
    status: str | None = None
    severity: str | None = None
    rule: str | None = None
    district_code: str | None = None
    institution_id: int | None = None
    overdue: bool | None = None


def is_overdue(flag: Flag, today: dt.date) -> bool:
    """Rectification was ordered and its due date (Asia/Shanghai) has passed."""
    return (flag.status == "rectification_ordered" and flag.due_on is not None
            and flag.due_on < today)


def overdue_clause(today: dt.date) -> ColumnElement[bool]:
    return and_(Flag.status == "rectification_ordered", Flag.due_on < today)


def flags_query(actor: Actor, filters: FlagFilters, today: dt.date) -> Select[Any]:
    """The caller's flags, most severe first, then most recently detected."""
    stmt = scoped(select(Flag), actor, Flag)
    for column, value in ((Flag.status, filters.status), (Flag.severity, filters.severity),
                          (Flag.rule, filters.rule),
                          (Flag.institution_id, filters.institution_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.district_code is not None:
        stmt = stmt.where(Flag.institution_id.in_(select(Institution.id).where(
            Institution.district_code == filters.district_code)))
    if filters.overdue is not None:
        clause = overdue_clause(today)
        stmt = stmt.where(clause if filters.overdue else ~clause | (Flag.due_on.is_(None)))
    rank = case(SEVERITY_RANK, value=Flag.severity, else_=len(SEVERITY_RANK))
    return stmt.order_by(rank, Flag.last_detected_at.desc(), Flag.id.desc())


def get_flag(session: Session, actor: Actor, flag_id: int, *, for_update: bool = False) -> Flag:
    return get_in_scope(session, actor, Flag, flag_id, for_update=for_update)


def history(session: Session, flag: Flag) -> list[FlagEvent]:
    return list(session.scalars(select(FlagEvent).where(FlagEvent.flag_id == flag.id)
                                .order_by(FlagEvent.at, FlagEvent.id)))


def _check_fields(action: str, note: str | None, due_on: dt.date | None,
                  today: dt.date) -> None:
    if action not in TRANSITIONS:
        raise Invalid.field("action", f"must be one of {', '.join(TRANSITIONS)}")
    if action == "order_rectification":
        if due_on is None:
            raise Invalid.field("due_on", "order_rectification needs a due date")
        if due_on < today:
            raise Invalid.field("due_on", "the due date is in the past")
    elif due_on is not None:
        raise Invalid.field("due_on", "only order_rectification takes a due date")
    if action == "dismiss" and not note:
        raise Invalid.field("note", "a dismissal must say why")


def apply_action(session: Session, actor: Actor, flag_id: int, *, action: str,
                 note: str | None, due_on: dt.date | None, today: dt.date) -> Flag:
    """A regulator's decision on a flag; `today` is the Asia/Shanghai date it is taken on."""
    require_role(actor, "regulator")
    _check_fields(action, note, due_on, today)
    flag = get_flag(session, actor, flag_id, for_update=True)
    sources, target = TRANSITIONS[action]
    if flag.status not in sources:
        raise Conflict(f"cannot {action} a flag that is {flag.status}")
    return _transition(session, actor, flag, action, target, note=note, due_on=due_on)


def respond(session: Session, actor: Actor, flag_id: int, *, note: str) -> Flag:
    """The institution reports its rectification: rectification_ordered → submitted."""
    require_role(actor, "institution")
    if not note:
        raise Invalid.field("note", "say what was rectified")
    flag = get_flag(session, actor, flag_id, for_update=True)
    if flag.status != "rectification_ordered":
        raise Conflict(f"a response is only expected after rectification was ordered, "
                       f"this flag is {flag.status}")
    return _transition(session, actor, flag, "respond", "rectification_submitted", note=note,
                       due_on=flag.due_on)


def _transition(session: Session, actor: Actor, flag: Flag, action: str, target: str, *,
                note: str | None, due_on: dt.date | None) -> Flag:
    previous = flag.status
    flag.status = target
    if action == "order_rectification":
        flag.due_on = due_on
    session.info["audit_action"] = f"flag.{action}"
    try:
        record_event(session, actor, flag, action, previous, target, utcnow(), note)
        session.flush()
    finally:
        session.info.pop("audit_action", None)
    notify.enqueue(session, "flag.action", {
        "flag_id": flag.id, "rule": flag.rule, "title": rule_title(flag.rule),
        "severity": flag.severity, "institution_id": flag.institution_id, "action": action,
        "from_status": previous, "to_status": target, "note": note,
        "due_on": flag.due_on.isoformat() if flag.due_on else None})
    session.flush()
    return flag

