"""Property-based: random sequences of every escrow operation keep the books right.

A hypothesis state machine calls the services directly (each step in a savepoint, undone if
the service refuses, as a request would be) and after every step checks, for every
enrollment: paid = held + pending_confirmation + confirmed + released + refund_pending +
refunded, with paid computed independently from the deposits the machine saw applied; no
bucket negative and no hold larger than its bucket; released never more than the confirmed
consumption; refunded equal to the completed refunds; each institution's custody equal to
its enrollments' money in custody plus its suspense; and the whole ledger balanced, its
stored balances equal to its entries and its pending counters equal to its open holds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from supervision import clock
from supervision.access import audit
from supervision.access.scope import SYSTEM, Actor
from supervision.config import load_settings
from supervision.errors import DomainError
from supervision.escrow import (
    apply_deposit,
    approve_refund,
    auto_approve_due,
    auto_confirm_due,
    confirm_consumption,
    create_enrollment,
    create_release_run,
    dispute_consumption,
    instruction_executed,
    instruction_failed,
    ledger,
    record_attendance,
    reject_refund,
    request_refund,
    trial_balance,
    verify_ledger,
)
from supervision.models.escrow import Consumption, Enrollment, Instruction, LedgerHold, Refund

from ..support.factories import Factory
from ..support.parties import party

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = clock.local_now().replace(microsecond=0)
MAX_EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "30"))
STEPS = 40
RUNS: dict[str, int] = defaultdict(int)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, engine: Engine, app_settings: dict[str, Any]) -> None:
        super().__init__()
        RUNS["examples"] += 1
        self.conn = engine.connect()
        self.trans = self.conn.begin()
        factory = sessionmaker(bind=self.conn, expire_on_commit=False,
                               join_transaction_mode="create_savepoint")
        audit.install(factory)
        self.db: Session = factory()
        self.db.info.update(settings=app_settings, actor=SYSTEM)
        make = Factory(self.db)
        self.make = make
        self.courses = []
        self.staff: dict[int, Actor] = {}
        for district in ("320213", "320205"):
            inst = make.institution(district_code=district)
            self.courses.append((make.course(inst, price_per_class_hour_fen=3000),
                                 make.teacher(inst)))
            self.staff[inst.id] = party(self.db, "institution", institution=inst).actor
        self.parents = [party(self.db, "parent").actor for _ in range(2)]
        self.regulator = party(self.db, "regulator").actor
        self.enrollments: list[int] = []
        self.consumptions: list[int] = []
        self.refunds: list[int] = []
        self.paid: dict[int, int] = defaultdict(int)
        self.txn = itertools.count(1)
        self.dirty = True

    def teardown(self) -> None:
        self.db.close()
        self.trans.rollback()
        self.conn.close()

    def attempt(self, actor: Actor, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One step as its own unit of work: refused → nothing of it remains."""
        RUNS["steps"] += 1
        self.dirty = True
        try:
            with self.db.begin_nested():
                result = fn(self.db, actor, *args, **kwargs)
        except DomainError:
            RUNS["refused"] += 1
            RUNS[f"refused:{getattr(fn, '__name__', 'lambda')}"] += 1
            return None
        RUNS[f"ok:{getattr(fn, '__name__', 'lambda')}"] += 1
        return result

    def parent_of(self, enrollment_id: int) -> Actor:
        e = self.db.get(Enrollment, enrollment_id)
        assert e is not None
        return next(p for p in self.parents if p.principal_id == e.parent_id)

    # --- the operations ------------------------------------------------------------------

    @initialize()
    def paid_enrollments_to_start_with(self) -> None:
        """So that even a short example has money to move from its first step."""
        for course in (0, 1):
            self.enroll(course=course, parent=course, hours=20, student="小明", pay=True)

    @rule(course=st.integers(0, 1), parent=st.integers(0, 1), hours=st.integers(1, 25),
          student=st.sampled_from(["小明", "小红"]),
          pay=st.sampled_from([True, True, True, False]))
    def enroll(self, course: int, parent: int, hours: int, student: str, pay: bool) -> None:
        e = self.attempt(self.parents[parent], create_enrollment,
                         course_id=self.courses[course][0].id, student_name=student,
                         student_grade=7, class_hours=hours)
        if e is not None:
            self.enrollments.append(e.id)
            if pay:
                self.pay(e, e.amount_fen, e.payment_reference)

    def pay(self, e: Enrollment, amount: int, reference: str) -> None:
        n = next(self.txn)
        outcome = self.attempt(SYSTEM, lambda s, actor: apply_deposit(
            s, actor, event_id=f"ev-{n}", payment_reference=reference, amount_fen=amount,
            trustee_txn_id=f"tx-{n}", received_at=NOW))
        if outcome == "applied":
            self.paid[e.id] += amount

    @precondition(lambda self: self.enrollments)
    @rule(data=st.data(), variant=st.sampled_from(["exact", "wrong", "unknown"]))
    def deposit(self, data: st.DataObject, variant: str) -> None:
        """Payments of unpaid enrollments, and the odd ones: wrong amount, unknown
        reference, an enrollment paid twice."""
        e = self.db.get(Enrollment, data.draw(st.sampled_from(self.enrollments)))
        assert e is not None
        self.pay(e, e.amount_fen + (1 if variant == "wrong" else 0),
                 "SVNOBODY" if variant == "unknown" else e.payment_reference)

    def active(self, course_id: int | None = None) -> list[int]:
        stmt = select(Enrollment.id).where(Enrollment.id.in_(self.enrollments),
                                           Enrollment.status == "active")
        if course_id is not None:
            stmt = stmt.where(Enrollment.course_id == course_id)
        return list(self.db.scalars(stmt.order_by(Enrollment.id)))

    @precondition(lambda self: self.enrollments)
    @rule(data=st.data(), hours=st.none() | st.integers(1, 4), course=st.integers(0, 1))
    def attend(self, data: st.DataObject, hours: int | None, course: int) -> None:
        c, teacher = self.courses[course]
        mine = self.active(c.id)
        if not mine:
            return
        chosen = data.draw(st.lists(st.sampled_from(mine), min_size=1, max_size=3,
                                    unique=True))
        if data.draw(st.integers(0, 9)) == 0:  # now and then, an enrollment not payable
            chosen.append(data.draw(st.sampled_from(self.enrollments)))
        cls = self.make.session_of(c, teacher, starts_at=NOW - dt.timedelta(hours=2))
        made = self.attempt(self.staff[c.institution_id], record_attendance,
                            session_id=cls.id, enrollment_ids=chosen, class_hours=hours,
                            as_of=NOW)
        self.consumptions += [x.id for x in made or []]

    def consumption(self, data: st.DataObject) -> Consumption:
        """Mostly one awaiting an answer; now and then any (a second answer is refused)."""
        waiting = list(self.db.scalars(select(Consumption.id).where(
            Consumption.id.in_(self.consumptions), Consumption.status != "confirmed")))
        pool = waiting if waiting and data.draw(st.integers(0, 4)) else self.consumptions
        c = self.db.get(Consumption, data.draw(st.sampled_from(pool)))
        assert c is not None
        return c

    @precondition(lambda self: self.consumptions)
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        c = self.consumption(data)
        assert c is not None
        self.attempt(self.parent_of(c.enrollment_id), confirm_consumption, c.id, as_of=NOW)

    @precondition(lambda self: self.consumptions)
    @rule(data=st.data())
    def dispute(self, data: st.DataObject) -> None:
        c = self.consumption(data)
        assert c is not None
        self.attempt(self.parent_of(c.enrollment_id), dispute_consumption, c.id,
                     reason="不认可", as_of=NOW)

    @precondition(lambda self: self.consumptions)
    @rule()
    def auto_confirm(self) -> None:
        self.attempt(SYSTEM, lambda s, _: auto_confirm_due(s, NOW + dt.timedelta(days=40)))

    @precondition(lambda self: self.consumptions or self.refunds)
    @rule()
    def release(self) -> None:
        self.attempt(self.regulator, create_release_run)

    def open_instruction(self, data: st.DataObject) -> int | None:
        ids = list(self.db.scalars(select(Instruction.id).where(
            Instruction.status.in_(("pending", "sent")))))
        if not ids or data.draw(st.integers(0, 5)) == 0:
            # Now and then any: an answer for a resolved one must change nothing.
            ids = list(self.db.scalars(select(Instruction.id)))
        return data.draw(st.sampled_from(ids)) if ids else None

    @rule(data=st.data())
    def execute(self, data: st.DataObject) -> None:
        instruction_id = self.open_instruction(data)
        if instruction_id is not None:
            n = next(self.txn)
            self.attempt(SYSTEM,
                         lambda s, _: instruction_executed(s, instruction_id, f"out-{n}", NOW))

    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        instruction_id = self.open_instruction(data)
        if instruction_id is not None:
            self.attempt(SYSTEM,
                         lambda s, _: instruction_failed(s, instruction_id, "bank said no"))

    @precondition(lambda self: self.enrollments)
    @rule(data=st.data(), amount=st.none() | st.integers(1, 80000))
    def refund(self, data: st.DataObject, amount: int | None) -> None:
        eid = data.draw(st.sampled_from(self.active() or self.enrollments))
        r = self.attempt(self.parent_of(eid), request_refund, eid, reason="不想上了",
                         amount_fen=amount, as_of=NOW)
        if r is not None:
            self.refunds.append(r.id)

    def refund_to_decide(self, data: st.DataObject) -> Refund:
        """Mostly a requested one; now and then any (illegal transitions are refused)."""
        waiting = list(self.db.scalars(select(Refund.id).where(
            Refund.id.in_(self.refunds), Refund.status.in_(("requested", "rejected")))))
        pool = waiting if waiting and data.draw(st.integers(0, 4)) else self.refunds
        r = self.db.get(Refund, data.draw(st.sampled_from(pool)))
        assert r is not None
        return r

    @precondition(lambda self: self.refunds)
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        r = self.refund_to_decide(data)
        assert r is not None
        self.attempt(self.staff[r.institution_id], reject_refund, r.id, reason="不同意",
                     as_of=NOW)

    @precondition(lambda self: self.refunds)
    @rule(data=st.data(), by_regulator=st.booleans())
    def approve(self, data: st.DataObject, by_regulator: bool) -> None:
        r = self.refund_to_decide(data)
        actor = self.regulator if by_regulator else self.staff[r.institution_id]
        self.attempt(actor, approve_refund, r.id, as_of=NOW)

    @precondition(lambda self: self.refunds)
    @rule()
    def auto_approve(self) -> None:
        self.attempt(SYSTEM, auto_approve_due, NOW + dt.timedelta(days=30))

    # --- the invariants ------------------------------------------------------------------

    @invariant()
    def the_books_are_right(self) -> None:
        """Checked after every step that called a service (accepted or refused)."""
        if not self.dirty:
            return
        self.dirty = False
        self.every_enrollment_adds_up()
        self.custody_covers_every_unpaid_fen()
        self.a_hold_is_open_exactly_while_its_owner_is_undecided()
        assert verify_ledger(self.db) == []

    def sums_by_enrollment(self, model: Any, status: str) -> dict[int, int]:
        rows = self.db.execute(select(model.enrollment_id, func.sum(model.amount_fen))
                               .where(model.status == status).group_by(model.enrollment_id))
        return {eid: int(total) for eid, total in rows}

    def every_enrollment_adds_up(self) -> None:
        accounts = ledger.enrollment_accounts(self.db, self.enrollments)
        confirmed = self.sums_by_enrollment(Consumption, "confirmed")
        completed = self.sums_by_enrollment(Refund, "completed")
        for eid in self.enrollments:
            acc = accounts[eid]
            balances = {k: acc[k].balance for k in ledger.BUCKETS}
            assert sum(balances.values()) == self.paid[eid], (eid, balances)
            assert min(balances.values()) >= 0
            assert all(a.available >= 0 for a in acc.values())
            assert balances["released"] <= confirmed.get(eid, 0)
            assert balances["refunded"] == completed.get(eid, 0)

    def custody_covers_every_unpaid_fen(self) -> None:
        summaries = trial_balance(self.db, SYSTEM)
        assert summaries.balanced
        by_kind = {a["kind"]: a["balance_fen"] for a in summaries.accounts}
        in_custody = sum(by_kind.get(k, 0) for k in (
            "held", "pending_confirmation", "confirmed", "refund_pending", "suspense",
            "suspense_unidentified"))
        custody = by_kind.get("custody", 0) + by_kind.get("custody_unidentified", 0)
        assert custody == in_custody
        assert by_kind.get("paid_out", 0) == by_kind.get("released", 0)
        assert by_kind.get("refunds_paid", 0) == by_kind.get("refunded", 0)

    def a_hold_is_open_exactly_while_its_owner_is_undecided(self) -> None:
        """Requested refunds hold their amount; pending or sent instructions hold theirs;
        nothing else holds money (a decided refund or an answered instruction has resolved
        its hold)."""
        by_refund: dict[int, int] = defaultdict(int)
        by_instruction: dict[int, int] = defaultdict(int)
        for kind, refund_id, instruction_id, amount in self.db.execute(
                select(LedgerHold.kind, LedgerHold.refund_id, LedgerHold.instruction_id,
                       LedgerHold.amount_fen).where(LedgerHold.status == "pending")):
            if kind == "refund_request":
                by_refund[refund_id] += amount
            else:
                by_instruction[instruction_id] += amount
        requested = self.db.execute(select(Refund.id, Refund.amount_fen).where(
            Refund.status == "requested"))
        assert by_refund == {refund_id: amount for refund_id, amount in requested}
        undecided = self.db.execute(select(Instruction.id, Instruction.amount_fen).where(
            Instruction.status.in_(("pending", "sent"))))
        assert by_instruction == {instruction_id: amount for instruction_id, amount in undecided}


@pytest.mark.slow
def test_random_sequences_of_escrow_operations_keep_every_invariant(engine: Engine) -> None:
    app_settings = load_settings({"DATABASE_URL": str(engine.url), "TESTING": True})
    run_state_machine_as_test(
        lambda: LedgerMachine(engine, app_settings),
        settings=settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEPS,
                          deadline=None, database=None,
                          suppress_health_check=list(HealthCheck)))
    print(f"\nledger state machine: {RUNS['examples']} examples, {RUNS['steps']} steps, "
          f"{RUNS['refused']} refused")
    print(dict(RUNS))
    assert RUNS["examples"] >= MAX_EXAMPLES
