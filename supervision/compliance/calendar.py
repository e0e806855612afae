"""The working calendar: statutory holidays and adjusted working days (chinesecalendar), a
regulator-editable override table, and a Saturday/Sunday fallback where data is missing.

FIRST VERSION: package + fallback only; the override table and school years come next.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    kind: str  # holiday | workday | weekend
    name: str | None
    source: str  # package | override | fallback


def day_info(session: Session, day: dt.date) -> DayInfo:
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        kind = "weekend" if day.weekday() >= 5 else "workday"
        return DayInfo(day, kind, None, "fallback")
    if on_holiday:
        return DayInfo(day, "holiday" if name else "weekend", name, "package")
    return DayInfo(day, "workday", name if day.weekday() >= 5 else None, "package")


def is_working_day(session: Session, day: dt.date) -> bool:
    return day_info(session, day).kind == "workday"


def add_working_days(session: Session, start: dt.date, n: int) -> dt.date:
    """The date n working days after `start` (start itself not counted)."""
    day = start
    remaining = n
    while remaining > 0:
        day += dt.timedelta(days=1)
        if is_working_day(session, day):
            remaining -= 1
    return day
