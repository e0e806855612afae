"""The real rulebook inside C1's run_compliance: planted violations become flags with the
catalogue's severity, a second run makes no duplicates, a fixed one is cleared, and session
flags outside a later run's window are left alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.compliance.runs import run_compliance
from supervision.models import Flag

from ..support.factories import Factory
from ..support.rules import AS_OF, at, world


def _flags(db: Session) -> dict[tuple[str, str, str], Flag]:
    return {(f.rule, f.subject_type, f.subject_id): f for f in db.scalars(select(Flag))}


def test_a_run_turns_planted_violations_into_flags_once_and_clears_fixed_ones(
        db: Session, make: Factory) -> None:
    w = world(make)
    weekend = w.session(at(2026, 12, 5, 10))
    late = w.session(at(2026, 12, 3, 19, 30), minutes=90)
    w.session(at(2026, 12, 2, 18))  # compliant
    uncertified = make.teacher(w.institution, qualification_cert_no=None)

    first = run_compliance(db, SYSTEM, as_of=AS_OF)
    flags = _flags(db)
    assert set(flags) == {("SUBJECT_ON_WEEKEND", "session", str(weekend.id)),
                          ("LATE_END_OFFLINE", "session", str(late.id))}
    assert flags[("SUBJECT_ON_WEEKEND", "session", str(weekend.id))].severity == "high"
    assert flags[("LATE_END_OFFLINE", "session", str(late.id))].evidence["limit"] == "20:30"
    assert first.flags_opened == 2
    assert uncertified.id  # a teacher without sessions teaches nobody: no finding

    second = run_compliance(db, SYSTEM, as_of=AS_OF)
    assert second.flags_opened == 0
    assert len(_flags(db)) == 2

    weekend.status = "cancelled"
    db.flush()
    third = run_compliance(db, SYSTEM, as_of=AS_OF)
    assert third.flags_cleared == 1
    db.expire_all()
    assert _flags(db)[("SUBJECT_ON_WEEKEND", "session", str(weekend.id))].status == "cleared"
    assert _flags(db)[("LATE_END_OFFLINE", "session", str(late.id))].status == "open"


def test_an_hourly_run_does_not_clear_session_flags_outside_its_window(db: Session,
                                                                       make: Factory) -> None:
    w = world(make)
    later = w.session(at(2026, 12, 12, 10))  # a Saturday, 11 days ahead
    run_compliance(db, SYSTEM, as_of=AS_OF)
    hourly = run_compliance(db, SYSTEM, as_of=AS_OF, horizon_days=2, lookback_days=0)
    assert hourly.flags_cleared == 0
    db.expire_all()
    assert _flags(db)[("SUBJECT_ON_WEEKEND", "session", str(later.id))].status == "open"



def test_an_unlicensed_institution_keeps_one_flag_that_updates_and_clears_on_renewal(
        db: Session, make: Factory) -> None:
    w = world(make, institution={"license_valid_until": dt.date(2026, 11, 20)})
    for day in range(1, 9):  # eight evenings after the licence expired (weekdays and not)
        w.session(at(2026, 12, day, 17), minutes=45)
    key = ("UNLICENSED_OPERATION", "institution", str(w.institution.id))

    first = run_compliance(db, SYSTEM, as_of=AS_OF)
    unlicensed = [k for k in _flags(db) if k[0] == "UNLICENSED_OPERATION"]
    assert unlicensed == [key]
    assert first.by_rule["UNLICENSED_OPERATION"] == 1
    assert _flags(db)[key].evidence["session_count"] == 8

    w.session(at(2026, 12, 9, 17), minutes=45)
    second = run_compliance(db, SYSTEM, as_of=AS_OF)
    assert [k for k in _flags(db) if k[0] == "UNLICENSED_OPERATION"] == [key]
    assert second.flags_opened == 0
    db.expire_all()
    flag = _flags(db)[key]
    assert flag.evidence["session_count"] == 9 and "共9节课" in flag.summary

    w.institution.license_valid_until = dt.date(2029, 11, 20)  # renewed
    db.flush()
    run_compliance(db, SYSTEM, as_of=AS_OF)
    db.expire_all()
    assert _flags(db)[key].status == "cleared"
