"""The window's days: each local day's kind (holiday / workday / weekend) and vacation, built
once per run from the calendar service (a few dozen rows); scan.py joins them in SQL as a
VALUES table, rather than asking the calendar about each of a million sessions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ... import calendar
from .base import Context


@dataclass(frozen=True)
class LocalDay:
    day: dt.date
    kind: str  # holiday | workday | weekend
    name: str | None
    source: str  # package | override | fallback
    school_year: str
    vacation: str | None  # e.g. "2026-2027 寒假"
    lo: dt.datetime  # the instant the local day begins (UTC)
    hi: dt.datetime  # the instant the next local day begins

    @property
    def is_weekend_day(self) -> bool:
        return self.day.weekday() >= 5


@dataclass(frozen=True)
class WindowCalendar:
    days: list[LocalDay]
    # Days of a year whose State Council schedule is unknown (neither the package nor loaded
    # holidays): its statutory holidays are computed, but its 调休 swaps are not known, by year.
    missing_years: dict[str, list[LocalDay]]
    # Days whose school year has no vacation dates, by school year.
    missing_school_years: dict[str, list[LocalDay]]


def window_calendar(ctx: Context) -> WindowCalendar:
    cached = ctx.cache.get("calendar")
    if isinstance(cached, WindowCalendar):
        return cached
    first = ctx.local(ctx.window.start).date()
    last = ctx.local(ctx.window.end).date()
    infos = calendar.calendar_days(ctx.session, first, last)
    vacations = calendar.vacation_periods(ctx.session, first, last)
    covered = {name: calendar.school_year_covered(ctx.session, name)
               for name in {calendar.school_year_of(info.date) for info in infos}}
    days: list[LocalDay] = []
    for info in infos:
        vacation = next((f"{p.school_year} {p.name}" for p in vacations
                         if p.start <= info.date <= p.end), None)
        days.append(LocalDay(
            day=info.date, kind=info.kind, name=info.name, source=info.source,
            school_year=calendar.school_year_of(info.date), vacation=vacation,
            lo=ctx.utc_midnight(info.date),
            hi=ctx.utc_midnight(info.date + dt.timedelta(days=1))))
    # By year, not by each day's source: a computed holiday is "fallback" even in a year whose
    # schedule regulators have loaded.
    years_covered = {year: calendar.year_covered(ctx.session, year)
                     for year in {info.date.year for info in infos}}
    missing_years: dict[str, list[LocalDay]] = {}
    missing_school_years: dict[str, list[LocalDay]] = {}
    for day in days:
        if not years_covered[day.day.year]:
            missing_years.setdefault(str(day.day.year), []).append(day)
        if not covered[day.school_year]:
            missing_school_years.setdefault(day.school_year, []).append(day)
    result = WindowCalendar(days, missing_years, missing_school_years)
    ctx.cache["calendar"] = result
    return result


def days_by_date(ctx: Context) -> dict[dt.date, LocalDay]:
    cached = ctx.cache.get("days_by_date")
    if cached is None:
        cached = ctx.cache["days_by_date"] = {d.day: d for d in window_calendar(ctx).days}
    return cached
