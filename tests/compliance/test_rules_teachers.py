"""RULES.md §6: teachers and staff."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.orm import Session

from supervision.identifiers import fake_cert_no, hash_id_number
from supervision.models import RosterEntry

from ..support.factories import Factory
from ..support.rules import at, only, run, subjects, world

RNG = random.Random(6)


def _roster(db: Session, kind: str, number: str, reason: str | None = None) -> None:
    key = db.info["settings"].id_hash_key

    db.add(RosterEntry(kind=kind, id_number_hash=hash_id_number(number, key), reason=reason))
    db.flush()


def test_a_subject_session_by_a_teacher_without_a_certificate_is_high(db: Session,
                                                                      make: Factory) -> None:
    w = world(make)
    uncertified = make.teacher(w.institution, qualification_cert_no=None, cert_level=None,
                               name="李老师")
    bad = make.session_of(w.course, uncertified, starts_at=at(2026, 12, 2, 18))
    good = w.session(at(2026, 12, 3, 18))
    findings = run(db, "TEACHER_UNQUALIFIED")
    assert subjects(findings) == {str(bad.id)}
    finding = only(findings, bad.id)
    assert finding.severity == "high"
    assert finding.subject_type == "session"
    assert finding.evidence["teacher_id"] == uncertified.id
    assert finding.evidence["teacher_name"] == "李老师"
    assert finding.evidence["cert_level"] is None
    assert str(good.id) not in subjects(findings)


def test_a_primary_certificate_does_not_cover_grade_seven_and_a_junior_one_does(
        db: Session, make: Factory) -> None:
    w = world(make)  # the course is grades 7-8
    primary = make.teacher(w.institution, qualification_cert_no=fake_cert_no(RNG, type_digit="2"))
    junior = make.teacher(w.institution, qualification_cert_no=fake_cert_no(RNG, type_digit="3"))
    below = make.session_of(w.course, primary, starts_at=at(2026, 12, 2, 18))
    enough = make.session_of(w.course, junior, starts_at=at(2026, 12, 3, 18))
    findings = run(db, "TEACHER_UNQUALIFIED")
    assert subjects(findings) == {str(below.id)}
    assert only(findings, below.id).evidence["cert_level"] == "primary"
    assert only(findings, below.id).evidence["required_level"] == "junior"
    assert str(enough.id) not in subjects(findings)


def test_a_vocational_practice_certificate_never_covers_subject_teaching(db: Session,
                                                                         make: Factory) -> None:
    w = world(make)
    practice = make.teacher(w.institution,
                            qualification_cert_no=fake_cert_no(RNG, type_digit="6"))
    session = make.session_of(w.course, practice, starts_at=at(2026, 12, 2, 18))
    assert subjects(run(db, "TEACHER_UNQUALIFIED")) == {str(session.id)}


def test_non_subject_sessions_need_no_teacher_certificate(db: Session, make: Factory) -> None:
    w = world(make)
    art = w.course_like(category="non_subject", subject="art", name="少儿美术")
    uncertified = make.teacher(w.institution, qualification_cert_no=None)
    make.session_of(art, uncertified, starts_at=at(2026, 12, 2, 18))
    assert run(db, "TEACHER_UNQUALIFIED") == []


def test_a_teacher_declared_in_service_is_critical(db: Session, make: Factory) -> None:
    w = world(make)
    declared = make.teacher(w.institution, is_inservice_school_teacher=True)
    findings = run(db, "INSERVICE_TEACHER")
    assert subjects(findings) == {str(declared.id)}
    finding = only(findings, declared.id)
    assert finding.severity == "critical"
    assert finding.subject_type == "teacher"
    assert finding.evidence == {"teacher_id": declared.id, "teacher_name": declared.name,
                                "id_number_masked": declared.id_number_masked,
                                "declared": True, "on_roster": False}


def test_a_teacher_on_the_inservice_roster_is_critical_at_any_institution(
        db: Session, make: Factory) -> None:
    w = world(make)
    other = make.institution()
    number = make.id_number()
    here = make.teacher(w.institution, id_number=number)
    there = make.teacher(other, id_number=number)
    _roster(db, "blacklist", number)  # another roster: not in-service
    assert str(here.id) not in subjects(run(db, "INSERVICE_TEACHER"))
    _roster(db, "inservice", number)
    findings = run(db, "INSERVICE_TEACHER")
    assert subjects(findings) == {str(here.id), str(there.id)}
    assert only(findings, there.id).evidence["on_roster"] is True
    assert str(w.teacher.id) not in subjects(findings)


def test_a_blacklisted_teacher_is_critical_and_others_are_not(db: Session,
                                                              make: Factory) -> None:
    w = world(make)
    number = make.id_number()
    listed = make.teacher(w.institution, id_number=number)
    _roster(db, "inservice", make.id_number())
    _roster(db, "blacklist", number, reason="性侵害违法犯罪记录")
    findings = run(db, "STAFF_BLACKLISTED")
    assert subjects(findings) == {str(listed.id)}
    assert only(findings, listed.id).severity == "critical"
    assert only(findings, listed.id).evidence["roster_reason"] == "性侵害违法犯罪记录"
    assert number not in str(findings[0])  # the full number is never in a finding


def test_background_checks_not_clear_missing_late_or_stale_are_critical(
        db: Session, make: Factory) -> None:
    w = world(make)  # as_of 2026-12-01
    pending = make.teacher(w.institution, background_check_status="pending")
    missing = make.teacher(w.institution, background_checked_on=None)
    after_hiring = make.teacher(w.institution, hired_on=dt.date(2026, 3, 1),
                                background_checked_on=dt.date(2026, 3, 2))
    stale = make.teacher(w.institution, hired_on=dt.date(2025, 12, 1),
                         background_checked_on=dt.date(2025, 11, 30))  # 366 days old
    findings = run(db, "STAFF_BACKGROUND_MISSING")
    assert subjects(findings) == {str(pending.id), str(missing.id), str(after_hiring.id),
                                  str(stale.id)}
    assert {f.severity for f in findings} == {"critical"}
    assert only(findings, stale.id).evidence["max_age_days"] == 365
    assert len(only(findings, after_hiring.id).evidence["reasons"]) == 1


def test_a_check_exactly_365_days_old_on_the_hiring_day_is_fine(db: Session,
                                                                make: Factory) -> None:
    w = world(make)
    boundary = make.teacher(w.institution, hired_on=dt.date(2025, 12, 1),
                            background_checked_on=dt.date(2025, 12, 1))
    found = subjects(run(db, "STAFF_BACKGROUND_MISSING"))
    assert str(boundary.id) not in found
    assert str(w.teacher.id) not in found
