"""Compliance runs: evaluate the rulebook over a window and turn findings into flags.

The flag lifecycle of API.md §5, decided here and written set-based by flag_sets:
- found and never seen: a new open flag (history, audit, "flag.opened" in the outbox);
- found again: last_detected_at moves, wording and evidence are this run's; a resolved or
  cleared flag reopens, a dismissed one stays dismissed, one under review keeps its status;
- open or acknowledged but no longer found: cleared, but only where the run looked: a session
  rule's flag when its session starts inside the window, a registry or escrow rule's flag
  always, a flag raised by an escrow event never (no scan finds those), and a missing-calendar
  flag when the year's data has arrived (not merely because no session fell in that year).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, false, func, or_, select
from sqlalchemy.orm import Session

from .. import calendar, clock
from ..access.policy import require_citywide_regulator
from ..access.scope import Actor
from ..clock import SHANGHAI
from ..db import advisory_lock
from ..errors import NotFound
from ..models import ClassSession
from ..models.base import utcnow
from ..models.compliance import ComplianceRun, Flag
from . import flag_sets, rules
from .catalogue import CATALOGUE
from .flags import CLEARABLE, OUTSTANDING, raise_flag, rule_title
from .model import Finding, Window

CALENDAR_RULE = "CALENDAR_DATA_MISSING"
_YEAR = re.compile(r"^\d{4}$")
_SCHOOL_YEAR = re.compile(r"^\d{4}-\d{4}$")


def evaluate_all(session: Session, window: Window) -> Iterator[Finding]:
    """The rulebook's findings over `window`: a seam of its own, so tests can swap the
    rulebook for a few findings of their own."""
    return rules.evaluate_all(session, window)


def run_compliance(session: Session, actor: Actor, *, as_of: dt.datetime, horizon_days: int = 30,
                   lookback_days: int = 7) -> ComplianceRun:
    """One run: sessions starting in [as_of - lookback, as_of + horizon], registry facts at
    as_of's date. Flushes; the caller's transaction commits.

    A run clears and opens flags of every district, so only the city (a city-wide regulator,
    the scheduler, the command line) may start one."""
    require_citywide_regulator(actor, "start a compliance run")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    # One run at a time: the scheduler's hourly run and a regulator's must not interleave
    # their clearing.
    advisory_lock(session, "compliance.run")
    window = Window.around(as_of, lookback_days=lookback_days, horizon_days=horizon_days)
    session.flush()
    now = utcnow()
    # The run row is written once, at the end, so the audit trail holds one row per run.
    run = ComplianceRun(as_of=as_of, window_start=window.start, window_end=window.end,
                        horizon_days=horizon_days, lookback_days=lookback_days,
                        started_at=now, triggered_by=actor.label)
    flag_sets.begin(session)
    flag_sets.load(session, evaluate_all(session, window))
    run.by_rule = flag_sets.counts_by_rule(session)
    run.findings = sum(run.by_rule.values())
    run.flags_reopened = flag_sets.reopen(session, actor, now)
    flag_sets.refresh(session, now)
    run.flags_opened = flag_sets.open_new(session, actor, now) + run.flags_reopened
    calendar_ids = _covered_calendar_flags(session, ~flag_sets.found())
    run.flags_cleared = flag_sets.move(
        session, actor, or_(and_(Flag.status.in_(CLEARABLE), _judged(window), ~flag_sets.found()),
                     Flag.id.in_(calendar_ids)), "cleared", "cleared", now)
    flag_sets.end(session)
    run.sessions_scanned = session.scalar(select(func.count()).select_from(ClassSession).where(
        ClassSession.status == "scheduled", ClassSession.starts_at >= window.start,
        ClassSession.starts_at <= window.end)) or 0
    run.flags_open = session.scalar(select(func.count()).select_from(Flag).where(
        Flag.status.in_(OUTSTANDING))) or 0
    run.finished_at = utcnow()
    # The set-based statements went around the ORM: forget what it thought flags looked like.
    session.expire_all()
    session.add(run)
    session.flush()
    return run


def _judged(window: Window) -> ColumnElement[bool]:
    """The flags this run looked at again (see the module docstring)."""
    specs = [s for s in CATALOGUE.values() if s.detected_by == "scan" and s.code !=
             CALENDAR_RULE]
    session_rules = [s.code for s in specs if s.scope == "session"]
    whole_rules = [s.code for s in specs if s.scope != "session"]
    in_window = select(cast(ClassSession.id, String)).where(
        ClassSession.starts_at >= window.start, ClassSession.starts_at <= window.end)
    # A session rule may judge the institution as a whole (an expired licence, a suspension:
    # one flag per institution listing its window's sessions): the run looked at all of them,
    # so such a flag is cleared when no session of the window breaks the rule any more.
    return or_(and_(Flag.rule.in_(session_rules), Flag.subject_type == "session",
                    Flag.subject_id.in_(in_window)),
               and_(Flag.rule.in_(session_rules), Flag.subject_type == "institution"),
               Flag.rule.in_(whole_rules) if whole_rules else false())


def _covered_calendar_flags(session: Session, *extra: ColumnElement[bool]) -> list[int]:
    """Open CALENDAR_DATA_MISSING flags whose year or school year has since been loaded."""
    rows = session.execute(select(Flag.id, Flag.subject_id).where(
        Flag.rule == CALENDAR_RULE, Flag.status.in_(CLEARABLE), *extra))
    return [flag_id for flag_id, subject in rows if calendar_subject_covered(session, subject)]


def calendar_subject_covered(session: Session, subject_id: str) -> bool:
    """A calendar flag's subject is a year ("2027") or a school year ("2026-2027")."""
    if _YEAR.match(subject_id):
        return calendar.year_covered(session, int(subject_id))
    if _SCHOOL_YEAR.match(subject_id):
        return calendar.school_year_covered(session, subject_id)
    return False


def check_calendar_coverage(session: Session, actor: Actor, as_of: dt.datetime) -> list[str]:
    """The scheduler's daily look ahead: raise CALENDAR_DATA_MISSING (a system flag, no
    institution) for this year's statutory schedule, next year's from December on (the State
    Council publishes it in November or December), this school year's vacations and next
    school year's from July on; clear the calendar flags whose data has arrived."""
    today = as_of.astimezone(SHANGHAI).date()
    years = [today.year] + ([today.year + 1] if today.month == 12 else [])
    school_years = [calendar.school_year_of(today)]
    if today.month in (7, 8):
        school_years.append(calendar.school_year_of(dt.date(today.year, 9, 1)))
    missing = [str(y) for y in years if not calendar.year_covered(session, y)]
    missing += [n for n in school_years if not calendar.school_year_covered(session, n)]
    spec = CATALOGUE.get(CALENDAR_RULE)
    for subject in missing:
        if _YEAR.match(subject):
            # The statutory days are computed from the holiday law; only the State Council's
            # yearly 调休 swaps (adjusted working days) cannot be known in advance.
            summary = (f"{subject}年调休安排尚未录入：法定节假日已按《全国年节及纪念日放假办法》"
                       f"推算，调休上班日须按国务院放假安排录入（日历维护）")
            what = "statutory_holidays"
        else:
            summary = f"{subject}学年寒暑假日期未配置，请按无锡市校历录入"
            what = "school_year_vacations"
        raise_flag(session, actor, rule=CALENDAR_RULE, severity=spec.severity if spec else "low",
                   institution_id=None, subject_type="calendar", subject_id=subject,
                   summary=summary, evidence={"missing": what, "period": subject,
                                              "checked_on": today.isoformat()})
    covered = _covered_calendar_flags(session)
    if covered:
        session.flush()
        flag_sets.begin(session)
        flag_sets.move(session, actor, Flag.id.in_(covered), "cleared", "cleared", utcnow())
        flag_sets.end(session)
        session.expire_all()
    return missing


def runs_query() -> Select[Any]:
    return select(ComplianceRun).order_by(ComplianceRun.id.desc())


def get_run(session: Session, run_id: int) -> ComplianceRun:
    run = session.get(ComplianceRun, run_id)
    if run is None:
        raise NotFound("compliance run")
    return run


def parse_as_of(value: str | None) -> dt.datetime:
    """An aware ISO 8601 instant (the command line's --as-of); now when absent."""
    if not value:
        return clock.local_now()
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("give an offset, e.g. 2026-12-07T19:00:00+08:00")
    return moment


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def summary_lines(run: ComplianceRun) -> list[str]:
    """The run as people read it (CLI, logs)."""
    lines = [
        f"合规检查 #{run.id}  as_of {_local(run.as_of)}  "
        f"window {_local(run.window_start)} → {_local(run.window_end)}",
        f"扫描课次 sessions_scanned={run.sessions_scanned}  发现 findings={run.findings}  "
        f"新开 flags_opened={run.flags_opened} (其中重开 reopened {run.flags_reopened})  "
        f"清除 flags_cleared={run.flags_cleared}  未结 flags_open={run.flags_open}",
    ]
    for code, count in sorted(run.by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {code:<28} {count:>7}  {rule_title(code)}")
    return lines
