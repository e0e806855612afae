"""The working calendar service: package, overrides, fallback, school years."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from sqlalchemy.orm import Session

from supervision import calendar
from supervision.access.scope import SYSTEM
from supervision.errors import Invalid, NotFound

from ..support.factories import Factory
from ..support.rules import at, run, subjects, world

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


def test_a_year_the_package_does_not_know_has_its_statutory_holidays_and_weekends(
        db: Session) -> None:
    new_year, saturday, sunday, monday = calendar.calendar_days(db, D(2027, 1, 1), D(2027, 1, 4))
    assert (new_year.kind, new_year.name, new_year.source) == (
        "holiday", "New Year's Day", "fallback")
    assert (saturday.kind, saturday.name, saturday.source) == ("weekend", None, "fallback")
    assert (sunday.kind, sunday.source) == ("weekend", "fallback")
    assert (monday.kind, monday.source) == ("workday", "fallback")
    # Its 调休 swaps are still unknown, so the year is not covered (CALENDAR_DATA_MISSING).
    assert not calendar.year_covered(db, 2027)
    assert calendar.year_covered(db, 2026)


def test_an_override_wins_over_the_package(db: Session) -> None:
    calendar.put_override(db, SYSTEM, D(2026, 10, 12), kind="holiday", name="防汛停课")
    info = calendar.day_info(db, D(2026, 10, 12))
    assert (info.kind, info.name, info.source) == ("holiday", "防汛停课", "override")
    calendar.put_override(db, SYSTEM, D(2026, 10, 12), kind="workday", name=None)
    assert calendar.day_info(db, D(2026, 10, 12)).kind == "workday"
    calendar.delete_override(db, SYSTEM, D(2026, 10, 12))
    assert calendar.day_info(db, D(2026, 10, 12)).source == "package"


def test_loading_holidays_of_an_unknown_year_makes_the_table_that_years_schedule(
        db: Session) -> None:
    calendar.put_override(db, SYSTEM, D(2027, 1, 1), kind="holiday", name="元旦")
    calendar.put_override(db, SYSTEM, D(2027, 2, 20), kind="workday", name="春节调休")
    assert calendar.year_covered(db, 2027)
    days = {d.date: d for d in calendar.calendar_days(db, D(2027, 1, 1), D(2027, 2, 21))}
    assert (days[D(2027, 1, 1)].kind, days[D(2027, 1, 1)].source) == ("holiday", "override")
    assert (days[D(2027, 1, 4)].kind, days[D(2027, 1, 4)].source) == ("workday", "override")
    assert (days[D(2027, 1, 9)].kind, days[D(2027, 1, 9)].source) == ("weekend", "override")
    assert (days[D(2027, 2, 20)].kind, days[D(2027, 2, 20)].name) == ("workday", "春节调休")


def test_only_a_holiday_row_counts_as_loading_a_year(db: Session) -> None:
    calendar.put_override(db, SYSTEM, D(2027, 3, 6), kind="workday", name="调休")
    assert not calendar.year_covered(db, 2027)
    assert calendar.day_info(db, D(2027, 3, 8)).source == "fallback"


# -- statutory holidays beyond the package's data -------------------------------------------
# Known answers typed from the real calendar (not from the code under test): 除夕 2027 is
# Friday 2027-02-05 (初一 02-06), 端午 2027-06-09, 中秋 2027-09-15, 清明 2027-04-05.

NEW_YEAR, SPRING, QINGMING, LABOUR = ("New Year's Day", "Spring Festival", "Tomb-sweeping Day",
                                      "Labour Day")
DRAGON_BOAT, MID_AUTUMN, NATIONAL = "Dragon Boat Festival", "Mid-autumn Festival", "National Day"


def test_the_statutory_holidays_of_2027_are_the_thirteen_days_the_law_fixes() -> None:
    assert dict(calendar.statutory_holidays(2027)) == {
        D(2027, 1, 1): NEW_YEAR,
        D(2027, 2, 5): SPRING, D(2027, 2, 6): SPRING, D(2027, 2, 7): SPRING,
        D(2027, 2, 8): SPRING,
        D(2027, 4, 5): QINGMING,
        D(2027, 5, 1): LABOUR, D(2027, 5, 2): LABOUR,
        D(2027, 6, 9): DRAGON_BOAT,
        D(2027, 9, 15): MID_AUTUMN,
        D(2027, 10, 1): NATIONAL, D(2027, 10, 2): NATIONAL, D(2027, 10, 3): NATIONAL,
    }


def test_spring_festival_2028_runs_from_new_years_eve_in_january() -> None:
    # 初一 2028-01-26, so 除夕 is 01-25; 中秋 2028 (10-03) falls inside 国庆.
    holidays = calendar.statutory_holidays(2028)
    assert sorted(d for d, name in holidays.items() if name == SPRING) == [
        D(2028, 1, 25), D(2028, 1, 26), D(2028, 1, 27), D(2028, 1, 28)]
    assert holidays[D(2028, 4, 4)] == QINGMING
    assert holidays[D(2028, 5, 28)] == DRAGON_BOAT
    assert holidays[D(2028, 10, 3)] == NATIONAL
    assert len(holidays) == 12  # 13 statutory days, two on one date


@pytest.mark.parametrize(("year", "day"), [
    (2024, D(2024, 4, 4)), (2025, D(2025, 4, 4)), (2026, D(2026, 4, 5)),
    (2027, D(2027, 4, 5)), (2028, D(2028, 4, 4)),
])
def test_qingming_is_the_day_of_the_solar_term(year: int, day: D) -> None:
    assert calendar.qingming_day(year) == day


def test_qingming_agrees_with_the_state_councils_schedule_since_it_became_a_holiday() -> None:
    # 清明 has been a holiday since 2008; the package holds every notice from then to 2026.
    for year in range(2008, 2027):
        assert chinese_calendar.get_holiday_detail(calendar.qingming_day(year)) == (
            True, QINGMING), year


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_computed_holidays_are_among_the_state_councils_in_years_the_package_knows(
        year: int) -> None:
    # An independent check of the computation: the package's data is the State Council's.
    computed = calendar.statutory_holidays(year)
    assert len(computed) == 13
    for day, name in computed.items():
        assert chinese_calendar.get_holiday_detail(day) == (True, name), day


def test_before_the_2024_revision_nothing_is_computed() -> None:
    # Its rules (除夕, a second 劳动节 day) are not the older years' rules.
    assert dict(calendar.statutory_holidays(2024)) == {}


def test_the_package_still_answers_for_the_years_it_knows(db: Session) -> None:
    # 2026-02-15 (Sunday) and 02-20..23 are 春节 only by the notice, not by the law's four days.
    days = {d.date: d for d in calendar.calendar_days(db, D(2026, 2, 14), D(2026, 2, 23))}
    assert {d.source for d in days.values()} == {"package"}
    assert (days[D(2026, 2, 14)].kind, days[D(2026, 2, 14)].name) == ("workday", SPRING)
    assert (days[D(2026, 2, 23)].kind, days[D(2026, 2, 23)].name) == ("holiday", SPRING)


def test_a_weekend_day_is_never_a_workday_by_fallback(db: Session) -> None:
    def weekend_workdays() -> list[calendar.DayInfo]:
        return [d for year in (2027, 2031)
                for d in calendar.calendar_days(db, D(year, 1, 1), D(year, 12, 31))
                if d.date.weekday() >= 5 and d.kind == "workday"]

    assert weekend_workdays() == []
    calendar.put_override(db, SYSTEM, D(2027, 2, 9), kind="holiday", name="春节")  # 2027 loaded
    assert weekend_workdays() == []
    # Only the notice, here an override, makes a Saturday an adjusted working day.
    calendar.put_override(db, SYSTEM, D(2027, 2, 20), kind="workday", name="春节调休")
    assert [(d.date, d.source) for d in weekend_workdays()] == [(D(2027, 2, 20), "override")]


def test_a_regulators_override_wins_over_a_computed_holiday(db: Session) -> None:
    calendar.put_override(db, SYSTEM, D(2027, 1, 1), kind="workday", name=None)
    assert calendar.day_info(db, D(2027, 1, 1)) == calendar.DayInfo(
        D(2027, 1, 1), "workday", None, "override")
    calendar.delete_override(db, SYSTEM, D(2027, 1, 1))
    assert calendar.day_info(db, D(2027, 1, 1)) == calendar.DayInfo(
        D(2027, 1, 1), "holiday", NEW_YEAR, "fallback")


def test_once_a_year_is_loaded_its_computed_holidays_still_stand_beside_the_table(
        db: Session) -> None:
    calendar.put_override(db, SYSTEM, D(2027, 2, 9), kind="holiday", name="春节")
    assert calendar.year_covered(db, 2027)
    days = {d.date: d for d in calendar.calendar_days(db, D(2027, 2, 5), D(2027, 2, 10))}
    assert [(d.kind, d.source) for d in days.values()] == [
        ("holiday", "fallback")] * 4 + [("holiday", "override"), ("workday", "override")]


def test_a_subject_session_on_new_years_day_2027_is_a_holiday_finding(db: Session,
                                                                       make: Factory) -> None:
    w = world(make)
    new_year = w.session(at(2027, 1, 1, 10))
    monday = w.session(at(2027, 1, 4, 18))
    as_of = at(2026, 12, 28, 9)  # the window reaches into 2027, which the package lacks
    findings = run(db, "SUBJECT_ON_HOLIDAY", as_of=as_of)
    assert subjects(findings) == {str(new_year.id)}
    assert findings[0].evidence["day_name"] == NEW_YEAR
    assert findings[0].evidence["calendar_source"] == "fallback"
    # The 调休 swaps of 2027 are still unknown: the system alert stays.
    missing = run(db, "CALENDAR_DATA_MISSING", as_of=as_of)
    assert [(f.subject_id, f.evidence["missing"]) for f in missing] == [
        ("2027", "statutory_holidays")]
    assert missing[0].evidence["sessions_affected"] == 2
    assert str(monday.id) not in subjects(run(db, "SUBJECT_ON_WEEKEND", as_of=as_of))
    # Loading the year (one holiday row) ends the alert although 元旦 is still computed.
    calendar.put_override(db, SYSTEM, D(2027, 2, 9), kind="holiday", name="春节")
    assert run(db, "CALENDAR_DATA_MISSING", as_of=as_of) == []
    assert subjects(run(db, "SUBJECT_ON_HOLIDAY", as_of=as_of)) == {str(new_year.id)}


def test_a_holiday_override_needs_a_name_and_a_known_kind(db: Session) -> None:
    with pytest.raises(Invalid) as err:
        calendar.put_override(db, SYSTEM, D(2027, 1, 1), kind="holiday", name=None)
    assert "name" in err.value.errors
    with pytest.raises(Invalid):
        calendar.put_override(db, SYSTEM, D(2027, 1, 1), kind="weekend", name="x")


def test_deleting_an_override_that_does_not_exist_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound):
        calendar.delete_override(db, SYSTEM, D(2027, 5, 1))


def test_working_days_skip_holidays_and_count_adjusted_saturdays(db: Session) -> None:
    # 10-01..07 National Day, 10-08 Thu, 10-09 Fri, 10-10 an adjusted working Saturday.
    assert calendar.add_working_days(db, D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert calendar.add_working_days(db, D(2026, 9, 30), 0) == D(2026, 9, 30)


def test_working_days_use_overrides(db: Session) -> None:
    calendar.put_override(db, SYSTEM, D(2026, 10, 9), kind="holiday", name="临时停课")
    assert calendar.add_working_days(db, D(2026, 9, 30), 3) == D(2026, 10, 12)


def test_working_days_cross_into_a_fallback_year_skipping_its_statutory_holidays(
        db: Session) -> None:
    # 2027-01-01 (Friday) is 元旦, then a weekend.
    assert calendar.add_working_days(db, D(2026, 12, 31), 1) == D(2027, 1, 4)
    assert calendar.add_working_days(db, D(2027, 1, 1), 1) == D(2027, 1, 4)
    # 2027-02-05 (Friday, 除夕) to 02-08 (Monday, 初三) is 春节.
    assert calendar.add_working_days(db, D(2027, 2, 4), 1) == D(2027, 2, 9)
    calendar.put_override(db, SYSTEM, D(2027, 1, 4), kind="holiday", name="元旦补休")
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
    calendar.put_school_year(db, SYSTEM, "2026-2027", winter=(D(2027, 1, 30), D(2027, 2, 28)),
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
        calendar.put_school_year(db, SYSTEM, name, winter=winter, summer=summer)
    assert field in err.value.errors
