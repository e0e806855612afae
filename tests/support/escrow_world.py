"""Shared arrangements for the escrow tests: a paying parent, a course, sessions, deposits."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.scope import SYSTEM, Actor
from supervision.escrow import apply_deposit
from supervision.models import ClassSession, Course, Institution, Teacher
from supervision.models.escrow import Enrollment, LedgerEntry

from .factories import Factory
from .parties import Party, party

_txn = itertools.count(1)


def now() -> dt.datetime:
    return clock.local_now()


@dataclass
class World:
    """One institution with a course and a teacher, a parent, and the institution's and a
    regulator's principals."""

    db: Session
    make: Factory
    institution: Institution
    course: Course
    teacher: Teacher
    parent: Party
    staff: Party
    regulator: Party

    def as_(self, who: Party | Actor) -> Session:
        self.db.info["actor"] = who.actor if isinstance(who, Party) else who
        return self.db

    def actor(self, who: Party | Actor) -> Actor:
        return who.actor if isinstance(who, Party) else who

    def system(self) -> Session:
        self.db.info["actor"] = SYSTEM
        return self.db

    def past_session(self, *, minutes: int = 90, hours_ago: float = 3,
                     course: Course | None = None) -> ClassSession:
        return self.make.session_of(course or self.course, self.teacher,
                                    starts_at=now() - dt.timedelta(hours=hours_ago),
                                    minutes=minutes)

    def enroll(self, client: FlaskClient, *, hours: int = 10, parent: Party | None = None,
               student: str = "小明", course: Course | None = None,
               **extra: Any) -> dict[str, Any]:
        resp = client.post("/api/v1/enrollments", headers=(parent or self.parent).headers,
                           json={"course_id": (course or self.course).id,
                                 "student_name": student, "student_grade": 7,
                                 "class_hours": hours, **extra})
        assert resp.status_code == 201, resp.json
        return dict(resp.json)

    def pay(self, enrollment: dict[str, Any] | Enrollment, *, amount: int | None = None,
            reference: str | None = None, received_at: dt.datetime | None = None) -> str:
        """Paid a day ago by default: before any `past_session`, so that attendance may bill
        it (SESSION_BEFORE_ENROLLMENT refuses classes that started before the money came)."""
        ref = reference or (enrollment["payment_reference"] if isinstance(enrollment, dict)
                            else enrollment.payment_reference)
        due = enrollment["amount_fen"] if isinstance(enrollment, dict) else enrollment.amount_fen
        n = next(_txn)
        outcome = apply_deposit(self.system(), SYSTEM, event_id=f"evt-{n}", payment_reference=ref,
                                amount_fen=due if amount is None else amount,
                                trustee_txn_id=f"TX-{n}",
                                received_at=received_at or now() - dt.timedelta(days=1))
        self.db.flush()
        return outcome

    def paid_enrollment(self, client: FlaskClient, **kw: Any) -> dict[str, Any]:
        enrollment = self.enroll(client, **kw)
        assert self.pay(enrollment) == "applied"
        return enrollment

    def attend(self, client: FlaskClient, enrollment_ids: list[int], *,
               cls: ClassSession | None = None, **body: Any) -> Any:
        cls = cls or self.past_session()
        return client.post(f"/api/v1/sessions/{cls.id}/attendance", headers=self.staff.headers,
                           json={"enrollment_ids": enrollment_ids, **body})

    def escrow(self, client: FlaskClient, enrollment_id: int) -> dict[str, Any]:
        resp = client.get(f"/api/v1/enrollments/{enrollment_id}/escrow",
                          headers=self.regulator.headers)
        assert resp.status_code == 200, resp.json
        return dict(resp.json)


def world(db: Session, make: Factory, **institution: Any) -> World:
    inst = make.institution(**institution)
    return World(db=db, make=make, institution=inst, course=make.course(inst),
                 teacher=make.teacher(inst), parent=party(db, "parent"),
                 staff=party(db, "institution", institution=inst),
                 regulator=party(db, "regulator"))


def entries_of(db: Session, ref_type: str, ref_id: int) -> list[LedgerEntry]:
    return list(db.scalars(select(LedgerEntry).where(LedgerEntry.ref_type == ref_type,
                                                     LedgerEntry.ref_id == ref_id)))


BUCKETS = ("held_fen", "pending_confirmation_fen", "confirmed_fen", "released_fen",
           "refund_pending_fen", "refunded_fen")


def buckets(status: dict[str, Any]) -> dict[str, int]:
    return {k: status[k] for k in (*BUCKETS, "paid_fen", "refundable_fen")}
