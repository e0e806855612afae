"""The session rules, evaluated in one pass over the window's sessions.

A session rule is data: a code, a SQL predicate over one session joined with its course,
teacher, institution, registered venue and local day, and a function that words a matching
row. All the requested rules go into ONE query (`WHERE p1 OR p2 OR ...`, each predicate also
selected as a column), so a million sessions are read once, not once per rule; the database
returns only the sessions that break something.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    String,
    and_,
    column,
    func,
    or_,
    select,
    values,
)
from sqlalchemy.orm import aliased

from ...models import ClassSession, Course, Institution, Teacher, Venue
from ...models.base import UTCDateTime
from ...wording import zh_date
from ..catalogue import CATALOGUE
from ..model import Finding
from .base import Context, in_rule_grades, session_finding, subject_type_course
from .days import window_calendar
from .sql import local_day, unindexed

EPOCH = dt.date(1970, 1, 1)
# How many sessions an institution-level finding lists in its evidence (all are counted).
SESSIONS_SHOWN = 50
LATE_MODES = ("online", "offline")


@dataclass(frozen=True)
class Joined:
    """The tables a session predicate may use, besides ClassSession, Course, Teacher and
    Institution: the session's registered venue (outer-joined) and its local day."""

    venue: Any
    day: CTE


@dataclass(frozen=True)
class SessionRule:
    code: str
    predicate: Callable[[Context, Joined], ColumnElement[bool]]
    # (detail for the summary, extra evidence) from a matching row.
    word: Callable[[Context, Any], tuple[str, dict[str, Any]]]
    # A course condition the rule applies under (a key of GUARDS): the scan tests it once
    # per session for all the rules sharing it, rather than once per rule.
    guard: str | None = None
    # The breach is the institution's (an expired licence, a suspension), its sessions only
    # the proof: one finding per institution, listing the sessions, not one per session.
    per_institution: bool = False


GUARDS: dict[str, Callable[[Context], ColumnElement[bool]]] = {
    "subject_type": subject_type_course,
    "judged": lambda ctx: and_(subject_type_course(ctx), in_rule_grades(ctx)),
}


def _day_table(ctx: Context) -> CTE:
    """The window's days as VALUES, joined on the session's local day number (days since
    1970-01-01 in Asia/Shanghai): kind, weekend, vacation, and the instants (UTC) at which
    the day's late-end limits fall, so "ends after 20:30 local" is a plain comparison."""
    late = {mode: parse_hhmm(str(ctx.param(f"late_end_{mode}"))) for mode in LATE_MODES}
    rows = [((d.day - EPOCH).days, d.kind, int(d.is_weekend_day), int(d.vacation is not None),
             *[d.lo + dt.timedelta(seconds=late[mode]) for mode in LATE_MODES])
            for d in window_calendar(ctx).days]
    table = values(column("day_no", Integer()), column("kind", String()),
                   column("weekend", Integer()), column("vacation", Integer()),
                   *[column(f"late_{mode}", UTCDateTime()) for mode in LATE_MODES],
                   name="days").data(rows)
    return table.cte("days")


def parse_hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def via_scan(ctx: Context, column: Any) -> Any:
    """`column`, or on SQLite when the window holds most sessions, the column hidden from the
    planner's indexes: reading the sessions straight through then beats a million index
    look-ups, whether by start time or from another table's side of a join (SQLite has no
    statistics on the range to know it). PostgreSQL's planner decides by itself."""
    if ctx.session.get_bind().dialect.name == "sqlite" and _window_is_most(ctx):
        return unindexed(column)
    return column


def window_clause(ctx: Context) -> ColumnElement[bool]:
    """The window's non-cancelled sessions."""
    starts = via_scan(ctx, ClassSession.starts_at)
    return and_(starts >= ctx.window.start, starts <= ctx.window.end,
                ClassSession.status != "cancelled")


def _window_is_most(ctx: Context) -> bool:
    cached = ctx.cache.get("window_is_most")
    if isinstance(cached, bool):
        return cached
    s = ClassSession
    inside = ctx.session.scalar(select(func.count()).select_from(s).where(
        s.starts_at >= ctx.window.start, s.starts_at <= ctx.window.end)) or 0
    # The highest id stands in for the table's size: counting a million rows costs more
    # than the whole 48-hour run may.
    total = ctx.session.scalar(select(func.max(s.id))) or 0
    result = inside * 4 > total
    ctx.cache["window_is_most"] = result
    return result


def scan_sessions(ctx: Context, rules: Sequence[SessionRule]) -> Iterator[Finding]:
    if not rules:
        return
    joined = Joined(venue=aliased(Venue, name="registered_venue"), day=_day_table(ctx))
    conditions = [rule.predicate(ctx, joined) for rule in rules]
    guards = {name: GUARDS[name](ctx) for name in {r.guard for r in rules if r.guard}}
    pairs = list(zip(rules, conditions, strict=True))
    # Selected per rule, for the rows returned; in WHERE each guard is tested once.
    flags = [(and_(guards[rule.guard], condition) if rule.guard else condition).label(f"r{i}")
             for i, (rule, condition) in enumerate(pairs)]
    matches = [and_(guard, or_(*[c for r, c in pairs if r.guard == name]))
               for name, guard in guards.items()]
    matches += [c for r, c in pairs if not r.guard]
    stmt = _joined_sessions(ctx, joined, flags).where(window_clause(ctx), or_(*matches))
    # Not a server-side cursor: PostgreSQL plans those for a fast start and without parallel
    # workers, which made this scan three times slower; the rows returned are only the
    # sessions that break something. SQLite's cursor reads lazily anyway.
    grouped: dict[tuple[str, int], InstitutionSessions] = {}
    for row in ctx.session.execute(stmt):
        for i, rule in enumerate(rules):
            if not row[len(row) - len(rules) + i]:
                continue
            if rule.per_institution:
                key = (rule.code, row.institution_id)
                if key not in grouped:
                    grouped[key] = InstitutionSessions(rule, row)
                grouped[key].add(ctx, row)
                continue
            detail, extra = rule.word(ctx, row)
            yield session_finding(ctx, rule.code, row, detail, **extra)
    for key in sorted(grouped):
        yield grouped[key].finding(ctx)


class InstitutionSessions:
    """The sessions one institution holds in breach of one rule, gathered while the scan
    streams (in no particular order): all of them counted, the earliest SESSIONS_SHOWN kept
    for the evidence, so memory stays bounded however many sessions there are."""

    def __init__(self, rule: SessionRule, row: Any) -> None:
        self.rule, self.first_row = rule, row
        self.count = 0
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.kept: list[tuple[dt.datetime, int, dict[str, Any]]] = []

    def add(self, ctx: Context, row: Any) -> None:
        self.count += 1
        self.first = row.starts_at if self.first is None else min(self.first, row.starts_at)
        self.last = row.starts_at if self.last is None else max(self.last, row.starts_at)
        self.kept.append((row.starts_at, row.id, _session_item(ctx, row)))
        if len(self.kept) >= 2 * SESSIONS_SHOWN:
            self.kept = sorted(self.kept, key=lambda k: k[:2])[:SESSIONS_SHOWN]

    def finding(self, ctx: Context) -> Finding:
        row, code = self.first_row, self.rule.code
        detail, extra = self.rule.word(ctx, row)
        shown = [item for _at, _id, item in sorted(self.kept, key=lambda k: k[:2])]
        shown = shown[:SESSIONS_SHOWN]
        assert self.first is not None and self.last is not None
        first, last = ctx.local(self.first).date(), ctx.local(self.last).date()
        span = zh_date(first) if first == last else f"{zh_date(first)}至{zh_date(last)}"
        more = f"，以下列出最早{len(shown)}节" if self.count > len(shown) else ""
        evidence = {"institution_id": row.institution_id,
                    "institution_name": row.institution_name, **extra,
                    "session_count": self.count, "sessions_shown": len(shown),
                    "first_session_date": first.isoformat(),
                    "last_session_date": last.isoformat(), "sessions": shown}
        summary = (f"{CATALOGUE[code].title_zh}：{row.institution_name}，{detail}，"
                   f"{span}共{self.count}节课{more}")
        return ctx.finding(code, institution_id=row.institution_id,
                           subject_type="institution", subject_id=row.institution_id,
                           summary=summary, evidence=evidence)


def _session_item(ctx: Context, row: Any) -> dict[str, Any]:
    """One session as the evidence lists it: id, local day and times, course."""
    starts, ends = ctx.local(row.starts_at), ctx.local(row.ends_at)
    return {"session_id": row.id, "date": starts.date().isoformat(),
            "starts_at_local": f"{starts:%H:%M}", "ends_at_local": f"{ends:%H:%M}",
            "course_id": row.course_id, "course_name": row.course_name}


def _joined_sessions(ctx: Context, joined: Joined, flags: list[Any]) -> Any:
    """Each session with what the rules read and word: course, teacher, institution, its
    registered venue (if any) and its local day; the rule flags last."""
    s, venue, day = ClassSession, joined.venue, joined.day
    return (select(s.id, s.institution_id, s.starts_at, s.ends_at, s.teacher_id,
                   Course.id.label("course_id"), Course.name.label("course_name"),
                   Course.subject, Course.mode, Course.grade_max,
                   Teacher.name.label("teacher_name"), Teacher.qualification_cert_no,
                   Institution.name.label("institution_name"),
                   Institution.status.label("institution_status"), Institution.status_reason,
                   Institution.license_valid_until, Institution.license_no,
                   Institution.licensed_modes,
                   func.coalesce(s.venue_id, Course.venue_id).label("venue_id"),
                   venue.id.label("registered_venue_id"), day.c.kind.label("day_kind"),
                   *flags)
            .join(Course, Course.id == via_scan(ctx, s.course_id))
            .join(Teacher, Teacher.id == via_scan(ctx, s.teacher_id))
            .join(Institution, Institution.id == via_scan(ctx, s.institution_id))
            .outerjoin(venue, and_(venue.id == func.coalesce(s.venue_id, Course.venue_id),
                                   venue.institution_id == s.institution_id))
            .outerjoin(day, day.c.day_no == local_day(s.starts_at, ctx.offset_seconds)))
