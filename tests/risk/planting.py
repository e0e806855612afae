"""Planting one institution's risk signals directly in the tables, at fixed dates.

The ledger's account counters are set directly (the score reads balances, not how they came
about); every timestamp is given explicitly, relative to AS_OF, so no test reads the wall
clock and CI's moved clock changes nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI
from supervision.escrow import ledger
from supervision.models import Complaint, Flag, Institution, Statement
from supervision.models.escrow import Consumption, Enrollment, LedgerAccount, Refund
from tests.support.factories import Factory
from tests.support.parties import party

AS_OF = dt.datetime(2026, 12, 3, 20, 0, tzinfo=SHANGHAI)
DAY = AS_OF.date()
_refs = itertools.count(1)


def ago(days: float) -> dt.datetime:
    return AS_OF - dt.timedelta(days=days)


class Planter:
    """A healthy institution by default: money in custody matched by the trustee's statement,
    two months of prepaid classes, ten classes held in the last 30 days, nothing else."""

    def __init__(self, db: Session, make: Factory) -> None:
        self.db = db
        self.make = make
        self.parent_id = party(db, "parent").id

    def institution(self, *, custody: int = 200_000, held: int = 100_000,
                    monthly_consumption: int = 50_000, statement: int | None = 200_000,
                    sessions: int = 10, **kw: Any) -> Institution:
        inst = self.make.institution(**kw)
        self.course = self.make.course(inst)
        self.teacher = self.make.teacher(inst)
        self.enrollment = self._enrollment(inst)
        ledger.open_institution_accounts(self.db, inst.id)
        ledger.open_enrollment_accounts(self.db, self.enrollment.id, inst.id)
        self.set_balance(inst.id, "custody", custody)
        self.set_balance(inst.id, "held", held)
        if monthly_consumption:
            self.consumptions(inst, 1, amount=monthly_consumption)
        if statement is not None:
            self.statement(inst, statement)
        self.sessions(inst, sessions)
        return inst

    def _enrollment(self, inst: Institution) -> Enrollment:
        enrollment = Enrollment(
            parent_id=self.parent_id, institution_id=inst.id, course_id=self.course.id,
            student_name="小明", student_grade=7, class_hours=100, consumed_hours=0,
            price_per_class_hour_fen=4000, amount_fen=400_000,
            payment_reference=f"RISK{next(_refs):08d}", status="active",
            created_at=ago(120), paid_at=ago(120))
        self.db.add(enrollment)
        self.db.flush()
        return enrollment

    def set_balance(self, institution_id: int, kind: str, fen: int) -> None:
        """custody is debit-normal, held credit-normal: the posted counter on its side."""
        column = "debits_posted" if kind == "custody" else "credits_posted"
        self.db.execute(update(LedgerAccount)
                        .where(LedgerAccount.institution_id == institution_id,
                               LedgerAccount.kind == kind)
                        .values({column: fen}))

    def refunds(self, inst: Institution, n: int, *, days_ago: float = 3) -> None:
        for _ in range(n):
            self.db.add(Refund(enrollment_id=self.enrollment.id, institution_id=inst.id,
                               parent_id=self.parent_id, amount_fen=1000, reason="搬家",
                               status="requested", requested_at=ago(days_ago),
                               auto_approve_at=ago(days_ago - 7)))
        self.db.flush()

    def consumptions(self, inst: Institution, n: int, *, amount: int = 4000,
                     disputed: int = 0, days_ago: float = 5) -> None:
        for k in range(n):
            held = self.make.session_of(self.course, self.teacher,
                                        starts_at=ago(days_ago) - dt.timedelta(hours=k + 1))
            status = "disputed" if k < disputed else "confirmed"
            self.db.add(Consumption(
                enrollment_id=self.enrollment.id, session_id=held.id, institution_id=inst.id,
                parent_id=self.parent_id, class_hours=1, amount_fen=amount, status=status,
                recorded_at=ago(days_ago), auto_confirm_at=ago(days_ago - 15)))
        self.db.flush()

    def statement(self, inst: Institution, closing: int, *, on: dt.date | None = None) -> None:
        self.db.add(Statement(
            account_no=inst.supervised_account_no, date=on or DAY - dt.timedelta(days=1),
            institution_id=inst.id, opening_balance_fen=closing,
            closing_balance_fen=closing, line_count=0, body_hash="0" * 64, source="upload",
            report={}, imported_at=ago(0.5)))
        self.db.flush()

    def sessions(self, inst: Institution, n: int, *, cancelled: int = 0,
                 days_ago: float = 10) -> None:
        for k in range(n):
            self.make.session_of(self.course, self.teacher,
                                 starts_at=ago(days_ago) + dt.timedelta(hours=k),
                                 status="cancelled" if k < cancelled else "scheduled")

    def complaints(self, inst: Institution, n: int, *, days_ago: float = 4) -> None:
        for _ in range(n):
            self.db.add(Complaint(
                institution_id=inst.id, parent_id=self.parent_id, category="refund",
                text="退费难", status="submitted", respond_by=DAY, due_on=DAY,
                created_at=ago(days_ago)))
        self.db.flush()

    def teachers_left(self, inst: Institution, gone: int, *, stayed: int = 0,
                      days_ago: int = 10) -> None:
        """`gone` teachers recorded as having left (离职) `days_ago` days before DAY, and
        `stayed` more still on staff (besides the institution's own teacher)."""
        for k in range(gone + stayed):
            left_on = DAY - dt.timedelta(days=days_ago) if k < gone else None
            self.make.teacher(inst, left_on=left_on)

    def critical_flags(self, inst: Institution, n: int, *, rule: str = "STAFF_BLACKLISTED",
                       status: str = "open") -> None:
        for k in range(n):
            self.db.add(Flag(rule=rule, severity="critical", status=status,
                             institution_id=inst.id, subject_type="teacher",
                             subject_id=f"risk-{inst.id}-{k}", summary="x", evidence={},
                             first_detected_at=ago(2), last_detected_at=ago(2)))
        self.db.flush()
