"""The factors' readings, set-based: one query per source over every institution with money
in custody, never a query per institution (RULES.md §11; 10,000 institutions in seconds).

Each function returns {institution_id: numbers}; institutions absent from a result had nothing
to count (no refunds, no sessions...). Windows are [as_of - N days, as_of).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from ..models import ClassSession, Complaint, Flag, Statement, Teacher
from ..models.escrow import Consumption, LedgerAccount, Refund
from ..vocab import OUTSTANDING_FLAG_STATUSES

RISK_RULE = "RISK_HIGH"
DAYS = dt.timedelta(days=1)


@dataclass(frozen=True)
class Readings:
    """Everything the score needs, per institution id."""

    custody: dict[int, int]
    refunds: dict[int, tuple[int, int]]  # (last 14 days, the 90 days before them)
    held: dict[int, int]  # prepaid money not yet consumed (the enrollments' held buckets)
    consumptions: dict[int, tuple[int, int, int]]  # 30 days: (fen, count, disputed count)
    statements: dict[int, tuple[dt.date, int]]  # the last statement: (date, closing fen)
    sessions: dict[int, tuple[int, int]]  # 30 days: (scheduled or cancelled, cancelled)
    complaints: dict[int, int]
    teachers: dict[int, tuple[int, int]]  # 30 days: (on staff at some time, of whom left)
    critical_flags: dict[int, int]


def custody_held() -> Select[int | None, int]:
    """Institutions with money in custody, and how much (the ledger's custody accounts)."""
    return (select(LedgerAccount.institution_id, LedgerAccount.balance)
            .where(LedgerAccount.kind == "custody", LedgerAccount.balance > 0))


def _in_population(column: Any) -> ColumnElement[bool]:
    return column.in_(select(custody_held().subquery().c.institution_id))


def _pairs(session: Session, stmt: Executable) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for row in session.execute(stmt):
        values = tuple(int(v or 0) for v in row[1:])
        out[int(row[0])] = values[0] if len(values) == 1 else values
    return out


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def read_all(session: Session, as_of: dt.datetime, day: dt.date) -> Readings:
    return Readings(
        custody=_pairs(session, custody_held()),
        refunds=refunds(session, as_of),
        held=held(session),
        consumptions=consumptions(session, as_of),
        statements=statements(session, day),
        sessions=sessions(session, as_of),
        complaints=complaints(session, as_of),
        teachers=teachers(session, day),
        critical_flags=critical_flags(session),
    )


def refunds(session: Session, as_of: dt.datetime) -> dict[int, tuple[int, int]]:
    # The baseline is the 90 days before the 14: a surge must not raise its own yardstick.
    recent_from = as_of - 14 * DAYS
    r = Refund
    return _pairs(session, select(
        r.institution_id, _count_if(r.requested_at >= recent_from),
        _count_if(r.requested_at < recent_from))
        .where(r.requested_at >= recent_from - 90 * DAYS, r.requested_at < as_of,
               _in_population(r.institution_id))
        .group_by(r.institution_id))


def held(session: Session) -> dict[int, int]:
    a = LedgerAccount
    return _pairs(session, select(a.institution_id, func.sum(a.balance))
                  .where(a.kind == "held", _in_population(a.institution_id))
                  .group_by(a.institution_id))


def consumptions(session: Session, as_of: dt.datetime) -> dict[int, tuple[int, int, int]]:
    c = Consumption
    return _pairs(session, select(
        c.institution_id, func.sum(c.amount_fen), func.count(),
        _count_if(c.status == "disputed"))
        .where(c.recorded_at >= as_of - 30 * DAYS, c.recorded_at < as_of,
               _in_population(c.institution_id))
        .group_by(c.institution_id))


def statements(session: Session, day: dt.date) -> dict[int, tuple[dt.date, int]]:
    s = Statement
    latest = (select(s.institution_id, func.max(s.date).label("date"))
              .where(s.date <= day, _in_population(s.institution_id))
              .group_by(s.institution_id).subquery())
    rows = session.execute(
        select(s.institution_id, s.date, func.sum(s.closing_balance_fen))
        .join(latest, and_(latest.c.institution_id == s.institution_id,
                           latest.c.date == s.date))
        .group_by(s.institution_id, s.date))
    # One supervised account per institution; were there two, their closings add up.
    return {int(i or 0): (d, int(fen or 0)) for i, d, fen in rows}


def sessions(session: Session, as_of: dt.datetime) -> dict[int, tuple[int, int]]:
    s = ClassSession
    return _pairs(session, select(s.institution_id, func.count(),
                                  _count_if(s.status == "cancelled"))
                  .where(s.starts_at >= as_of - 30 * DAYS, s.starts_at < as_of,
                         _in_population(s.institution_id))
                  .group_by(s.institution_id))


def complaints(session: Session, as_of: dt.datetime) -> dict[int, int]:
    c = Complaint
    return _pairs(session, select(c.institution_id, func.count())
                  .where(c.created_at >= as_of - 30 * DAYS, c.created_at < as_of,
                         _in_population(c.institution_id))
                  .group_by(c.institution_id))


def teachers(session: Session, day: dt.date) -> dict[int, tuple[int, int]]:
    """The teachers on staff at some time in the 30 days ending on `day` (hired by then, not
    left before them), and of those how many left (离职, Teacher.left_on) in those days."""
    t = Teacher
    since = day - 30 * DAYS  # the 30 days are (since, day]
    return _pairs(session, select(t.institution_id, func.count(),
                                  _count_if(and_(t.left_on.is_not(None), t.left_on <= day)))
                  .where(t.hired_on <= day, or_(t.left_on.is_(None), t.left_on > since),
                         _in_population(t.institution_id))
                  .group_by(t.institution_id))


def critical_flags(session: Session) -> dict[int, int]:
    # RISK_HIGH itself is left out: the score must not feed on its own alarm.
    f = Flag
    return _pairs(session, select(f.institution_id, func.count())
                  .where(f.severity == "critical", f.status.in_(OUTSTANDING_FLAG_STATUSES),
                         f.rule != RISK_RULE, _in_population(f.institution_id))
                  .group_by(f.institution_id))
