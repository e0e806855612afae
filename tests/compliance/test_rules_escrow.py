"""RULES.md §3 (pre-payment caps, overdue refunds, absconding) and VENUE_OVER_CAPACITY, found
on escrow data booked through the escrow services themselves."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import SYSTEM, Actor
from supervision.escrow import (
    apply_deposit,
    approve_refund,
    create_enrollment,
    instruction_executed,
    record_attendance,
    request_refund,
)
from supervision.models import Course
from supervision.models.escrow import Enrollment, Refund

from ..support.factories import Factory
from ..support.rules import World, at, only, run, subjects, world
from ..support.settings import with_policy

_n = itertools.count(1)


@dataclass
class Escrow:
    db: Session
    w: World
    parent: Actor
    staff: Actor

    def enroll(self, hours: int = 10, *, student: str = "小明", course: Course | None = None,
               paid_at: dt.datetime | None = at(2026, 11, 1, 10)) -> Enrollment:
        enrollment = create_enrollment(self.db, self.parent,
                                       course_id=(course or self.w.course).id,
                                       student_name=student, student_grade=7, class_hours=hours)
        if paid_at is not None:
            n = next(_n)
            assert apply_deposit(self.db, SYSTEM, event_id=f"rules-evt-{n}",
                                 payment_reference=enrollment.payment_reference,
                                 amount_fen=enrollment.amount_fen, trustee_txn_id=f"RT-{n}",
                                 received_at=paid_at) == "applied"
        self.db.flush()
        return enrollment

    def refund(self, enrollment: Enrollment, requested: dt.datetime,
               amount_fen: int | None = None) -> Refund:
        refund = request_refund(self.db, self.parent, enrollment.id, reason="搬家",
                                amount_fen=amount_fen, as_of=requested)
        return refund


def _actor(db: Session, role: str, **kw: Any) -> Actor:
    principal, _ = create_principal(db, role=role, name=f"{role}-{next(_n)}", **kw)
    return actor_for(principal)


@pytest.fixture
def escrow(db: Session, make: Factory) -> Escrow:
    w = world(make)
    parent = _actor(db, "parent")
    staff = _actor(db, "institution", institution_id=w.institution.id)
    return Escrow(db, w, parent, staff)


def _policy(db: Session, **rules: Any) -> None:
    db.info["settings"] = with_policy(db.info["settings"], "rules", **rules)



# -- pre-payment caps -----------------------------------------------------------------------

def test_nothing_is_found_on_enrollments_within_the_caps(escrow: Escrow) -> None:
    escrow.enroll(40)
    escrow.enroll(20, paid_at=None)
    assert run(escrow.db, "PREPAY_OVER_HOURS") == []
    assert run(escrow.db, "PREPAY_OVER_AMOUNT") == []


def test_an_enrollment_over_the_hour_cap_is_high(escrow: Escrow) -> None:
    big = escrow.enroll(40)
    _policy(escrow.db, prepay_max_class_hours=39)  # the cap was lowered since
    findings = run(escrow.db, "PREPAY_OVER_HOURS")
    assert subjects(findings) == {str(big.id)}
    finding = only(findings, big.id)
    assert finding.severity == "high"
    assert finding.subject_type == "enrollment"
    assert finding.evidence["limit_hours"] == 39
    _policy(escrow.db, prepay_max_class_hours=40)
    assert run(escrow.db, "PREPAY_OVER_HOURS") == []


def test_one_students_unconsumed_hours_together_over_the_cap_flag_the_latest_enrollment(
        escrow: Escrow) -> None:
    first = escrow.enroll(40)
    second = escrow.enroll(20, paid_at=None)
    other_student = escrow.enroll(30, student="小红")
    art = escrow.w.course_like(category="non_subject", subject="art", name="少儿美术")
    other_subject = escrow.enroll(30, course=art)
    _policy(escrow.db, prepay_max_class_hours=59)
    findings = run(escrow.db, "PREPAY_OVER_HOURS")
    assert subjects(findings) == {str(second.id)}
    assert only(findings, second.id).evidence["student_unconsumed_hours"] == 60
    assert first.id and other_student.id and other_subject.id


def test_consumed_hours_no_longer_count_towards_the_cap(escrow: Escrow) -> None:
    first = escrow.enroll(40)
    escrow.enroll(20, paid_at=None)
    _policy(escrow.db, prepay_max_class_hours=59)
    assert len(run(escrow.db, "PREPAY_OVER_HOURS")) == 1
    lesson = escrow.w.session(at(2026, 11, 20, 18), minutes=90)
    record_attendance(escrow.db, escrow.staff, session_id=lesson.id, enrollment_ids=[first.id],
                      class_hours=None, as_of=at(2026, 11, 20, 20))
    assert run(escrow.db, "PREPAY_OVER_HOURS") == []


def test_an_enrollment_over_the_amount_cap_is_high_and_one_at_it_is_not(escrow: Escrow) -> None:
    big = escrow.enroll(50)  # 50 × 4000 = 200000 fen
    _policy(escrow.db, prepay_max_amount_fen=200000)
    assert run(escrow.db, "PREPAY_OVER_AMOUNT") == []
    _policy(escrow.db, prepay_max_amount_fen=199999)
    findings = run(escrow.db, "PREPAY_OVER_AMOUNT")
    assert subjects(findings) == {str(big.id)}
    assert only(findings, big.id).severity == "high"
    assert only(findings, big.id).evidence["amount_fen"] == 200000


# -- refunds not executed in time -----------------------------------------------------------

def test_an_approved_refund_not_executed_within_5_working_days_is_high(escrow: Escrow) -> None:
    enrollment = escrow.enroll(10)
    refund = escrow.refund(enrollment, at(2026, 11, 23, 9), amount_fen=4000)
    approve_refund(escrow.db, SYSTEM, refund.id, as_of=at(2026, 11, 23, 10))  # Monday
    # Working days 11-24 .. 11-30: the last day to execute is Monday 11-30.
    assert run(escrow.db, "REFUND_OVERDUE", as_of=at(2026, 11, 30, 23)) == []
    findings = run(escrow.db, "REFUND_OVERDUE", as_of=at(2026, 12, 1, 0, 30))
    assert subjects(findings) == {str(refund.id)}
    finding = only(findings, refund.id)
    assert finding.severity == "high"
    assert finding.subject_type == "refund"
    assert finding.evidence["due_on"] == "2026-11-30"


def test_an_executed_refund_is_not_overdue(escrow: Escrow) -> None:
    enrollment = escrow.enroll(10)
    refund = escrow.refund(enrollment, at(2026, 11, 2, 9), amount_fen=4000)
    instruction = approve_refund(escrow.db, SYSTEM, refund.id, as_of=at(2026, 11, 2, 10))
    instruction_executed(escrow.db, instruction.id, "RT-EXEC-1", at(2026, 11, 3, 10))
    assert run(escrow.db, "REFUND_OVERDUE") == []


# -- absconding -----------------------------------------------------------------------------

def test_holding_escrow_without_a_session_for_14_days_is_a_critical_absconding_signal(
        escrow: Escrow) -> None:
    escrow.enroll(10)  # paid 11-01
    escrow.w.session(at(2026, 11, 16, 18))  # 15 days before as_of
    findings = run(escrow.db, "ABSCONDING_SIGNAL")
    inst = escrow.w.institution.id
    assert subjects(findings) == {str(inst)}
    finding = only(findings, inst)
    assert finding.severity == "critical"
    assert finding.subject_type == "institution"
    assert finding.evidence["idle_days"] == 14


def test_a_session_within_14_days_or_money_paid_recently_is_no_signal(escrow: Escrow,
                                                                      make: Factory) -> None:
    escrow.enroll(10)
    escrow.w.session(at(2026, 11, 17, 10))  # 14 days before as_of, to the hour
    assert run(escrow.db, "ABSCONDING_SIGNAL") == []
    newcomer = world(make)
    fresh = Escrow(escrow.db, newcomer, escrow.parent, escrow.staff)
    fresh.enroll(10, paid_at=at(2026, 11, 20, 10))  # not yet 14 days in custody
    assert run(escrow.db, "ABSCONDING_SIGNAL") == []


def test_refund_requests_on_more_than_20_percent_of_enrollments_in_7_days_are_a_signal(
        escrow: Escrow) -> None:
    enrollments = [escrow.enroll(5, student=f"学生{i}") for i in range(10)]
    escrow.w.session(at(2026, 11, 28, 18))  # not idle
    escrow.refund(enrollments[0], at(2026, 11, 20, 9), amount_fen=4000)  # 11 days ago
    escrow.refund(enrollments[1], at(2026, 11, 26, 9), amount_fen=4000)
    escrow.refund(enrollments[2], at(2026, 11, 30, 9), amount_fen=4000)
    assert run(escrow.db, "ABSCONDING_SIGNAL") == []  # 2 of 10 in 7 days: exactly 20 %
    escrow.refund(enrollments[3], at(2026, 11, 30, 10), amount_fen=4000)
    findings = run(escrow.db, "ABSCONDING_SIGNAL")
    finding = only(findings, escrow.w.institution.id)
    assert finding.evidence["refund_requests"] == 3
    assert finding.evidence["active_enrollments"] == 10
    assert "idle_days" not in finding.evidence


# -- venue capacity and enrollments while suspended -----------------------------------------

def test_active_enrollments_over_the_venue_capacity_are_medium(escrow: Escrow,
                                                               make: Factory) -> None:
    small = make.venue(escrow.w.institution, capacity=2)
    course = escrow.w.course_like(venue_id=small.id, name="小班数学")
    escrow.enroll(5, course=course, student="甲")
    escrow.enroll(5, course=course, student="乙")
    escrow.enroll(5, course=course, student="丙", paid_at=None)  # not active yet
    assert run(escrow.db, "VENUE_OVER_CAPACITY") == []
    escrow.enroll(5, course=course, student="丁")
    findings = run(escrow.db, "VENUE_OVER_CAPACITY")
    assert subjects(findings) == {str(course.id)}
    assert only(findings, course.id).severity == "medium"
    assert only(findings, course.id).evidence["active_enrollments"] == 3
    assert only(findings, course.id).evidence["capacity"] == 2


def test_an_enrollment_taken_after_suspension_is_operating_while_suspended(
        escrow: Escrow) -> None:
    before = escrow.enroll(10)
    inst = escrow.w.institution
    inst.status = "suspended"  # updated_at moves to now: after `before` was taken
    escrow.db.flush()
    after = Enrollment(parent_id=escrow.parent.principal_id, institution_id=inst.id,
                       course_id=escrow.w.course.id, student_name="小刚", student_grade=7,
                       class_hours=5, consumed_hours=0, price_per_class_hour_fen=4000,
                       amount_fen=20000, payment_reference="SVRULESTEST00001",
                       status="awaiting_payment",
                       created_at=inst.updated_at + dt.timedelta(minutes=1))
    escrow.db.add(after)
    escrow.db.flush()
    findings = [f for f in run(escrow.db, "OPERATING_WHILE_SUSPENDED")
                if f.subject_type == "enrollment"]
    assert subjects(findings) == {str(after.id)}
    assert only(findings, after.id).severity == "critical"
    assert before.id
