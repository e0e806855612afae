"""Helpers for the rule tests (tests/test_rules_*.py), and tests of the SQL building blocks
the rules share: local time from stored UTC, and certificate reach, on both databases."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI as SH
from supervision.compliance.model import Finding, Window
from supervision.compliance.rules import evaluate_all
from supervision.compliance.rules.sql import epoch_day, local_day, local_seconds
from supervision.compliance.rules.teachers import cert_reach
from supervision.identifiers import LEVEL_MAX_GRADE, cert_covers_grade, fake_cert_no
from supervision.models import ClassSession, Course, Institution, Teacher, Venue

from .factories import Factory

# A Tuesday; the default window (7 days back, 30 ahead) lies inside 2026, which
# chinesecalendar 1.11 covers, and inside the configured 2026-2027 school year.
AS_OF = dt.datetime(2026, 12, 1, 9, 0, tzinfo=SH)


def at(year: int, month: int, day: int, hour: int = 18, minute: int = 0,
       second: int = 0) -> dt.datetime:
    """An Asia/Shanghai local time."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SH)


def run(db: Session, code: str, *, as_of: dt.datetime = AS_OF,
        window: Window | None = None) -> list[Finding]:
    return list(evaluate_all(db, window or Window.around(as_of), codes=[code]))


def subjects(findings: list[Finding], subject_type: str | None = None) -> set[str]:
    return {f.subject_id for f in findings
            if subject_type is None or f.subject_type == subject_type}


def only(findings: list[Finding], subject_id: Any) -> Finding:
    matching = [f for f in findings if f.subject_id == str(subject_id)]
    assert len(matching) == 1, findings
    return matching[0]


@dataclass
class World:
    """A compliant institution with a venue, a qualified teacher and a subject course."""

    make: Factory
    institution: Institution
    venue: Venue
    teacher: Teacher
    course: Course

    def session(self, starts_at: dt.datetime, minutes: int = 90,
                course: Course | None = None, **kw: Any) -> ClassSession:
        return self.make.session_of(course or self.course, self.teacher, starts_at=starts_at,
                                    minutes=minutes, **kw)

    def course_like(self, **kw: Any) -> Course:
        values: dict[str, Any] = {"venue_id": self.venue.id}
        values.update(kw)
        return self.make.course(self.institution, **values)


def world(make: Factory, institution: dict[str, Any] | None = None,
          **course: Any) -> World:
    inst = make.institution(**(institution or {}))
    venue = make.venue(inst)
    teacher = make.teacher(inst)
    values: dict[str, Any] = {"venue_id": venue.id}
    values.update(course)
    return World(make, inst, venue, teacher, make.course(inst, **values))


# -- the SQL building blocks ----------------------------------------------------------------

moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1),
                       timezones=st.just(dt.UTC)).map(lambda m: m.replace(microsecond=0))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=moments)
def test_local_day_and_time_in_sql_match_python_for_any_instant(db: Session, make: Factory,
                                                                 moment: dt.datetime) -> None:
    w = world(make)
    s = w.session(moment, minutes=1)
    day, seconds = db.execute(select(local_day(ClassSession.starts_at, 8 * 3600),
                                     local_seconds(ClassSession.starts_at, 8 * 3600))
                              .where(ClassSession.id == s.id)).one()
    local = moment.astimezone(SH)
    assert day == (local.date() - dt.date(1970, 1, 1)).days
    assert seconds == local.hour * 3600 + local.minute * 60 + local.second


def test_epoch_day_of_a_date_column_counts_days_since_1970(db: Session, make: Factory) -> None:
    inst = make.institution(license_valid_until=dt.date(2026, 12, 31))
    value = db.scalar(select(epoch_day(Institution.license_valid_until))
                      .where(Institution.id == inst.id))
    assert value == (dt.date(2026, 12, 31) - dt.date(1970, 1, 1)).days


def test_certificate_reach_in_sql_agrees_with_identifiers_cert_covers_grade(
        db: Session, make: Factory) -> None:
    rng = random.Random(7)
    inst = make.institution()
    numbers: list[str | None] = [None, "", "2015320004" + "1123456", "20153200X41123456",
                                 "1949320004" + "1123456", "2101320004" + "1123456",
                                 "201532000811234567", "2015320008" + "1123456"]
    numbers += [fake_cert_no(rng, type_digit=str(d)) for d in range(1, 8) for _ in range(2)]
    teachers = [make.teacher(inst, qualification_cert_no=n) for n in numbers
                if n is None or len(n) <= 17]
    reach = dict(db.execute(select(Teacher.id, cert_reach(Teacher.qualification_cert_no))
                            .where(Teacher.id.in_([t.id for t in teachers]))).all())
    for teacher in teachers:
        for grade in range(0, 13):
            expected = cert_covers_grade(teacher.qualification_cert_no, grade)
            assert (reach[teacher.id] >= grade) == expected, (teacher.qualification_cert_no,
                                                              grade)
    assert set(reach.values()) <= set(LEVEL_MAX_GRADE.values()) | {-1}


def test_the_session_scan_finds_the_same_through_indexes_or_reading_straight_through(
        db: Session, make: Factory) -> None:
    from supervision.compliance.rules import SESSION_RULES
    from supervision.compliance.rules.base import Context
    from supervision.compliance.rules.scan import scan_sessions

    w = world(make, institution={"licensed_modes": ["offline"]})
    online = w.course_like(mode="online", venue_id=None, minutes_per_class_hour=30)
    w.session(at(2026, 12, 5, 10))  # weekend
    w.session(at(2026, 12, 2, 20, 0), minutes=45)  # late
    w.session(at(2026, 12, 3, 19, 0), minutes=40, course=online)  # long, outside licence
    w.session(at(2026, 12, 4, 18))  # fine
    results = []
    for straight_through in (True, False):
        ctx = Context.of(db, Window.around(AS_OF))
        ctx.cache["window_is_most"] = straight_through
        results.append({(f.rule, f.subject_id)
                        for f in scan_sessions(ctx, list(SESSION_RULES.values()))})
    assert results[0] == results[1]
    assert {rule for rule, _ in results[0]} == {"SUBJECT_ON_WEEKEND", "LATE_END_OFFLINE",
                                                "ONLINE_SESSION_TOO_LONG",
                                                "MODE_OUTSIDE_LICENSE"}
