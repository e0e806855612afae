"""Enrollments: a parent buys class hours; the pre-payment caps of RULES.md §3 apply here."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, get_in_scope, policy_of, scoped
from ..db import advisory_lock
from ..errors import Forbidden, Invalid, RuleViolation
from ..models import Course, Institution
from ..models.escrow import Enrollment
from . import ledger
from .ledger import AccountState

# No 0/O or 1/I: references are read out over the phone and typed into banking apps.
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
OPEN_STATUSES = ("awaiting_payment", "active")


def new_payment_reference() -> str:
    """"SV" + 16 random characters (80 bits): unguessable, so nobody pays into or probes
    another family's enrollment by trying references."""
    return "SV" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(16))


def remaining_hours(enrollment: Enrollment, accounts: dict[str, AccountState]) -> int:
    """Class hours still to be taught: not yet consumed, and still paid for by held money
    that no refund request has claimed."""
    if enrollment.status == "awaiting_payment":
        return enrollment.class_hours - enrollment.consumed_hours
    if enrollment.status != "active":
        return 0
    held = accounts.get("held")
    affordable = held.available // enrollment.price_per_class_hour_fen if held else 0
    return max(0, min(enrollment.class_hours - enrollment.consumed_hours, affordable))


def create_enrollment(session: Session, actor: Actor, *, course_id: int, student_name: str,
                      student_grade: int, class_hours: int) -> Enrollment:
    if actor.parent_id is None:
        raise Forbidden("only a parent enrolls a student")
    course = get_in_scope(session, actor, Course, course_id)
    institution = session.get(Institution, course.institution_id)
    assert institution is not None  # FK
    if institution.status != "active":
        raise RuleViolation("INSTITUTION_NOT_ACTIVE",
                            f"the institution is {institution.status}: it may not take "
                            "enrollments")
    if course.price_per_class_hour_fen <= 0:
        raise Invalid.field("course_id", "a course without a price has nothing to escrow")
    amount = class_hours * course.price_per_class_hour_fen
    _check_caps(session, actor.parent_id, student_name, course, class_hours, amount)
    enrollment = Enrollment(
        parent_id=actor.parent_id, institution_id=course.institution_id, course_id=course.id,
        student_name=student_name, student_grade=student_grade, class_hours=class_hours,
        consumed_hours=0, price_per_class_hour_fen=course.price_per_class_hour_fen,
        amount_fen=amount, payment_reference=new_payment_reference(),
        status="awaiting_payment")
    session.add(enrollment)
    session.flush()
    ledger.open_enrollment_accounts(session, enrollment.id, enrollment.institution_id)
    return enrollment


def _check_caps(session: Session, parent_id: int, student_name: str, course: Course,
                class_hours: int, amount: int) -> None:
    rules = policy_of(session)["rules"]
    max_hours, max_amount = int(rules["prepay_max_class_hours"]), int(
        rules["prepay_max_amount_fen"])
    if class_hours > max_hours:
        raise RuleViolation("PREPAY_OVER_HOURS",
                            f"one charge may cover at most {max_hours} class hours",
                            errors={"class_hours": [f"at most {max_hours}"]})
    if amount > max_amount:
        raise RuleViolation("PREPAY_OVER_AMOUNT",
                            f"one charge may be at most {max_amount} fen; this is {amount}",
                            errors={"class_hours": [f"{amount} fen is over {max_amount}"]})
    _serialise_student(session, parent_id, student_name)
    unconsumed = unconsumed_hours(session, parent_id=parent_id, student_name=student_name,
                                  institution_id=course.institution_id, subject=course.subject)
    if unconsumed + class_hours > max_hours:
        raise RuleViolation(
            "PREPAY_OVER_HOURS",
            f"{student_name} already has {unconsumed} unconsumed class hours of this subject "
            f"here; with {class_hours} more that is over {max_hours}",
            errors={"class_hours": [f"at most {max(0, max_hours - unconsumed)} more"]})


def _serialise_student(session: Session, parent_id: int, student_name: str) -> None:
    """Two enrollments of one student at once would each see the other's hours missing:
    one at a time per student."""
    advisory_lock(session, f"enroll:{parent_id}:{student_name}")


def unconsumed_hours(session: Session, *, parent_id: int, student_name: str,
                     institution_id: int, subject: str) -> int:
    """One student's class hours bought and not yet consumed at one institution in one
    subject (unpaid enrollments count: they are charges the parent is about to make)."""
    rows = list(session.scalars(
        select(Enrollment).join(Course, Course.id == Enrollment.course_id).where(
            Enrollment.parent_id == parent_id, Enrollment.student_name == student_name,
            Enrollment.institution_id == institution_id, Course.subject == subject,
            Enrollment.status.in_(OPEN_STATUSES))))
    accounts = ledger.enrollment_accounts(session, [e.id for e in rows])
    return sum(remaining_hours(e, accounts.get(e.id, {})) for e in rows)


def enrollments_query(session: Session, actor: Actor, *, course_id: int | None = None,
                      status: str | None = None) -> Select[Any]:
    stmt = scoped(select(Enrollment), actor, Enrollment).order_by(
        Enrollment.id.desc())
    if course_id is not None:
        stmt = stmt.where(Enrollment.course_id == course_id)
    if status is not None:
        stmt = stmt.where(Enrollment.status == status)
    return stmt


def get_enrollment(session: Session, actor: Actor, enrollment_id: int, *,
                   for_update: bool = False) -> Enrollment:
    return get_in_scope(session, actor, Enrollment, enrollment_id,
                        for_update=for_update)
