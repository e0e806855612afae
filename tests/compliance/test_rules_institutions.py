"""RULES.md §7: institutions."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy.orm import Session

from supervision.identifiers import fake_uscc

from ..support.factories import Factory
from ..support.rules import AS_OF, at, only, run, subjects, world

RNG = random.Random(7)


def test_a_subject_institution_without_nonprofit_registration_is_critical(
        db: Session, make: Factory) -> None:
    unregistered = make.institution(nonprofit_registration_no=None)
    blank = make.institution(nonprofit_registration_no="  ")
    company = make.institution(uscc=fake_uscc(RNG, nonprofit=False))
    converted = make.institution()
    non_subject_company = make.institution(category="non_subject", nonprofit_registration_no=None,
                                           uscc=fake_uscc(RNG, nonprofit=False))
    findings = run(db, "NOT_NONPROFIT")
    assert subjects(findings) == {str(unregistered.id), str(blank.id), str(company.id)}
    assert only(findings, company.id).severity == "critical"
    assert only(findings, company.id).subject_type == "institution"
    assert only(findings, company.id).evidence["uscc_prefix"] == "91"
    assert str(converted.id) not in subjects(findings)
    assert str(non_subject_company.id) not in subjects(findings)


def test_a_licence_expiring_within_60_days_is_low_and_61_days_is_not(db: Session,
                                                                     make: Factory) -> None:
    as_of_date = AS_OF.date()
    day_60 = make.institution(license_valid_until=as_of_date + dt.timedelta(days=60))
    day_61 = make.institution(license_valid_until=as_of_date + dt.timedelta(days=61))
    expired = make.institution(license_valid_until=as_of_date - dt.timedelta(days=1))
    findings = run(db, "LICENSE_EXPIRING")
    assert subjects(findings) == {str(day_60.id), str(expired.id)}
    assert only(findings, day_60.id).severity == "low"
    assert only(findings, day_60.id).evidence["days_left"] == 60
    assert only(findings, expired.id).evidence["days_left"] == -1
    assert str(day_61.id) not in subjects(findings)


def test_a_licence_already_expired_reads_expired_not_expiring(db: Session,
                                                              make: Factory) -> None:
    as_of_date = AS_OF.date()
    expired = make.institution(license_valid_until=as_of_date - dt.timedelta(days=12))
    soon = make.institution(license_valid_until=as_of_date + dt.timedelta(days=5))
    findings = run(db, "LICENSE_EXPIRING")
    summary = only(findings, expired.id).summary
    assert summary.startswith("办学许可证已过期：")
    assert "（过期12天）" in summary and "2026年11月19日到期" in summary
    assert "即将到期" not in summary and "剩余" not in summary
    assert only(findings, soon.id).summary.startswith("办学许可证即将到期：")
    assert "剩余5天" in only(findings, soon.id).summary


def test_sessions_after_an_expired_licence_make_one_critical_flag_for_the_institution(
        db: Session, make: Factory) -> None:
    w = world(make, institution={"license_valid_until": dt.date(2026, 11, 28)})
    last_valid_day = w.session(at(2026, 11, 28, 23, 0), minutes=30)
    after = w.session(at(2026, 11, 29, 0, 0), minutes=30)
    later = w.session(at(2026, 12, 10, 18))
    findings = run(db, "UNLICENSED_OPERATION")
    assert len(findings) == 1
    flag = only(findings, w.institution.id)
    assert (flag.subject_type, flag.institution_id) == ("institution", w.institution.id)
    assert flag.severity == "critical"
    assert flag.evidence["license_valid_until"] == "2026-11-28"
    assert flag.evidence["session_count"] == 2
    listed = flag.evidence["sessions"]
    assert [s["session_id"] for s in listed] == [after.id, later.id]  # earliest first
    assert listed[0]["date"] == "2026-11-29" and listed[0]["starts_at_local"] == "00:00"
    assert listed[1]["course_name"] == w.course.name
    assert last_valid_day.id not in {s["session_id"] for s in listed}
    assert "2026年11月29日至2026年12月10日共2节课" in flag.summary
    assert "2026年11月28日到期" in flag.summary


def test_eight_unlicensed_sessions_of_one_institution_are_one_finding_and_two_are_two(
        db: Session, make: Factory) -> None:
    expired = world(make, institution={"license_valid_until": dt.date(2026, 11, 1)})
    for day in range(1, 9):
        expired.session(at(2026, 12, day, 18))
    other = world(make, institution={"license_valid_until": dt.date(2026, 11, 1)})
    other.session(at(2026, 12, 2, 18))
    findings = run(db, "UNLICENSED_OPERATION")
    assert subjects(findings, "institution") == {str(expired.institution.id),
                                                 str(other.institution.id)}
    assert len(findings) == 2
    assert only(findings, expired.institution.id).evidence["session_count"] == 8


def test_an_institution_flag_lists_at_most_the_cap_of_sessions_but_counts_them_all(
        db: Session, make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    from supervision.compliance.rules import scan

    monkeypatch.setattr(scan, "SESSIONS_SHOWN", 3)
    w = world(make, institution={"license_valid_until": dt.date(2026, 11, 1)})
    made = [w.session(at(2026, 12, day, 18)) for day in range(12, 0, -1)]  # latest first
    flag = only(run(db, "UNLICENSED_OPERATION"), w.institution.id)
    assert flag.evidence["session_count"] == 12
    assert flag.evidence["sessions_shown"] == 3
    earliest = sorted(made, key=lambda s: s.starts_at)[:3]
    assert [s["session_id"] for s in flag.evidence["sessions"]] == [s.id for s in earliest]
    assert "共12节课，以下列出最早3节" in flag.summary


def test_sessions_beyond_a_licence_still_valid_at_as_of_are_not_unlicensed(
        db: Session, make: Factory) -> None:
    w = world(make, institution={"license_valid_until": dt.date(2026, 12, 10)})
    w.session(at(2026, 12, 20, 18))  # may yet be renewed: LICENSE_EXPIRING warns
    assert run(db, "UNLICENSED_OPERATION") == []
    assert len(run(db, "LICENSE_EXPIRING")) == 1


def test_sessions_still_scheduled_at_a_suspended_institution_make_one_critical_flag(
        db: Session, make: Factory) -> None:
    w = world(make, institution={"status": "suspended", "status_reason": "无证开展学科类培训",
                                 "updated_at": at(2026, 11, 27, 12)})
    before_suspension = w.session(at(2026, 11, 26, 18))
    after_suspension = w.session(at(2026, 11, 28, 18))
    upcoming = w.session(at(2026, 12, 3, 18))
    cancelled = w.session(at(2026, 12, 4, 18), status="cancelled")
    findings = run(db, "OPERATING_WHILE_SUSPENDED")
    assert len(findings) == 1
    flag = only(findings, w.institution.id)
    assert flag.subject_type == "institution" and flag.severity == "critical"
    assert flag.evidence["institution_status"] == "suspended"
    listed = {s["session_id"] for s in flag.evidence["sessions"]}
    assert listed == {after_suspension.id, upcoming.id}
    assert before_suspension.id not in listed and cancelled.id not in listed
    assert "停业整顿" in flag.summary and "suspended" not in flag.summary


def test_an_active_institution_schedules_freely(db: Session, make: Factory) -> None:
    w = world(make)
    w.session(at(2026, 12, 3, 18))
    assert run(db, "OPERATING_WHILE_SUSPENDED") == []


def test_an_online_session_at_an_offline_only_institution_is_high_and_the_reverse(
        db: Session, make: Factory) -> None:
    offline_only = world(make, institution={"licensed_modes": ["offline"]})
    online_course = offline_only.course_like(mode="online", venue_id=None,
                                             minutes_per_class_hour=30)
    moved_online = offline_only.session(at(2026, 12, 2, 19), minutes=30, course=online_course)
    in_class = offline_only.session(at(2026, 12, 2, 18))
    online_only = world(make, institution={"licensed_modes": ["online"]})
    moved_offline = online_only.session(at(2026, 12, 2, 18))
    both = world(make)
    both.session(at(2026, 12, 2, 18))
    findings = run(db, "MODE_OUTSIDE_LICENSE")
    assert subjects(findings) == {str(moved_online.id), str(moved_offline.id)}
    assert only(findings, moved_online.id).severity == "high"
    assert only(findings, moved_online.id).evidence["licensed_modes"] == ["offline"]
    assert str(in_class.id) not in subjects(findings)


def test_an_offline_session_without_a_registered_venue_of_its_institution_is_high(
        db: Session, make: Factory) -> None:
    w = world(make)
    other = make.institution()
    foreign_venue = make.venue(other)
    no_venue_course = w.course_like(venue_id=None)
    nowhere = w.session(at(2026, 12, 2, 18), course=no_venue_course)
    elsewhere = w.session(at(2026, 12, 3, 18), venue_id=foreign_venue.id)
    own_course_venue = w.session(at(2026, 12, 4, 18))  # the course's venue
    own_session_venue = w.session(at(2026, 12, 5, 18), course=no_venue_course,
                                  venue_id=w.venue.id)
    online = w.course_like(mode="online", venue_id=None, minutes_per_class_hour=30)
    w.session(at(2026, 12, 2, 19), minutes=30, course=online)
    findings = run(db, "VENUE_UNREGISTERED")
    assert subjects(findings) == {str(nowhere.id), str(elsewhere.id)}
    assert only(findings, nowhere.id).severity == "high"
    assert only(findings, elsewhere.id).evidence["venue_id"] == foreign_venue.id
    assert own_course_venue.id and own_session_venue.id
