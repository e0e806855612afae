"""The SQL building blocks the rules share: local time from stored UTC, and certificate reach,
on both databases."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI as SH
from supervision.compliance.model import Window
from supervision.compliance.rules.sql import epoch_day, local_day, local_seconds
from supervision.compliance.rules.teachers import cert_reach
from supervision.identifiers import LEVEL_MAX_GRADE, cert_covers_grade, fake_cert_no
from supervision.models import ClassSession, Institution, Teacher

from ..support.factories import Factory
from ..support.rules import AS_OF, at, world

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
