"""The working calendar: statutory holidays and adjusted working days (chinesecalendar), a
regulator-editable override table, Wuxi's school years (校历), and a Saturday/Sunday fallback
where no data exists.

Sources, strongest first: an override row for the date; the package (it knows 2004 to its
release year and raises NotImplementedError beyond); in a year the package does not know, the
statutory holidays themselves, which the law fixes (《全国年节及纪念日放假办法》, 2024
revision) and a lunar calendar dates ("fallback": computed, not the State Council's notice);
then, for such a year in which regulators have loaded holidays, the override table is that
year's schedule, so its other days are ordinary weekdays and weekends ("override"); otherwise
Saturday/Sunday as rest days ("fallback"). Only the notice says which days are swapped (调休),
so a year without package data or loaded holidays is never a silent guess: `year_covered` says
so and the engine raises CALENDAR_DATA_MISSING.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import chinese_calendar
from chinese_calendar import Holiday
from lunar_python import Lunar, Solar
from sqlalchemy import select
from sqlalchemy.orm import Session

from .access.policy import require_citywide_regulator
from .access.scope import Actor, policy_of
from .errors import Invalid, NotFound
from .models.compliance import CalendarOverride, SchoolYear

ONE_DAY = dt.timedelta(days=1)
VACATION_NAMES = {"winter": "寒假", "summer": "暑假"}
_SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{4})$")


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    kind: str  # holiday | workday | weekend
    name: str | None
    source: str  # package | override | fallback


@dataclass(frozen=True)
class VacationPeriod:
    school_year: str  # "2026-2027"
    kind: str  # winter | summer
    name: str  # 寒假 | 暑假
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class SchoolYearInfo:
    name: str
    winter_vacation: tuple[dt.date, dt.date]
    summer_vacation: tuple[dt.date, dt.date]
    source: str  # table | config

    def periods(self) -> list[VacationPeriod]:
        return [VacationPeriod(self.name, kind, VACATION_NAMES[kind], *span)
                for kind, span in (("winter", self.winter_vacation),
                                   ("summer", self.summer_vacation))]


# -- statutory days -------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def package_covers(year: int) -> bool:
    """Whether chinesecalendar has this year's State Council schedule."""
    try:
        chinese_calendar.get_holiday_detail(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


# The first year of the 2024 revision (春节 from 除夕, 劳动节 two days). Earlier years are the
# package's (2004 on), so the older rules are never computed.
STATUTORY_RULES_SINCE = 2025


@functools.lru_cache(maxsize=64)
def statutory_holidays(year: int) -> Mapping[dt.date, str]:
    """The statutory holidays of `year` as the law fixes them, named as the package names them
    (so a day reads the same whichever source it came from); no 调休 swaps, which only the
    State Council's yearly notice decides. Empty before STATUTORY_RULES_SINCE."""
    if year < STATUTORY_RULES_SINCE:
        return MappingProxyType({})
    new_year = _solar(Lunar.fromYmd(year, 1, 1).getSolar())  # 正月初一
    days = {
        dt.date(year, 1, 1): Holiday.new_years_day,
        # 除夕 is the eve of 正月初一, whether the twelfth month has 29 or 30 days.
        **{new_year + dt.timedelta(days=i): Holiday.spring_festival for i in range(-1, 3)},
        qingming_day(year): Holiday.tomb_sweeping_day,
        dt.date(year, 5, 1): Holiday.labour_day,
        dt.date(year, 5, 2): Holiday.labour_day,
        _solar(Lunar.fromYmd(year, 5, 5).getSolar()): Holiday.dragon_boat_festival,
        _solar(Lunar.fromYmd(year, 8, 15).getSolar()): Holiday.mid_autumn_festival,
        # Last, so a 中秋 inside 国庆 (2028-10-03) is named National Day, as the package
        # names 2020-10-01.
        **{dt.date(year, 10, d): Holiday.national_day for d in (1, 2, 3)},
    }
    # Read-only: the cache hands every caller the same mapping.
    return MappingProxyType({day: holiday.value for day, holiday in days.items()})


def qingming_day(year: int) -> dt.date:
    """The day (in China) of the 清明 solar term, April 4 or 5 these decades."""
    # The solar terms listed from the lunar year that holds mid-April: its 清明 is this year's.
    return _solar(Solar.fromYmd(year, 4, 15).getLunar().getJieQiTable()["清明"])


def _solar(solar: Solar) -> dt.date:
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


def _weekday_kind(day: dt.date) -> str:
    return "weekend" if day.weekday() >= 5 else "workday"


def _package_day(day: dt.date) -> DayInfo:
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    if on_holiday:
        # is_holiday() is true on plain weekends too: only a named day is a statutory holiday.
        return DayInfo(day, "holiday" if name else "weekend", name, "package")
    # A named working day on a weekend is an adjusted working day (调休上班).
    return DayInfo(day, "workday", name if day.weekday() >= 5 else None, "package")


def _overrides(session: Session, start: dt.date, end: dt.date) -> list[CalendarOverride]:
    return list(session.scalars(select(CalendarOverride).where(
        CalendarOverride.day >= start, CalendarOverride.day <= end)))


def calendar_days(session: Session, start: dt.date, end: dt.date) -> list[DayInfo]:
    """Every day of [start, end] with its kind and source, in one query for the overrides.

    The overrides of the whole years spanned are read, because a holiday row anywhere in a
    year the package does not know makes the override table that year's schedule.
    """
    if end < start:
        return []
    return _days_with(_overrides(session, dt.date(start.year, 1, 1), dt.date(end.year, 12, 31)),
                      start, end)


def _days_with(rows: list[CalendarOverride], start: dt.date, end: dt.date) -> list[DayInfo]:
    """calendar_days over the override rows of the years spanned, already read."""
    by_day = {row.day: row for row in rows}
    override_years = {row.day.year for row in rows if row.kind == "holiday"}
    days: list[DayInfo] = []
    for offset in range((end - start).days + 1):  # counted, so 9999-12-31 cannot overflow
        day = start + dt.timedelta(days=offset)
        row = by_day.get(day)
        if row is not None:
            days.append(DayInfo(day, row.kind, row.name, "override"))
        elif package_covers(day.year):
            days.append(_package_day(day))
        elif (name := statutory_holidays(day.year).get(day)) is not None:
            days.append(DayInfo(day, "holiday", name, "fallback"))
        else:
            # Never a workday on a Saturday or Sunday: only the notice (package or override)
            # makes one an adjusted working day.
            source = "override" if day.year in override_years else "fallback"
            days.append(DayInfo(day, _weekday_kind(day), None, source))
    return days


def day_info(session: Session, day: dt.date) -> DayInfo:
    return calendar_days(session, day, day)[0]


def is_working_day(session: Session, day: dt.date) -> bool:
    return day_info(session, day).kind == "workday"


def add_working_days(session: Session, start: dt.date, n: int) -> dt.date:
    """The date n working days after `start` (start itself not counted), overrides included.

    Reads the calendar a stretch at a time rather than a query per day.
    """
    return _working_days_after(session, start, n)[0]


def _working_days_after(session: Session, start: dt.date, n: int) -> tuple[dt.date, bool]:
    """add_working_days, and whether any override row of the years read took part."""
    day, remaining, overridden = start, n, False
    while remaining > 0:
        first, last = day + ONE_DAY, day + dt.timedelta(days=2 * remaining + 14)
        rows = _overrides(session, dt.date(first.year, 1, 1), dt.date(last.year, 12, 31))
        overridden = overridden or bool(rows)
        for info in _days_with(rows, first, last):
            day = info.date
            if info.kind == "workday":
                remaining -= 1
                if remaining == 0:
                    break
    return day, overridden


# add_working_days of the attendance hot path, per process: (start, n) -> (day, when read).
# Every posting asks the same question all day and the answer costs a round trip. Remembered
# only while no override row lies in the years read, so a test's rolled-back override (or a
# deleted one) is never remembered; an override added in another process is seen within
# WORKING_DAYS_TTL seconds, one added in this one at once (put_override/delete_override clear).
WORKING_DAYS_TTL = 5.0
_working_days_cache: dict[tuple[dt.date, int], tuple[dt.date, float]] = {}


def add_working_days_cached(session: Session, start: dt.date, n: int) -> dt.date:
    """add_working_days, remembered for a few seconds per process (see above)."""
    key, clock_now = (start, n), time.monotonic()
    hit = _working_days_cache.get(key)
    if hit is not None and clock_now - hit[1] < WORKING_DAYS_TTL:
        return hit[0]
    day, overridden = _working_days_after(session, start, n)
    if overridden:
        _working_days_cache.pop(key, None)
    else:
        if len(_working_days_cache) > 64:
            _working_days_cache.clear()
        _working_days_cache[key] = (day, clock_now)
    return day


def forget_working_days() -> None:
    _working_days_cache.clear()


def year_covered(session: Session, year: int) -> bool:
    """Whether the statutory schedule of `year` is known (package, or holidays loaded)."""
    if package_covers(year):
        return True
    found = session.scalar(select(CalendarOverride.id).where(
        CalendarOverride.kind == "holiday",
        CalendarOverride.day >= dt.date(year, 1, 1),
        CalendarOverride.day <= dt.date(year, 12, 31)).limit(1))
    return found is not None


def put_override(session: Session, actor: Actor, day: dt.date, *, kind: str,
                 name: str | None) -> DayInfo:
    """Create or replace the override of one date."""
    require_citywide_regulator(actor, "change the calendar")
    forget_working_days()
    if kind not in ("holiday", "workday"):
        raise Invalid.field("kind", "must be holiday or workday")
    if kind == "holiday" and not name:
        raise Invalid.field("name", "a statutory holiday needs its name (e.g. 春节)")
    row = session.scalars(select(CalendarOverride).where(CalendarOverride.day == day)).first()
    if row is None:
        row = CalendarOverride(day=day, kind=kind, name=name)
        session.add(row)
    else:
        row.kind, row.name = kind, name
    session.flush()
    return day_info(session, day)


def delete_override(session: Session, actor: Actor, day: dt.date) -> None:
    require_citywide_regulator(actor, "change the calendar")
    forget_working_days()
    row = session.scalars(select(CalendarOverride).where(CalendarOverride.day == day)).first()
    if row is None:
        raise NotFound("calendar override")
    session.delete(row)
    session.flush()


# -- school years ---------------------------------------------------------------------------

def school_year_of(day: dt.date) -> str:
    """The school year a date belongs to: September 1 to August 31."""
    first = day.year if day.month >= 9 else day.year - 1
    return f"{first}-{first + 1}"


def school_year_bounds(name: str) -> tuple[dt.date, dt.date]:
    match = _SCHOOL_YEAR.match(name)
    if match is None or int(match.group(2)) != int(match.group(1)) + 1:
        raise Invalid.field("name", "a school year is named like 2026-2027")
    first = int(match.group(1))
    if not 2000 <= first <= 2200:
        raise Invalid.field("name", "school year out of range")
    return dt.date(first, 9, 1), dt.date(first + 1, 8, 31)


def _from_config(session: Session, name: str) -> SchoolYearInfo | None:
    data = policy_of(session).get("school_years", {}).get(name)
    if not data:
        return None
    winter = tuple(dt.date.fromisoformat(d) for d in data["winter_vacation"])
    summer = tuple(dt.date.fromisoformat(d) for d in data["summer_vacation"])
    return SchoolYearInfo(name, (winter[0], winter[1]), (summer[0], summer[1]), "config")


def _from_row(row: SchoolYear) -> SchoolYearInfo:
    return SchoolYearInfo(row.name, (row.winter_start, row.winter_end),
                          (row.summer_start, row.summer_end), "table")


def school_year(session: Session, name: str) -> SchoolYearInfo | None:
    """The school year's vacations: the regulators' table first, then config's default."""
    row = session.scalars(select(SchoolYear).where(SchoolYear.name == name)).first()
    return _from_row(row) if row is not None else _from_config(session, name)


def school_years(session: Session) -> list[SchoolYearInfo]:
    rows = {row.name: _from_row(row) for row in session.scalars(select(SchoolYear))}
    for name in policy_of(session).get("school_years", {}):
        if name not in rows:
            info = _from_config(session, name)
            if info is not None:
                rows[name] = info
    return [rows[name] for name in sorted(rows)]


def school_year_covered(session: Session, name_or_day: str | dt.date) -> bool:
    name = school_year_of(name_or_day) if isinstance(name_or_day, dt.date) else name_or_day
    return school_year(session, name) is not None


def vacation_periods(session: Session, start: dt.date, end: dt.date) -> list[VacationPeriod]:
    """The configured vacations overlapping [start, end]; school years without data are
    simply absent (ask `school_year_covered`)."""
    periods: list[VacationPeriod] = []
    first = int(school_year_of(start)[:4])
    last = int(school_year_of(end)[:4])
    for year in range(first, last + 1):
        info = school_year(session, f"{year}-{year + 1}")
        if info is None:
            continue
        periods.extend(p for p in info.periods() if p.start <= end and p.end >= start)
    return periods


def _check_span(field: str, span: tuple[dt.date, dt.date],
                bounds: tuple[dt.date, dt.date]) -> None:
    start, end = span
    if start > end:
        raise Invalid.field(f"{field}.end", "must not be before start")
    if start < bounds[0] or end > bounds[1]:
        raise Invalid.field(field, f"must lie within the school year {bounds[0]} to {bounds[1]}")


def put_school_year(session: Session, actor: Actor, name: str, *, winter: tuple[dt.date, dt.date],
                    summer: tuple[dt.date, dt.date]) -> SchoolYearInfo:
    """Create or replace a school year's vacations."""
    require_citywide_regulator(actor, "change the school years")
    bounds = school_year_bounds(name)
    _check_span("winter_vacation", winter, bounds)
    _check_span("summer_vacation", summer, bounds)
    if winter[1] >= summer[0]:
        raise Invalid.field("summer_vacation", "must start after the winter vacation ends")
    row = session.scalars(select(SchoolYear).where(SchoolYear.name == name)).first()
    if row is None:
        row = SchoolYear(name=name)
        session.add(row)
    row.winter_start, row.winter_end = winter
    row.summer_start, row.summer_end = summer
    session.flush()
    return _from_row(row)

