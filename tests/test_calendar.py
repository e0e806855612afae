"""The working calendar service: package, overrides, fallback, school years."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from supervision.compliance import calendar
from supervision.errors import Invalid, NotFound

D = dt.date


def test_a_statutory_holiday_is_told_from_a_plain_weekend(db: Session) -> None:
    national_day = calendar.day_info(db, D(2026, 10, 3))  # a Saturday inside the holiday
    plain_saturday = calendar.day_info(db, D(2026, 10, 17))
    assert (national_day.kind, national_day.name, national_day.source) == (
        "holiday", "National Day", "package")
    assert (plain_saturday.kind, plain_saturday.name, plain_saturday.source) == (
        "weekend", None, "package")


def test_an_adjusted_working_saturday_is_a_named_workday(db: Session) -> None:
    info = calendar.day_info(db, D(2026, 10, 10))
    assert (info.kind, info.name, info.source) == ("workday", "National Day", "package")
    assert calendar.is_working_day(db, D(2026, 10, 10))
    assert calendar.day_info(db, D(2026, 10, 12)).name is None  # an ordinary Monday


def test_a_year_the_package_does_not_know_falls_back_to_saturday_and_sunday(db: Session) -> None:
    friday, saturday = calendar.calendar_days(db, D(2027, 1, 1), D(2027, 1, 2))
    assert (friday.kind, friday.source) == ("workday", "fallback")
    assert (saturday.kind, saturday.source) == ("weekend", "fallback")
    assert not calendar.year_covered(db, 2027)
    assert calendar.year_covered(db, 2026)


def test_an_override_wins_over_the_package(db: Session) -> None:
    calendar.put_override(db, D(2026, 10, 12), kind="holiday", name="防汛停课")
    info = calendar.day_info(db, D(2026, 10, 12))
    assert (info.kind, info.name, info.source) == ("holiday", "防汛停课", "override")
    calendar.put_override(db, D(2026, 10, 12), kind="workday", name=None)
    assert calendar.day_info(db, D(2026, 10, 12)).kind == "workday"
    calendar.delete_override(db, D(2026, 10, 12))
    assert calendar.day_info(db, D(2026, 10, 12)).source == "package"


def test_loading_holidays_of_an_unknown_year_makes_the_table_that_years_schedule(
        db: Session) -> None:
    calendar.put_override(db, D(2027, 1, 1), kind="holiday", name="元旦")
    calendar.put_override(db, D(2027, 2, 20), kind="workday", name="春节调休")
    assert calendar.year_covered(db, 2027)
    days = {d.date: d for d in calendar.calendar_days(db, D(2027, 1, 1), D(2027, 2, 21))}
    assert (days[D(2027, 1, 1)].kind, days[D(2027, 1, 1)].source) == ("holiday", "override")
    assert (days[D(2027, 1, 4)].kind, days[D(2027, 1, 4)].source) == ("workday", "override")
    assert (days[D(2027, 1, 9)].kind, days[D(2027, 1, 9)].source) == ("weekend", "override")
    assert (days[D(2027, 2, 20)].kind, days[D(2027, 2, 20)].name) == ("workday", "春节调休")


def test_only_a_holiday_row_counts_as_loading_a_year(db: Session) -> None:
    calendar.put_override(db, D(2027, 3, 6), kind="workday", name="调休")
    assert not calendar.year_covered(db, 2027)
    assert calendar.day_info(db, D(2027, 3, 8)).source == "fallback"


def test_a_holiday_override_needs_a_name_and_a_known_kind(db: Session) -> None:
    with pytest.raises(Invalid) as err:
        calendar.put_override(db, D(2027, 1, 1), kind="holiday", name=None)
    assert "name" in err.value.errors
    with pytest.raises(Invalid):
        calendar.put_override(db, D(2027, 1, 1), kind="weekend", name="x")


def test_deleting_an_override_that_does_not_exist_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound):
        calendar.delete_override(db, D(2027, 5, 1))


def test_working_days_skip_holidays_and_count_adjusted_saturdays(db: Session) -> None:
    # 10-01..07 National Day, 10-08 Thu, 10-09 Fri, 10-10 an adjusted working Saturday.
    assert calendar.add_working_days(db, D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert calendar.add_working_days(db, D(2026, 9, 30), 0) == D(2026, 9, 30)


def test_working_days_use_overrides(db: Session) -> None:
    calendar.put_override(db, D(2026, 10, 9), kind="holiday", name="临时停课")
    assert calendar.add_working_days(db, D(2026, 9, 30), 3) == D(2026, 10, 12)


def test_working_days_cross_into_a_fallback_year_without_crashing(db: Session) -> None:
    assert calendar.add_working_days(db, D(2026, 12, 31), 1) == D(2027, 1, 1)
    assert calendar.add_working_days(db, D(2027, 1, 1), 1) == D(2027, 1, 4)
    calendar.put_override(db, D(2027, 1, 4), kind="holiday", name="元旦补休")
    assert calendar.add_working_days(db, D(2027, 1, 1), 1) == D(2027, 1, 5)


def test_fifteen_working_days_span_the_national_day_week(db: Session) -> None:
    # What consumption auto-confirmation relies on: 15 working days from 09-24.
    # 09-25..27 Mid-autumn, 10-01..07 National Day, 10-10 worked, 10-11/17/18 off.
    assert calendar.add_working_days(db, D(2026, 9, 24), 15) == D(2026, 10, 22)


def test_school_years_run_from_september_to_august() -> None:
    assert calendar.school_year_of(D(2026, 8, 31)) == "2025-2026"
    assert calendar.school_year_of(D(2026, 9, 1)) == "2026-2027"
    assert calendar.school_year_bounds("2026-2027") == (D(2026, 9, 1), D(2027, 8, 31))


def test_school_year_defaults_come_from_config(db: Session) -> None:
    info = calendar.school_year(db, "2026-2027")
    assert info is not None and info.source == "config"
    assert info.winter_vacation == (D(2027, 1, 23), D(2027, 2, 21))
    assert calendar.school_year_covered(db, "2026-2027")
    assert calendar.school_year_covered(db, D(2027, 3, 1))
    assert not calendar.school_year_covered(db, "2027-2028")


def test_a_school_year_row_replaces_the_config_default(db: Session) -> None:
    calendar.put_school_year(db, "2026-2027", winter=(D(2027, 1, 30), D(2027, 2, 28)),
                             summer=(D(2027, 7, 10), D(2027, 8, 31)))
    info = calendar.school_year(db, "2026-2027")
    assert info is not None and info.source == "table"
    assert info.winter_vacation == (D(2027, 1, 30), D(2027, 2, 28))
    names = [sy.name for sy in calendar.school_years(db)]
    assert names == sorted(names) and names.count("2026-2027") == 1


def test_vacation_periods_overlapping_a_range_are_listed(db: Session) -> None:
    periods = calendar.vacation_periods(db, D(2026, 8, 1), D(2027, 1, 31))
    assert [(p.school_year, p.kind, p.start, p.end) for p in periods] == [
        ("2025-2026", "summer", D(2026, 7, 4), D(2026, 8, 31)),
        ("2026-2027", "winter", D(2027, 1, 23), D(2027, 2, 21)),
    ]
    assert periods[1].name == "寒假"
    assert calendar.vacation_periods(db, D(2027, 9, 1), D(2027, 12, 31)) == []


@pytest.mark.parametrize(("name", "winter", "summer", "field"), [
    ("2026-2028", (D(2027, 1, 23), D(2027, 2, 21)), (D(2027, 7, 3), D(2027, 8, 31)), "name"),
    ("26-27", (D(2027, 1, 23), D(2027, 2, 21)), (D(2027, 7, 3), D(2027, 8, 31)), "name"),
    ("2026-2027", (D(2027, 2, 21), D(2027, 1, 23)), (D(2027, 7, 3), D(2027, 8, 31)),
     "winter_vacation.end"),
    ("2026-2027", (D(2027, 1, 23), D(2027, 2, 21)), (D(2027, 7, 3), D(2027, 9, 5)),
     "summer_vacation"),
    ("2026-2027", (D(2027, 1, 23), D(2027, 7, 21)), (D(2027, 7, 3), D(2027, 8, 31)),
     "summer_vacation"),
])
def test_a_malformed_school_year_is_refused_naming_the_field(
        db: Session, name: str, winter: tuple[D, D], summer: tuple[D, D], field: str) -> None:
    with pytest.raises(Invalid) as err:
        calendar.put_school_year(db, name, winter=winter, summer=summer)
    assert field in err.value.errors
