"""An institution's money as the console shows it: the escrow summary (escrow.queries) and the
custody and consumption history of the last days, aggregated by local day in SQL from the
immutable ledger entries (one grouped query, whatever the number of entries).

Callers pass an institution already loaded through the scope functions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from .. import clock
from ..access.scope import Actor, scope_clause
from ..compliance.rules.sql import local_day
from ..escrow import queries
from ..models import Institution
from ..models.escrow import LedgerAccount, LedgerEntry
from .labels import SHANGHAI

EPOCH = dt.date(1970, 1, 1)
CONSUMED_ACCOUNT = "pending_confirmation"  # consumption moves money held → pending_confirmation


@dataclass(frozen=True)
class DayPoint:
    day: dt.date
    custody_fen: int  # the custody account's balance at the end of the local day
    consumed_fen: int  # consumption booked since the start of the period, cumulative


def _offset_seconds() -> int:
    offset = clock.local_now().utcoffset()
    return int(offset.total_seconds()) if offset else 0


def _signed() -> Any:
    # custody is debit-normal: debits raise the balance, credits lower it.
    return case((LedgerEntry.direction == "debit", LedgerEntry.amount_fen),
                else_=-LedgerEntry.amount_fen)


def custody_history(session: Session, institution_id: int, today: dt.date,
                    days: int) -> list[DayPoint]:
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), SHANGHAI)
    is_custody = LedgerEntry.account_kind == "custody"
    opening = session.scalar(
        select(func.coalesce(func.sum(_signed()), 0))
        .where(LedgerEntry.institution_id == institution_id, is_custody,
               LedgerEntry.at < start)) or 0
    day = local_day(LedgerEntry.at, _offset_seconds())
    consumed = and_(LedgerEntry.account_kind == CONSUMED_ACCOUNT,
                    LedgerEntry.direction == "credit")
    rows = session.execute(
        select(day.label("day"),
               func.sum(case((is_custody, _signed()), else_=0)),
               func.sum(case((consumed, LedgerEntry.amount_fen), else_=0)))
        .where(LedgerEntry.institution_id == institution_id, LedgerEntry.at >= start,
               LedgerEntry.account_kind.in_(("custody", CONSUMED_ACCOUNT)))
        .group_by(day))
    by_day = {EPOCH + dt.timedelta(days=int(d)): (int(net or 0), int(c or 0))
              for d, net, c in rows}
    if not by_day and not opening:
        return []
    points, balance, total = [], int(opening), 0
    for i in range(days):
        date = first + dt.timedelta(days=i)
        net, cons = by_day.get(date, (0, 0))
        balance += net
        total += cons
        points.append(DayPoint(date, balance, total))
    return points


def custody_by_district(session: Session, actor: Actor) -> dict[str, int]:
    """Posted custody balance summed per district, over the institutions in the actor's scope."""
    balance = func.sum(LedgerAccount.balance)
    rows = session.execute(
        select(Institution.district_code, balance)
        .join(Institution, Institution.id == LedgerAccount.institution_id)
        .where(LedgerAccount.kind == "custody", scope_clause(actor, Institution))
        .group_by(Institution.district_code))
    return {district: int(total or 0) for district, total in rows}


def institution_summary(session: Session, actor: Actor, institution_id: int) -> dict[str, int]:
    """The six buckets, custody and suspense of API.md §4, from the same service as the API."""
    return {k: v for k, v in asdict(queries.institution_summary(session, actor, institution_id))
            .items() if k != "institution_id"}
