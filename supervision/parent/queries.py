"""What the parents' pages read beside the services' own answers: names for a list that reads
without clicking, and the class each consumption paid for. Every query starts from the
parent's own enrollments (enrollments_query / escrow_status / consumptions_query), so nothing
of another family can appear."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access.scope import Actor
from ..errors import NotFound
from ..escrow import ledger
from ..escrow.consumption import consumptions_query
from ..escrow.enrollments import enrollments_query, remaining_hours
from ..escrow.refunds import refunds_query
from ..models import ClassSession, Course, Institution
from ..models.escrow import Consumption, Enrollment, Refund


@dataclass(frozen=True)
class EnrollmentRow:
    enrollment: Enrollment
    course_name: str
    subject: str
    institution_name: str
    institution_status: str
    account_no: str
    hours_left: int


def my_enrollments(session: Session, actor: Actor, *,
                   enrollment_id: int | None = None) -> list[EnrollmentRow]:
    mine = enrollments_query(session, actor)
    if enrollment_id is not None:
        mine = mine.where(Enrollment.id == enrollment_id)
    ids = mine.subquery()
    rows = session.execute(
        select(Enrollment, Course.name, Course.subject, Institution.name, Institution.status,
               Institution.supervised_account_no)
        .join(Course, Course.id == Enrollment.course_id)
        .join(Institution, Institution.id == Enrollment.institution_id)
        .where(Enrollment.id.in_(select(ids.c.id)))
        .order_by(Enrollment.id.desc())).all()
    accounts = ledger.enrollment_accounts(session, [r[0].id for r in rows])
    return [EnrollmentRow(e, course, subject, inst, status, account_no,
                          remaining_hours(e, accounts.get(e.id, {})))
            for e, course, subject, inst, status, account_no in rows]


@dataclass(frozen=True)
class ConsumptionRow:
    consumption: Consumption
    class_starts_at: dt.datetime


def consumptions_of(session: Session, actor: Actor, enrollment_id: int) -> list[ConsumptionRow]:
    """The enrollment's consumptions with the class each paid for, newest class first."""
    sub = consumptions_query(session, actor, enrollment_id=enrollment_id).subquery()
    rows = session.execute(
        select(Consumption, ClassSession.starts_at)
        .join(ClassSession, ClassSession.id == Consumption.session_id)
        .where(Consumption.id.in_(select(sub.c.id)))
        .order_by(ClassSession.starts_at.desc(), Consumption.id.desc())).all()
    return [ConsumptionRow(c, starts) for c, starts in rows]


def refunds_of(session: Session, actor: Actor, enrollment_id: int) -> list[Refund]:
    return list(session.scalars(refunds_query(session, actor, enrollment_id=enrollment_id)))


def with_class_dates(movements: list[dict[str, Any]],
                     consumptions: list[ConsumptionRow]) -> list[dict[str, Any]]:
    """Each movement of a consumption (课消, its confirmation) gains the date of its class."""
    starts = {row.consumption.id: row.class_starts_at for row in consumptions}
    out = []
    for m in movements:
        line = dict(m)
        if m.get("ref_type") == "consumption":
            line["class_starts_at"] = starts.get(int(m["ref_id"]))
        out.append(line)
    return out


def enrollment_of_consumption(session: Session, actor: Actor, consumption_id: int) -> int:
    found = session.scalar(select(Consumption.enrollment_id).where(
        Consumption.id.in_(select(consumptions_query(session, actor).subquery().c.id)),
        Consumption.id == consumption_id))
    if found is None:
        raise NotFound("consumption")
    return int(found)
