"""Read-only aggregates the console shows and no service offers (counts for badges and charts).

Every query starts from a scoped statement or a scope clause of supervision/scope.py, so a
district regulator's figures never include another district.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, scope_clause
from ..compliance.catalogue import CATALOGUE
from ..compliance.flags import OUTSTANDING
from ..models import CalendarOverride, Flag, Institution
from .labels import SEVERITY_ORDER


def rule_titles() -> dict[str, str]:
    return {code: spec.title_zh for code, spec in CATALOGUE.items()}


def rule_choices() -> list[tuple[str, str]]:
    return [(code, f"{spec.title_zh}（{code}）") for code, spec in CATALOGUE.items()]


def severity_counts(session: Session, flags: Select[Any]) -> dict[str, int]:
    """How many of the flags a statement selects fall in each severity."""
    sub = flags.order_by(None).subquery()
    rows = session.execute(select(sub.c.severity, func.count()).group_by(sub.c.severity))
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    counts.update({severity: n for severity, n in rows})
    return counts


def institutions_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Institution]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {i.id: i for i in session.scalars(select(Institution).where(Institution.id.in_(wanted)))}


# The dashboard's row for flags about no institution (a deposit nobody can place, a missing
# calendar year): they are the city's to handle and must be counted like any other.
NO_DISTRICT = ""


def open_flags_by_district(session: Session, actor: Actor) -> list[tuple[str, str, int]]:
    """(district_code, severity, count) of the flags still waiting for someone; flags with no
    institution count under NO_DISTRICT (an outer join: an inner one would drop them)."""
    district = func.coalesce(Institution.district_code, NO_DISTRICT)
    stmt = (select(district, Flag.severity, func.count())
            .outerjoin(Institution, Institution.id == Flag.institution_id)
            .where(Flag.status.in_(OUTSTANDING), scope_clause(actor, Flag))
            .group_by(district, Flag.severity))
    return [(d, s, n) for d, s, n in session.execute(stmt)]


def open_flags_by_rule(session: Session, actor: Actor) -> list[tuple[str, int]]:
    stmt = (select(Flag.rule, func.count())
            .where(Flag.status.in_(OUTSTANDING), scope_clause(actor, Flag))
            .group_by(Flag.rule).order_by(func.count().desc(), Flag.rule))
    return [(r, n) for r, n in session.execute(stmt)]


def institution_counts(session: Session, actor: Actor) -> dict[str, int]:
    stmt = (select(Institution.status, func.count())
            .where(scope_clause(actor, Institution)).group_by(Institution.status))
    return {status: n for status, n in session.execute(stmt)}



def open_flag_counts(session: Session, actor: Actor,
                     institution_ids: list[int]) -> dict[int, int]:
    """Outstanding flags per institution, for a list page (one grouped query)."""
    if not institution_ids:
        return {}
    stmt = (select(Flag.institution_id, func.count())
            .where(Flag.institution_id.in_(institution_ids), Flag.status.in_(OUTSTANDING),
                   scope_clause(actor, Flag))
            .group_by(Flag.institution_id))
    return {i: n for i, n in session.execute(stmt) if i is not None}


def calendar_overrides(session: Session, year: int) -> list[CalendarOverride]:
    """The regulators' own entries of one year (the calendar service reads them per day)."""
    return list(session.scalars(
        select(CalendarOverride)
        .where(CalendarOverride.day >= dt.date(year, 1, 1),
               CalendarOverride.day <= dt.date(year, 12, 31))
        .order_by(CalendarOverride.day)))
