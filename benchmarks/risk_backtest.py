"""Backtest of the risk score (风险预警, issue 11): does it see a collapse coming, and how often
does it cry wolf?

    python -m benchmarks.risk_backtest [--institutions 500] [--days 180] [--seed 2026]

A synthetic city is simulated day by day in a fresh SQLite database. Each day's sessions,
consumptions, refunds, complaints, deposits, releases and the trustee's statement of the day
before are written in bulk (the ledger's balanced double entries, with each account's counters
kept equal to its entries: the trial balance and verify_ledger are checked at the end); then
the score's own SQL (supervision.risk.factors.read_all) reads every factor as of that evening,
exactly as the daily run does. Because the readings are kept, the score can be recomputed
under other weights without simulating again: the report compares the configured weights
with a few alternatives.

Institutions:
- healthy, with noise: weekday and weekend rhythm, a holiday month in which some close (no
  classes at all) and the rest run camps, one-off refund waves (a course ends, a teacher
  moves), a few complaints and disputes, occasional statement timing differences;
- distressed survivors (hard negatives): a rough patch of refunds, cancellations and a
  teacher leaving, then recovery;
- collapsing: over 10-60 days before the collapse day, refunds surge, classes are cancelled
  until consumption stops, teachers leave, complaints and disputes rise, deposits continue
  (promotions), and in some the trustee's balance falls below the ledger's custody.

Report: for each collapse, the days between the first `high` and the collapse; the share of
healthy institutions (and of healthy institution-days) ever `high`; precision and recall by
threshold (an institution counts as alarmed at threshold t if its score reached t on any
evaluated day, before its collapse for a collapsing one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from supervision import create_app
from supervision.access.principals import create_principal
from supervision.access.scope import SYSTEM, policy_of
from supervision.clock import SHANGHAI
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow import ledger
from supervision.escrow.queries import trial_balance, verify_ledger
from supervision.models import Base, ClassSession, Complaint, Statement, Teacher
from supervision.models.escrow import (
    Consumption,
    Enrollment,
    LedgerAccount,
    LedgerEntry,
    Refund,
)
from supervision.risk.factors import Readings, read_all
from supervision.risk.runs import compute_factors
from supervision.risk.scoring import FactorSpec, RiskPolicy
from tests.support.factories import Factory

START = dt.date(2026, 3, 2)  # a Monday: spring term
HOLIDAY = (dt.date(2026, 7, 4), dt.date(2026, 7, 31))  # the summer month of the city
WARM_UP = 45  # days simulated before the first scoring: the refund baseline needs history
MIN_DAYS = WARM_UP + 50  # the shortest city a survivor's rough patch fits in
THRESHOLDS = range(30, 100, 10)
DISTRICTS = ("320205", "320206", "320211", "320213", "320214", "320281", "320282")


@dataclass
class Inst:
    """One synthetic institution's character and running state."""

    id: int = 0
    kind: str = "healthy"  # healthy | survivor | collapse
    course_id: int = 0
    teachers: list[int] = field(default_factory=list)
    enrollment_id: int = 0
    accounts: dict[str, int] = field(default_factory=dict)  # kind -> account id
    price: int = 4000
    students: int = 12
    per_weekday: int = 2
    refund_rate: float = 0.08  # refund requests a day, normally
    closes_in_holiday: bool = False
    collapse_day: int | None = None  # simulation day of the collapse (关门)
    decline_days: int = 0
    shortfall: bool = False  # the trustee's balance falls below custody
    rough: tuple[int, int] | None = None  # a survivor's rough patch (first, last day)
    wave_day: int | None = None  # a one-off refund wave
    left: set[int] = field(default_factory=set)
    statement_gap: float = 0.0  # today's trustee timing difference (fraction)

    def stress(self, day: int) -> float:
        """0 (normal) to 1 (the collapse itself) on the path to collapse; a survivor's rough
        patch peaks at 0.5 and passes."""
        if self.collapse_day is not None:
            start = self.collapse_day - self.decline_days
            if day < start:
                return 0.0
            return min(1.0, (day - start) / self.decline_days)
        if self.rough is not None and self.rough[0] <= day <= self.rough[1]:
            mid = (self.rough[0] + self.rough[1]) / 2
            half = (self.rough[1] - self.rough[0]) / 2
            return 0.5 * (1 - abs(day - mid) / half)
        return 0.0


class Books:
    """Balanced entries and the counters they imply, written once a day."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.counters: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.touched: set[int] = set()

    def move(self, inst: Inst, debit: str, credit: str, amount: int, kind: str,
             at: dt.datetime) -> None:
        if amount <= 0:
            return
        txn = uuid.uuid4().hex
        for account_kind, direction in ((debit, "debit"), (credit, "credit")):
            account_id = inst.accounts[account_kind]
            self.entries.append(dict(
                txn_id=txn, account_id=account_id, account_kind=account_kind,
                direction=direction, amount_fen=amount, kind=kind,
                enrollment_id=inst.enrollment_id, institution_id=inst.id, ref_type=None,
                ref_id=None, trustee_txn_id=None, at=at))
            self.counters[account_id][0 if direction == "debit" else 1] += amount
            self.touched.add(account_id)

    def balance(self, inst: Inst, kind: str) -> int:
        debits, credits = self.counters[inst.accounts[kind]]
        return debits - credits if kind in ledger.INSTITUTION_ACCOUNTS and \
            ledger.INSTITUTION_ACCOUNTS[kind] == "debit" else credits - debits

    def flush(self, session: Session) -> None:
        if self.entries:
            session.execute(insert(LedgerEntry), self.entries)
        if self.touched:
            session.execute(update(LedgerAccount), [
                {"id": a, "debits_posted": self.counters[a][0],
                 "credits_posted": self.counters[a][1]} for a in sorted(self.touched)])
        self.entries, self.touched = [], set()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def _characters(rng: random.Random, n: int, days: int) -> list[Inst]:
    out = []
    collapse_n, survivor_n = max(1, round(n * 0.08)), round(n * 0.06)
    kinds = ["collapse"] * collapse_n + ["survivor"] * survivor_n
    kinds += ["healthy"] * (n - len(kinds))
    rng.shuffle(kinds)
    for kind in kinds:
        inst = Inst(kind=kind, price=rng.choice((3000, 4000, 4500, 6000, 8000)),
                    students=rng.randint(6, 20), per_weekday=rng.randint(1, 3),
                    refund_rate=rng.uniform(0.03, 0.15),
                    closes_in_holiday=rng.random() < 0.4)
        if kind == "collapse":
            inst.collapse_day = rng.randint(WARM_UP + 45, days - 1)
            sudden = rng.random() < 0.3
            inst.decline_days = rng.randint(10, 20) if sudden else rng.randint(21, 60)
            inst.shortfall = rng.random() < 0.4
        elif kind == "survivor":
            first = rng.randint(WARM_UP, days - 50)
            inst.rough = (first, first + rng.randint(30, 50))
        elif rng.random() < 0.12:
            inst.wave_day = rng.randint(WARM_UP, days - 5)
        out.append(inst)
    return out


def _setup(session: Session, rng: random.Random, insts: list[Inst]) -> int:
    """Institutions, teachers and courses through the factory (the registry's own rows), one
    escrow pool enrollment per institution with its ledger accounts; returns the parent id."""
    parent, _ = create_principal(session, role="parent", name="回测家长")
    make = Factory(session)
    for n, inst in enumerate(insts):
        row = make.institution(name=f"回测机构{n:04d}", district_code=DISTRICTS[n % 7],
                               category="non_subject")
        inst.id = row.id
        course = make.course(row, name="综合素养课", subject="art", category="non_subject",
                             price_per_class_hour_fen=inst.price)
        inst.course_id = course.id
        inst.teachers = [make.teacher(row).id
                         for _ in range(inst.per_weekday + rng.randint(1, 2))]
        # One enrollment pools the institution's families: the factors read per institution,
        # and a pool keeps the data set small while every movement is still a ledger entry.
        hours = 10_000_000
        enrollment = Enrollment(
            parent_id=parent.id, institution_id=row.id, course_id=course.id,
            student_name=f"回测学员池{n:04d}", student_grade=4, class_hours=hours,
            consumed_hours=0, price_per_class_hour_fen=1, amount_fen=hours,
            payment_reference=f"BT{n:08d}", status="active", paid_at=_at(START, 8))
        session.add(enrollment)
        session.flush()
        inst.enrollment_id = enrollment.id
        ledger.open_institution_accounts(session, row.id)
        ledger.open_enrollment_accounts(session, enrollment.id, row.id)
    session.flush()
    by_code = {a.code: a.id for a in session.query(LedgerAccount)}
    for inst in insts:
        inst.accounts = {kind: by_code[ledger.inst(inst.id, kind)]
                         for kind in ledger.INSTITUTION_ACCOUNTS}
        inst.accounts.update({kind: by_code[ledger.enr(inst.enrollment_id, kind)]
                              for kind in ledger.BUCKETS})
    return parent.id


@dataclass
class DayRows:
    sessions: list[dict[str, Any]] = field(default_factory=list)
    consumptions: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    left: list[dict[str, Any]] = field(default_factory=list)  # teachers' leaving dates


class City:
    def __init__(self, rng: random.Random, insts: list[Inst], parent_id: int) -> None:
        self.rng, self.insts, self.parent_id = rng, insts, parent_id
        self.books = Books()
        self.next_session_id = 1
        self.closing: dict[int, int] = {}  # yesterday's custody, for today's statement

    def daily_consumption(self, inst: Inst) -> float:
        return inst.per_weekday * (5 + 2 * 2) / 7 * inst.students * inst.price

    def simulate(self, session: Session, d: int) -> None:
        day = START + dt.timedelta(days=d)
        rows = DayRows()
        holiday = HOLIDAY[0] <= day <= HOLIDAY[1]
        for inst in self.insts:
            if inst.collapse_day is not None and d > inst.collapse_day:
                continue  # closed: nothing happens any more (its scores are not evaluated)
            self._statement(inst, day, rows)
            if d == 0:
                self.books.move(inst, "custody", "held",
                                int(self.daily_consumption(inst) * self.rng.uniform(50, 90)),
                                "deposit", _at(day, 8))
            stress = inst.stress(d)
            self._teachers_leave(inst, stress, day, rows)
            self._classes(inst, d, day, stress, holiday, rows)
            self._refunds(inst, d, day, stress, rows)
            self._deposits(inst, d, day, stress, holiday)
            lam = 0.01 + (0.5 if inst.kind == "collapse" else 0.15) * stress ** 2
            for _ in range(_poisson(self.rng, lam)):
                rows.complaints.append(dict(
                    institution_id=inst.id, parent_id=self.parent_id, category="refund",
                    text="回测投诉", status="submitted", respond_by=day, due_on=day,
                    created_at=_at(day, 12)))
            if day.weekday() == 6:  # the weekly release and refund payments
                self._weekly(inst, day)
            custody = self.books.balance(inst, "custody")
            gap = 0.25 * stress if inst.shortfall and stress > 0.5 else 0.0
            if inst.kind != "collapse" and self.rng.random() < 0.01:
                gap = self.rng.uniform(0.01, 0.05)  # a timing difference, gone next day
            self.closing[inst.id] = int(custody * (1 - gap))
        for model, values in ((ClassSession, rows.sessions), (Consumption, rows.consumptions),
                              (Refund, rows.refunds), (Complaint, rows.complaints),
                              (Statement, rows.statements)):
            if values:
                session.execute(insert(model), values)
        if rows.left:
            session.execute(update(Teacher), rows.left)
        self.books.flush(session)

    def _statement(self, inst: Inst, day: dt.date, rows: DayRows) -> None:
        """Yesterday's statement arrives this morning (the trustee's end-of-day balance)."""
        closing = self.closing.get(inst.id)
        if closing is None:
            return
        yesterday = day - dt.timedelta(days=1)
        rows.statements.append(dict(
            account_no=f"GLXT-{inst.id:08d}", date=yesterday, institution_id=inst.id,
            opening_balance_fen=closing, closing_balance_fen=closing, line_count=0,
            body_hash=f"{inst.id:032d}{yesterday:%Y%m%d}", source="pull", report={}))

    def _teachers_leave(self, inst: Inst, stress: float, day: dt.date, rows: DayRows) -> None:
        if stress <= 0:
            return
        chance = 0.03 if inst.kind == "collapse" else 0.01
        for teacher in inst.teachers:
            if teacher not in inst.left and len(inst.left) < len(inst.teachers) - 1 \
                    and self.rng.random() < chance * stress:
                inst.left.add(teacher)
                rows.left.append({"id": teacher, "left_on": day})  # the factor reads left_on

    def _classes(self, inst: Inst, d: int, day: dt.date, stress: float, holiday: bool,
                 rows: DayRows) -> None:
        count = inst.per_weekday * (2 if day.weekday() >= 5 else 1)
        if holiday:
            count = 0 if inst.closes_in_holiday else count + 1  # closed, or a summer camp
        staying = [t for t in inst.teachers if t not in inst.left] or inst.teachers[:1]
        cancel = 0.02 + (0.98 if inst.kind == "collapse" else 0.4) * stress ** 1.5
        disputes = 0.01 + (0.15 if inst.kind == "collapse" else 0.05) * stress
        held = self.books.balance(inst, "held")
        consumed = 0
        for k in range(count):
            sid = self.next_session_id
            self.next_session_id += 1
            starts = _at(day, 16 + k % 5, 0)
            cancelled = self.rng.random() < cancel
            rows.sessions.append(dict(
                id=sid, course_id=inst.course_id, institution_id=inst.id, starts_at=starts,
                ends_at=starts + dt.timedelta(minutes=45),
                teacher_id=staying[k % len(staying)], venue_id=None,
                status="cancelled" if cancelled else "scheduled", created_at=starts))
            attended = max(1, int(inst.students * self.rng.uniform(0.8, 1.0)))
            amount = attended * inst.price
            if cancelled or held - consumed < amount:
                continue
            consumed += amount
            disputed = self.rng.random() < disputes
            at = starts + dt.timedelta(hours=1)
            rows.consumptions.append(dict(
                enrollment_id=inst.enrollment_id, session_id=sid, institution_id=inst.id,
                parent_id=self.parent_id, class_hours=attended, amount_fen=amount,
                status="disputed" if disputed else "pending_confirmation", recorded_at=at,
                auto_confirm_at=at + dt.timedelta(days=21), disputed_at=at if disputed else None))
        self.books.move(inst, "held", "pending_confirmation", consumed, "consumption",
                        _at(day, 21))

    def _refunds(self, inst: Inst, d: int, day: dt.date, stress: float, rows: DayRows) -> None:
        surge = 9.0 if inst.kind == "collapse" else 4.0
        lam = inst.refund_rate * (1 + surge * stress ** 2)
        if inst.wave_day is not None and inst.wave_day <= d < inst.wave_day + 3:
            lam += self.rng.uniform(1.5, 3.5)
        held = self.books.balance(inst, "held")
        total = 0
        for _ in range(_poisson(self.rng, lam)):
            amount = min(held - total, self.rng.randint(10, 30) * inst.price)
            if amount <= 0:
                break
            total += amount
            at = _at(day, self.rng.randint(9, 20))
            rows.refunds.append(dict(
                enrollment_id=inst.enrollment_id, institution_id=inst.id,
                parent_id=self.parent_id, amount_fen=amount, reason="回测退费",
                status="instructed", requested_at=at, auto_approve_at=at,
                decided_at=at, decided_by="institution"))
        self.books.move(inst, "held", "refund_pending", total, "refund_request", _at(day, 21))

    def _deposits(self, inst: Inst, d: int, day: dt.date, stress: float, holiday: bool) -> None:
        if inst.collapse_day is not None and d > inst.collapse_day - 3:
            return  # the doors are shut
        season = 1.6 if day < START + dt.timedelta(days=14) or day.month == 8 else 1.0
        season *= 0.5 if holiday and inst.closes_in_holiday else 1.0
        promo = 1 + (0.5 * stress if inst.kind == "collapse" else -0.3 * stress)
        mean = self.daily_consumption(inst) * 1.05 * season * promo
        mean += inst.refund_rate * 20 * inst.price
        amount = int(mean * self.rng.lognormvariate(0, 0.5))
        self.books.move(inst, "custody", "held", amount, "deposit", _at(day, 10))

    def _weekly(self, inst: Inst, day: dt.date) -> None:
        at = _at(day, 22)
        pending = self.books.balance(inst, "pending_confirmation")
        self.books.move(inst, "pending_confirmation", "confirmed", pending, "confirmation", at)
        self.books.move(inst, "confirmed", "released", pending, "release", at)
        self.books.move(inst, "paid_out", "custody", pending, "release_paid", at)
        refunds = self.books.balance(inst, "refund_pending")
        self.books.move(inst, "refund_pending", "refunded", refunds, "refund_paid", at)
        self.books.move(inst, "refunds_paid", "custody", refunds, "refund_paid", at)


# --- evaluation ------------------------------------------------------------------------------

def scores_under(policy: RiskPolicy, days: list[tuple[int, Readings]],
                 insts: list[Inst]) -> dict[int, list[tuple[int, int]]]:
    """{institution id: [(day, score)]} for every evaluated day the institution was open."""
    open_until = {i.id: i.collapse_day if i.collapse_day is not None else 10 ** 6
                  for i in insts}
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d, readings in days:
        for i in readings.custody:
            if d <= open_until[i]:
                score = sum(f["contribution"] for f in compute_factors(readings, i, policy))
                out[i].append((d, score))
    return out


@dataclass
class Result:
    lead: list[int | None]
    healthy_ever_high: float
    healthy_days_high: float
    table: list[tuple[int, int, int, int, float, float, float | None]]


def evaluate(policy: RiskPolicy, days: list[tuple[int, Readings]],
             insts: list[Inst]) -> Result:
    scores = scores_under(policy, days, insts)
    collapses = [i for i in insts if i.kind == "collapse"]
    healthy = [i for i in insts if i.kind != "collapse"]

    def first_at(inst: Inst, t: int) -> int | None:
        return next((d for d, s in scores[inst.id] if s >= t), None)

    lead = [None if (f := first_at(i, policy.high_from)) is None
            else (i.collapse_day or 0) - f for i in collapses]
    ever = sum(1 for i in healthy if first_at(i, policy.high_from) is not None)
    days_high = sum(1 for i in healthy for _d, s in scores[i.id] if s >= policy.high_from)
    days_all = sum(len(scores[i.id]) for i in healthy)
    table = []
    for t in THRESHOLDS:
        tp = [i for i in collapses if first_at(i, t) is not None]
        fp = sum(1 for i in healthy if first_at(i, t) is not None)
        precision = len(tp) / (len(tp) + fp) if tp or fp else 1.0
        recall = len(tp) / len(collapses)
        leads = [(i.collapse_day or 0) - (first_at(i, t) or 0) for i in tp]
        table.append((t, len(tp), fp, len(collapses) - len(tp), precision, recall,
                      statistics.median(leads) if leads else None))
    return Result(lead, ever / len(healthy), days_high / max(1, days_all), table)


def print_result(title: str, policy: RiskPolicy, result: Result, insts: list[Inst]) -> None:
    weights = ", ".join(f"{c} {s.weight}" for c, s in policy.factors.items())
    print(f"\n## {title}\nweights: {weights}; medium from {policy.medium_from}, "
          f"high from {policy.high_from}")
    seen = [x for x in result.lead if x is not None]
    print(f"collapses seen at `high` before the day: {len(seen)} of {len(result.lead)}; "
          f"lead time (days) median {statistics.median(seen) if seen else '-'}, "
          f"min {min(seen) if seen else '-'}, max {max(seen) if seen else '-'}")
    print(f"lead times, each collapse: {sorted(result.lead, key=lambda x: -1 if x is None else x)}")
    print(f"healthy institutions ever `high`: {result.healthy_ever_high:.1%}; healthy "
          f"institution-days `high`: {result.healthy_days_high:.2%}")
    print("| threshold | collapses alarmed (TP) | healthy alarmed (FP) | missed (FN) | "
          "precision | recall | median lead (days) |")
    print("|---|---|---|---|---|---|---|")
    for t, tp, fp, fn, p, r, lead in result.table:
        print(f"| {t} | {tp} | {fp} | {fn} | {p:.2f} | {r:.2f} | "
              f"{'-' if lead is None else f'{lead:g}'} |")


def with_weights(policy: RiskPolicy, weights: dict[str, int]) -> RiskPolicy:
    factors = {c: FactorSpec(weights.get(c, s.weight), s.neutral, s.alarm)
               for c, s in policy.factors.items()}
    return replace(policy, factors=factors)


ALTERNATIVES = {
    "refunds and runway first": {"refund_surge": 25, "prepaid_runway": 20,
                                 "custody_coverage": 15, "dispute_rate": 5,
                                 "cancellations": 15, "complaints": 10, "teachers_left": 5,
                                 "critical_flags": 5},
    "activity signals first": {"refund_surge": 25, "prepaid_runway": 15,
                               "custody_coverage": 10, "dispute_rate": 5, "cancellations": 20,
                               "complaints": 10, "teachers_left": 10, "critical_flags": 5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.days < MIN_DAYS:
        # The warm-up, then a collapse's slow decline (up to 45 days) must fit in.
        parser.error(f"--days must be at least {MIN_DAYS}")
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'risk_backtest.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        settings = create_app({"DATABASE_URL": url}).config["SUPERVISION"]
        factory = make_sessionmaker(engine)
        insts = _characters(rng, args.institutions, args.days)
        readings: list[tuple[int, Readings]] = []
        read_seconds = 0.0
        with transaction(factory, settings=settings, actor=SYSTEM) as session:
            parent_id = _setup(session, rng, insts)
            policy = RiskPolicy.from_policy(policy_of(session))
            city = City(rng, insts, parent_id)
            for d in range(args.days):
                city.simulate(session, d)
                session.flush()
                if d >= WARM_UP:
                    day = START + dt.timedelta(days=d)
                    t0 = time.perf_counter()
                    readings.append((d, read_all(session, _at(day, 23, 30), day)))
                    read_seconds += time.perf_counter() - t0
            tb = trial_balance(session, SYSTEM)
            problems = verify_ledger(session)
            counts = {m.__tablename__: session.query(m).count()
                      for m in (ClassSession, Consumption, Refund, Complaint, Statement,
                                LedgerEntry)}
        engine.dispose()
    kinds = {k: sum(1 for i in insts if i.kind == k) for k in ("healthy", "survivor", "collapse")}
    print(f"# Risk backtest: {args.institutions} institutions ({kinds}), {args.days} days from "
          f"{START}, scored daily from day {WARM_UP}; seed {args.seed}")
    print(f"rows: {counts}; books balanced={tb.balanced}, verify_ledger problems="
          f"{len(problems)}")
    print(f"time: {time.perf_counter() - started:.0f} s in all, of which reading the factors "
          f"(the score's SQL) {read_seconds:.0f} s for {len(readings)} days")
    print_result("configured weights (config/policy.toml [risk])", policy,
                 evaluate(policy, readings, insts), insts)
    for title, weights in ALTERNATIVES.items():
        alt = with_weights(policy, weights)
        print_result(f"alternative: {title}", alt, evaluate(alt, readings, insts), insts)
    if problems:
        raise SystemExit(f"the generated books do not agree: {problems[:5]}")


if __name__ == "__main__":
    main()
