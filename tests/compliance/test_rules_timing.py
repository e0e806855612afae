"""RULES.md §2: when subject-type training may happen. Each rule finds its planted violation
with the catalogue's severity and leaves the nearest compliant case alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from supervision import calendar
from supervision.access.scope import SYSTEM
from supervision.compliance.model import Window

from ..support.factories import Factory
from ..support.rules import at, only, run, subjects, world
from ..support.settings import with_policy

NATIONAL_DAY_AS_OF = at(2026, 9, 28, 9)  # window 09-21 .. 10-28: National Day, 10-10 調休
SUMMER_AS_OF = at(2026, 7, 10, 9)  # 2025-2026 summer vacation from 07-04
YEAR_END_AS_OF = at(2026, 12, 28, 9)  # window reaches into 2027, unknown to chinesecalendar


# -- holidays, weekends, adjusted working days, vacations -----------------------------------

def test_a_subject_session_on_national_day_is_a_high_holiday_finding(db: Session,
                                                                     make: Factory) -> None:
    w = world(make)
    holiday = w.session(at(2026, 10, 2, 10))
    w.session(at(2026, 10, 8, 18))  # the first working day after
    findings = run(db, "SUBJECT_ON_HOLIDAY", as_of=NATIONAL_DAY_AS_OF)
    assert subjects(findings) == {str(holiday.id)}
    finding = only(findings, holiday.id)
    assert finding.severity == "high"
    assert finding.subject_type == "session"
    assert finding.institution_id == w.institution.id
    assert finding.evidence["date"] == "2026-10-02"
    assert finding.evidence["day_name"] == "National Day"
    assert finding.evidence["teacher_id"] == w.teacher.id
    assert "2026年10月2日（星期五）" in finding.summary
    assert "法定节假日（国庆节）" in finding.summary and "National" not in finding.summary


def test_the_holiday_is_judged_by_the_local_date_not_the_utc_date(db: Session,
                                                                   make: Factory) -> None:
    w = world(make)
    last_minute = w.session(at(2026, 10, 7, 23, 30), minutes=20)  # 15:30 UTC on 10-07
    next_morning = w.session(at(2026, 10, 8, 0, 0), minutes=20)  # 16:00 UTC on 10-07
    before = w.session(at(2026, 9, 30, 23, 59), minutes=20)  # 15:59 UTC on 09-30
    found = subjects(run(db, "SUBJECT_ON_HOLIDAY", as_of=NATIONAL_DAY_AS_OF))
    assert str(last_minute.id) in found
    assert str(next_morning.id) not in found
    assert str(before.id) not in found


def test_a_holiday_on_a_saturday_is_a_holiday_not_a_weekend_finding(db: Session,
                                                                     make: Factory) -> None:
    w = world(make)
    saturday_holiday = w.session(at(2026, 10, 3, 10))
    assert subjects(run(db, "SUBJECT_ON_HOLIDAY", as_of=NATIONAL_DAY_AS_OF)) == {
        str(saturday_holiday.id)}
    assert run(db, "SUBJECT_ON_WEEKEND", as_of=NATIONAL_DAY_AS_OF) == []


def test_a_subject_session_on_a_saturday_is_a_high_weekend_finding(db: Session,
                                                                   make: Factory) -> None:
    w = world(make)
    saturday = w.session(at(2026, 12, 5, 10))
    friday = w.session(at(2026, 12, 4, 18))
    findings = run(db, "SUBJECT_ON_WEEKEND")
    assert subjects(findings) == {str(saturday.id)}
    assert only(findings, saturday.id).severity == "high"
    assert only(findings, saturday.id).evidence["weekday"] == "星期六"
    assert str(friday.id) not in subjects(findings)


def test_the_weekend_begins_at_local_midnight_and_ends_at_local_midnight(db: Session,
                                                                         make: Factory) -> None:
    w = world(make)
    friday_late = w.session(at(2026, 12, 4, 23, 59), minutes=1)
    saturday_first = w.session(at(2026, 12, 5, 0, 0), minutes=1)
    sunday_last = w.session(at(2026, 12, 6, 23, 59), minutes=1)
    monday_first = w.session(at(2026, 12, 7, 0, 0), minutes=1)
    found = subjects(run(db, "SUBJECT_ON_WEEKEND"))
    assert found == {str(saturday_first.id), str(sunday_last.id)}
    assert str(friday_late.id) not in found and str(monday_first.id) not in found


def test_an_adjusted_working_saturday_is_a_low_review_finding_and_not_a_weekend_one(
        db: Session, make: Factory) -> None:
    w = world(make)
    adjusted = w.session(at(2026, 10, 10, 10))  # 国庆调休上班
    plain_saturday = w.session(at(2026, 10, 17, 10))
    adjusted_findings = run(db, "SUBJECT_ON_ADJUSTED_WORKDAY", as_of=NATIONAL_DAY_AS_OF)
    assert subjects(adjusted_findings) == {str(adjusted.id)}
    assert only(adjusted_findings, adjusted.id).severity == "low"
    weekend = subjects(run(db, "SUBJECT_ON_WEEKEND", as_of=NATIONAL_DAY_AS_OF))
    assert weekend == {str(plain_saturday.id)}


def test_a_regulator_override_makes_a_saturday_an_adjusted_working_day(db: Session,
                                                                       make: Factory) -> None:
    w = world(make)
    saturday = w.session(at(2026, 12, 12, 10))
    assert str(saturday.id) in subjects(run(db, "SUBJECT_ON_WEEKEND"))
    calendar.put_override(db, SYSTEM, dt.date(2026, 12, 12), kind="workday", name="调休")
    assert str(saturday.id) not in subjects(run(db, "SUBJECT_ON_WEEKEND"))
    assert subjects(run(db, "SUBJECT_ON_ADJUSTED_WORKDAY")) == {str(saturday.id)}


def test_a_weekday_session_in_the_summer_vacation_is_a_high_finding(db: Session,
                                                                    make: Factory) -> None:
    w = world(make)
    in_vacation = w.session(at(2026, 7, 6, 10))  # Monday; vacation 07-04 .. 08-31
    day_before = w.session(at(2026, 7, 3, 18))  # Friday, the last school day
    findings = run(db, "SUBJECT_IN_VACATION", as_of=SUMMER_AS_OF)
    assert subjects(findings) == {str(in_vacation.id)}
    assert only(findings, in_vacation.id).severity == "high"
    assert only(findings, in_vacation.id).evidence["vacation"] == "2025-2026 暑假"
    assert str(day_before.id) not in subjects(findings)


def test_vacation_dates_edited_by_the_regulator_are_used(db: Session, make: Factory) -> None:
    w = world(make)
    session = w.session(at(2026, 7, 6, 10))
    calendar.put_school_year(db, SYSTEM, "2025-2026", winter=(dt.date(2026, 1, 24), dt.date(2026,
                                                                                            2, 24)),
                             summer=(dt.date(2026, 7, 11), dt.date(2026, 8, 31)))
    assert run(db, "SUBJECT_IN_VACATION", as_of=SUMMER_AS_OF) == []
    assert session.id


# -- who the timing rules apply to ----------------------------------------------------------

def test_the_timing_rules_judge_grades_one_to_nine_only(db: Session, make: Factory) -> None:
    w = world(make)
    grade_nine = w.course_like(grade_min=9, grade_max=9)
    senior = w.course_like(grade_min=10, grade_max=12)
    judged = w.session(at(2026, 12, 5, 10), course=grade_nine)
    not_judged = w.session(at(2026, 12, 5, 10), course=senior)
    found = subjects(run(db, "SUBJECT_ON_WEEKEND"))
    assert str(judged.id) in found and str(not_judged.id) not in found


def test_the_grade_range_comes_from_config(db: Session, make: Factory) -> None:
    w = world(make)
    senior = w.course_like(grade_min=10, grade_max=12)
    session = w.session(at(2026, 12, 5, 10), course=senior)
    db.info["settings"] = with_policy(db.info["settings"], "rules", subject_rules_grade_max=12)

    assert str(session.id) in subjects(run(db, "SUBJECT_ON_WEEKEND"))


def test_a_course_declared_non_subject_that_teaches_math_is_judged_as_subject_type(
        db: Session, make: Factory) -> None:
    w = world(make)
    disguised = w.course_like(category="non_subject", subject="math", name="趣味思维")
    art = w.course_like(category="non_subject", subject="art", name="少儿美术")
    flagged = w.session(at(2026, 12, 5, 10), course=disguised)
    fine = w.session(at(2026, 12, 5, 10), course=art)
    found = subjects(run(db, "SUBJECT_ON_WEEKEND"))
    assert str(flagged.id) in found and str(fine.id) not in found


def test_cancelled_sessions_are_never_judged(db: Session, make: Factory) -> None:
    w = world(make)
    w.session(at(2026, 12, 5, 10), status="cancelled")
    w.session(at(2026, 12, 5, 20, 0), minutes=90, status="cancelled")
    assert run(db, "SUBJECT_ON_WEEKEND") == []
    assert run(db, "LATE_END_OFFLINE") == []


def test_only_sessions_starting_inside_the_window_are_judged(db: Session,
                                                             make: Factory) -> None:
    w = world(make)
    inside = w.session(at(2026, 12, 5, 10))
    outside = w.session(at(2027, 1, 9, 10))
    window = Window(as_of=at(2026, 12, 1, 9), start=at(2026, 12, 1, 9), end=at(2026, 12, 31, 9))
    found = subjects(run(db, "SUBJECT_ON_WEEKEND", window=window))
    assert found == {str(inside.id)}
    assert str(outside.id) not in found


# -- online sessions ------------------------------------------------------------------------

def _online(make: Factory) -> tuple:  # type: ignore[type-arg]
    w = world(make)
    course = w.course_like(mode="online", minutes_per_class_hour=30, venue_id=None,
                           price_per_class_hour_fen=1500, name="初二数学网课")
    return w, course


def test_an_online_session_of_31_minutes_is_too_long_and_30_is_not(db: Session,
                                                                   make: Factory) -> None:
    w, course = _online(make)
    long = w.session(at(2026, 12, 2, 19), minutes=31, course=course)
    ok = w.session(at(2026, 12, 3, 19), minutes=30, course=course)
    findings = run(db, "ONLINE_SESSION_TOO_LONG")
    assert subjects(findings) == {str(long.id)}
    assert only(findings, long.id).severity == "medium"
    assert only(findings, long.id).evidence["minutes"] == 31
    assert only(findings, long.id).evidence["limit_minutes"] == 30
    assert str(ok.id) not in subjects(findings)


def test_an_offline_session_of_90_minutes_is_not_an_online_finding(db: Session,
                                                                   make: Factory) -> None:
    w = world(make)
    w.session(at(2026, 12, 2, 18), minutes=90)
    assert run(db, "ONLINE_SESSION_TOO_LONG") == []


def test_a_break_under_ten_minutes_between_online_sessions_is_flagged_on_the_later(
        db: Session, make: Factory) -> None:
    w, course = _online(make)
    first = w.session(at(2026, 12, 2, 18, 0), minutes=30, course=course)
    second = w.session(at(2026, 12, 2, 18, 39), minutes=30, course=course)  # 9 minutes
    third = w.session(at(2026, 12, 2, 19, 19), minutes=30, course=course)  # 10 minutes
    findings = run(db, "ONLINE_INTERVAL_TOO_SHORT")
    assert subjects(findings) == {str(second.id)}
    finding = only(findings, second.id)
    assert finding.severity == "medium"
    assert finding.evidence["interval_minutes"] == 9
    assert finding.evidence["previous_ends_at_local"] == "18:30"
    assert str(first.id) not in subjects(findings) and str(third.id) not in subjects(findings)


def test_the_break_rule_compares_one_course_on_one_local_day_and_catches_overlaps(
        db: Session, make: Factory) -> None:
    w, course = _online(make)
    other = w.course_like(mode="online", minutes_per_class_hour=30, venue_id=None,
                          price_per_class_hour_fen=1500)
    w.session(at(2026, 12, 2, 18, 0), minutes=30, course=course)
    w.session(at(2026, 12, 2, 18, 35), minutes=30, course=other)  # another course
    w.session(at(2026, 12, 2, 23, 25), minutes=30, course=course)
    next_day = w.session(at(2026, 12, 3, 0, 0), minutes=30, course=course)  # other local day
    w.session(at(2026, 12, 4, 18, 0), minutes=30, course=course)
    overlapping = w.session(at(2026, 12, 4, 18, 20), minutes=30, course=course)
    cancelled_gap = w.session(at(2026, 12, 5, 9, 0), minutes=30, course=course,
                              status="cancelled")
    after_cancelled = w.session(at(2026, 12, 5, 9, 35), minutes=30, course=course)
    found = subjects(run(db, "ONLINE_INTERVAL_TOO_SHORT"))
    assert found == {str(overlapping.id)}
    assert str(next_day.id) not in found
    assert cancelled_gap.id and after_cancelled.id


def test_an_online_session_ending_at_21_00_is_fine_and_21_01_is_late(db: Session,
                                                                     make: Factory) -> None:
    w, course = _online(make)
    on_time = w.session(at(2026, 12, 2, 20, 30), minutes=30, course=course)
    late = w.session(at(2026, 12, 3, 20, 31), minutes=30, course=course)
    findings = run(db, "LATE_END_ONLINE")
    assert subjects(findings) == {str(late.id)}
    assert only(findings, late.id).severity == "medium"
    assert only(findings, late.id).evidence["ends_at_local"] == "21:01"
    assert only(findings, late.id).evidence["limit"] == "21:00"
    assert str(on_time.id) not in subjects(findings)
    assert run(db, "LATE_END_OFFLINE") == []


def test_an_offline_session_ending_at_20_30_is_fine_and_20_31_is_late(db: Session,
                                                                      make: Factory) -> None:
    w = world(make)
    on_time = w.session(at(2026, 12, 2, 19, 0), minutes=90)
    late = w.session(at(2026, 12, 3, 19, 1), minutes=90)
    findings = run(db, "LATE_END_OFFLINE")
    assert subjects(findings) == {str(late.id)}
    assert only(findings, late.id).severity == "medium"
    assert only(findings, late.id).evidence["ends_at_local"] == "20:31"
    assert only(findings, late.id).evidence["limit"] == "20:30"
    assert str(on_time.id) not in subjects(findings)


def test_a_session_ending_after_local_midnight_is_late_whatever_the_clock_says(
        db: Session, make: Factory) -> None:
    w = world(make)
    overnight = w.session(at(2026, 12, 2, 23, 30), minutes=60)  # ends 00:30 the next day
    findings = run(db, "LATE_END_OFFLINE")
    assert subjects(findings) == {str(overnight.id)}
    assert only(findings, overnight.id).evidence["ends_on_local"] == "2026-12-03"


def test_a_late_session_of_a_non_subject_course_is_not_judged(db: Session,
                                                              make: Factory) -> None:
    w = world(make)
    art = w.course_like(category="non_subject", subject="art", name="少儿美术")
    w.session(at(2026, 12, 2, 20, 0), minutes=90, course=art)
    assert run(db, "LATE_END_OFFLINE") == []


# -- preschool ------------------------------------------------------------------------------

def test_an_online_course_for_preschool_children_is_high_whatever_its_category(
        db: Session, make: Factory) -> None:
    w = world(make)
    online_art = w.course_like(category="non_subject", subject="art", mode="online",
                               venue_id=None, grade_min=0, grade_max=1, name="幼儿线上美术")
    offline_art = w.course_like(category="non_subject", subject="art", grade_min=0,
                                grade_max=0, name="幼儿美术")
    online_grade_one = w.course_like(category="non_subject", subject="art", mode="online",
                                     venue_id=None, grade_min=1, grade_max=2)
    findings = run(db, "PRESCHOOL_ONLINE")
    assert subjects(findings) == {str(online_art.id)}
    assert only(findings, online_art.id).severity == "high"
    assert only(findings, online_art.id).subject_type == "course"
    assert offline_art.id and online_grade_one.id


def test_a_subject_course_for_preschool_children_is_high_and_foreign_languages_count(
        db: Session, make: Factory) -> None:
    w = world(make)
    english = w.course_like(subject="english", grade_min=0, grade_max=0, name="幼儿英语")
    art = w.course_like(category="non_subject", subject="art", grade_min=0, grade_max=0)
    grade_one_english = w.course_like(subject="english", grade_min=1, grade_max=1)
    findings = run(db, "PRESCHOOL_SUBJECT")
    assert subjects(findings) == {str(english.id)}
    assert only(findings, english.id).severity == "high"
    assert art.id and grade_one_english.id


# -- missing calendar data ------------------------------------------------------------------

def test_a_session_in_a_year_without_holiday_data_raises_one_low_calendar_finding(
        db: Session, make: Factory) -> None:
    w = world(make)
    w.session(at(2027, 1, 5, 18))
    w.session(at(2027, 1, 6, 18))
    findings = run(db, "CALENDAR_DATA_MISSING", as_of=YEAR_END_AS_OF)
    assert [(f.subject_type, f.subject_id, f.severity) for f in findings] == [
        ("calendar", "2027", "low")]
    assert findings[0].evidence["sessions_affected"] == 2
    assert findings[0].institution_id is None


def test_the_engine_falls_back_to_saturday_and_sunday_in_an_unknown_year(db: Session,
                                                                         make: Factory) -> None:
    w = world(make)
    saturday = w.session(at(2027, 1, 9, 10))
    weekday = w.session(at(2027, 1, 6, 18))
    findings = run(db, "SUBJECT_ON_WEEKEND", as_of=YEAR_END_AS_OF)
    assert subjects(findings) == {str(saturday.id)}
    assert only(findings, saturday.id).evidence["calendar_source"] == "fallback"
    assert str(weekday.id) not in subjects(findings)


def test_no_calendar_finding_without_sessions_in_the_unknown_year_or_once_it_is_loaded(
        db: Session, make: Factory) -> None:
    w = world(make)
    w.session(at(2026, 12, 29, 18))
    assert run(db, "CALENDAR_DATA_MISSING", as_of=YEAR_END_AS_OF) == []
    w.session(at(2027, 1, 5, 18))
    assert len(run(db, "CALENDAR_DATA_MISSING", as_of=YEAR_END_AS_OF)) == 1
    calendar.put_override(db, SYSTEM, dt.date(2027, 1, 1), kind="holiday", name="元旦")
    assert run(db, "CALENDAR_DATA_MISSING", as_of=YEAR_END_AS_OF) == []


def test_a_school_year_without_vacation_dates_raises_a_calendar_finding(db: Session,
                                                                        make: Factory) -> None:
    w = world(make)
    calendar.put_override(db, SYSTEM, dt.date(2027, 10, 1), kind="holiday", name="国庆节")
    w.session(at(2027, 9, 6, 18))
    as_of = at(2027, 8, 25, 9)
    findings = run(db, "CALENDAR_DATA_MISSING", as_of=as_of)
    assert [(f.subject_id, f.severity) for f in findings] == [("2027-2028", "low")]
    calendar.put_school_year(db, SYSTEM, "2027-2028", winter=(dt.date(2028, 1, 22), dt.date(2028,
                                                                                            2, 20)),
                             summer=(dt.date(2028, 7, 1), dt.date(2028, 8, 31)))
    assert run(db, "CALENDAR_DATA_MISSING", as_of=as_of) == []
