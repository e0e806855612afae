"""Generate the escrow benchmarks' data set (QUALITY.md "Performance"), deterministic for a seed.

    python -m benchmarks.gen_escrow [--seed 2026] [--bulk 100000] [--keep]

Standalone it creates its own database (sv_bench_escrow_gen), generates, checks the books and
drops the database again (unless --keep); bench_escrow calls generate() on its own database.

Two parts:
- Through the services (create_enrollment as the parent, apply_deposit as the trustee's event
  would): institution 甲 with a course of `attendance_enrollments` paid 60-hour enrollments and
  `attendance_sessions` started 45-minute sessions (the attendance postings, one enrollment per
  request: at most 60 of them, the hours paid for), and `classes40` courses of 40 paid
  enrollments, each with `class40_sessions` started sessions (attendance of a whole class in
  one request; one class per measurement run). The sessions are the last days' evenings, so
  they have started whatever the date of the run; everything else is fixed by the seed.
- In bulk (COPY), for the escrow status read and the reconciliation: institution 乙 (made by the
  services, its ledger accounts opened by them) with `bulk` active enrollments, each with its
  six bucket accounts, one deposit received on DAY (so its custody account moved `bulk` times
  that day, matching a `bulk`-line statement), 0-6 consumptions of which some confirmed, and
  the balanced ledger entries of all of it (~11 per enrollment: 1.1 million for 100,000). The
  account counters are the sums of the entries; the trial balance and verify_ledger (every
  account against its entries) are checked afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from supervision import clock, create_app
from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import SYSTEM
from supervision.config import Settings
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow import apply_deposit, create_enrollment, ledger
from supervision.escrow.queries import trial_balance, verify_ledger
from supervision.models import Base, Course, Institution
from supervision.models.escrow import LedgerAccount, LedgerEntry
from tests.support.factories import Factory

from ._common import load_average, temporary_database

SH = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 20)  # the statement day: every bulk deposit was received then
HOURS = 60  # class hours per enrollment (the RULES.md §3 cap)
PRICE = 4000  # fen per class hour: 60 hours = 240,000 fen, under the 500,000 cap
PARENTS = 200


@dataclass
class Manifest:
    """What the benchmark needs to know about the data set (ids and tokens)."""

    regulator_token: str = ""
    institution_token: str = ""  # institution 甲's staff
    attendance_sessions: list[int] = field(default_factory=list)
    attendance_enrollments: list[int] = field(default_factory=list)
    # One class of 40 per measurement run, (its sessions, its enrollments): a class's 60 paid
    # hours last one run's requests, not three.
    classes40: list[tuple[list[int], list[int]]] = field(default_factory=list)
    parent_tokens: list[str] = field(default_factory=list)
    # (enrollment id, index into parent_tokens) of bulk enrollments, for the status reads
    read_targets: list[tuple[int, int]] = field(default_factory=list)
    big_account_no: str = ""
    big_deposits: list[tuple[str, int]] = field(default_factory=list)  # (trustee_txn_id, fen)
    ledger_entries: int = 0


# --- through the services --------------------------------------------------------------------

def _past_sessions(make: Factory, course: Course, teacher: Any, n: int,
                   first: dt.datetime) -> list[int]:
    """`n` 45-minute sessions (one class hour each), one a day at 18:00 from `first`."""
    return [make.session_of(course, teacher, starts_at=first + dt.timedelta(days=i),
                            minutes=45).id for i in range(n)]


def _last_days(n: int) -> dt.datetime:
    """18:00 Shanghai time `n` days ago: `n` daily sessions from then have all started (an
    attendance for a session not yet started is refused), whatever the date of the run."""
    day = clock.today() - dt.timedelta(days=n)
    return dt.datetime.combine(day, dt.time(18), tzinfo=SH)


def _paid_enrollments(session: Session, course: Course, parents: Sequence[Any], n: int,
                      tag: str, received_at: dt.datetime) -> list[int]:
    """`n` enrollments of `course`, each by one of `parents`, paid in full through the
    deposit service (as the trustee's deposit.received event books it)."""
    ids = []
    for i in range(n):
        enrollment = create_enrollment(session, actor_for(parents[i % len(parents)]),
                                       course_id=course.id,
                                       student_name=f"{tag}学生{i:05d}", student_grade=8,
                                       class_hours=HOURS)
        outcome = apply_deposit(session, SYSTEM, event_id=f"evt-{tag}-{i}",
                                payment_reference=enrollment.payment_reference,
                                amount_fen=enrollment.amount_fen,
                                trustee_txn_id=f"T{tag}{i:07d}", received_at=received_at)
        assert outcome == "applied", outcome
        ids.append(enrollment.id)
    return ids


def _service_part(make: Factory, m: Manifest, parents: list[Any], *,
                  attendance_enrollments: int, attendance_sessions: int, classes40: int,
                  class40_sessions: int) -> None:
    session = make.session
    inst = make.institution(name="基准培训学校甲")
    teacher = make.teacher(inst)
    m.institution_token = make.token("institution", institution=inst)
    first = _last_days(max(attendance_sessions, class40_sessions))
    # Paid the morning of the first session: prepaid money pays only for classes after it
    # arrived (SESSION_BEFORE_ENROLLMENT).
    received = first - dt.timedelta(hours=8)
    single = make.course(inst, name="初二数学（单人课消）", price_per_class_hour_fen=PRICE)
    m.attendance_sessions = _past_sessions(make, single, teacher, attendance_sessions, first)
    m.attendance_enrollments = _paid_enrollments(session, single, parents,
                                                 attendance_enrollments, "A", received)
    for k in range(classes40):
        whole = make.course(inst, name=f"初二数学（整班课消{k + 1}班）", class_size=40,
                            price_per_class_hour_fen=PRICE)
        m.classes40.append((_past_sessions(make, whole, teacher, class40_sessions, first),
                            _paid_enrollments(session, whole, parents, 40, f"C{k}", received)))


# --- in bulk ---------------------------------------------------------------------------------

class Books:
    """Balanced entries as rows, and each account's posted counters summed as they go."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self.counters: dict[int, list[int]] = defaultdict(lambda: [0, 0])

    def move(self, debit: tuple[int, str], credit: tuple[int, str], amount: int, kind: str,
             enrollment_id: int | None, institution_id: int, ref: tuple[str, int],
             trustee_txn_id: str | None, at: dt.datetime) -> None:
        txn = uuid.UUID(int=random.getrandbits(128)).hex
        for (account_id, account_kind), direction in ((debit, "debit"), (credit, "credit")):
            self.entries.append((txn, account_id, account_kind, direction, amount, kind,
                                 enrollment_id, institution_id, ref[0], ref[1],
                                 trustee_txn_id, at))
            self.counters[account_id][0 if direction == "debit" else 1] += amount


ENTRY_COLUMNS = ("txn_id", "account_id", "account_kind", "direction", "amount_fen", "kind",
                 "enrollment_id", "institution_id", "ref_type", "ref_id", "trustee_txn_id", "at")


def _copy(session: Session, table: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> None:
    raw: Any = session.connection().connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _next_id(session: Session, table: str) -> int:
    return int(session.scalar(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")) or 1)


def _bump_sequence(session: Session, table: str) -> None:
    session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))"))


@dataclass
class BulkPlan:
    """Ids and rows of the bulk enrollments, built in memory before any COPY."""

    enrollments: list[tuple[Any, ...]] = field(default_factory=list)
    accounts: list[tuple[Any, ...]] = field(default_factory=list)
    deposits: list[tuple[Any, ...]] = field(default_factory=list)
    consumptions: list[tuple[Any, ...]] = field(default_factory=list)
    books: Books = field(default_factory=Books)


def _plan_bulk(rng: random.Random, n: int, inst: Institution, course: Course,
               sessions: list[int], custody: tuple[int, str], parent_ids: list[int],
               first: dict[str, int]) -> BulkPlan:
    plan = BulkPlan()
    eid, aid, did, cid = first["enrollments"], first["ledger_accounts"], first[
        "deposits"], first["consumptions"]
    day_start = dt.datetime.combine(DAY, dt.time(8), tzinfo=SH)
    for i in range(n):
        parent_id, amount = parent_ids[i % len(parent_ids)], HOURS * PRICE
        k = rng.randint(0, min(6, len(sessions)))
        confirmed = rng.randint(0, k)
        received = day_start + dt.timedelta(seconds=rng.randrange(12 * 3600))
        plan.enrollments.append((eid, parent_id, inst.id, course.id, f"乙学生{i:06d}", 8, HOURS,
                                 k, PRICE, amount, f"SVB{i:013d}", "active", received,
                                 received))
        acc = {kind: (aid + j, kind) for j, kind in enumerate(ledger.BUCKETS)}
        plan.accounts += [(a, ledger.enr(eid, kind), kind, "credit", eid, inst.id)
                          for kind, (a, _) in acc.items()]
        txn = f"TB{i:08d}"
        plan.deposits.append((did, f"evt-B-{i}", txn, f"SVB{i:013d}", amount, received, eid,
                              inst.id, "applied", received))
        plan.books.move(custody, acc["held"], amount, "deposit", eid, inst.id,
                        ("deposit", did), txn, received)
        for j in range(k):
            at = received + dt.timedelta(days=1 + j)
            status = "confirmed" if j < confirmed else "pending_confirmation"
            plan.consumptions.append((cid, eid, sessions[j], inst.id, parent_id, 1, PRICE,
                                      status, at, at + dt.timedelta(days=21),
                                      at + dt.timedelta(days=1) if j < confirmed else None))
            plan.books.move(acc["held"], acc["pending_confirmation"], PRICE, "consumption",
                            eid, inst.id, ("consumption", cid), None, at)
            if j < confirmed:
                plan.books.move(acc["pending_confirmation"], acc["confirmed"], PRICE,
                                "confirmation", eid, inst.id, ("consumption", cid), None,
                                at + dt.timedelta(days=1))
            cid += 1
        eid, aid, did = eid + 1, aid + len(ledger.BUCKETS), did + 1
    return plan


def _write_bulk(session: Session, plan: BulkPlan, custody_id: int) -> None:
    counters = plan.books.counters
    _copy(session, "enrollments", (
        "id", "parent_id", "institution_id", "course_id", "student_name", "student_grade",
        "class_hours", "consumed_hours", "price_per_class_hour_fen", "amount_fen",
        "payment_reference", "status", "created_at", "paid_at"), plan.enrollments)
    _copy(session, "ledger_accounts", (
        "id", "code", "kind", "normal", "enrollment_id", "institution_id", "debits_posted",
        "credits_posted", "debits_pending", "credits_pending"),
        ((*row, counters[row[0]][0], counters[row[0]][1], 0, 0) for row in plan.accounts))
    _copy(session, "deposits", (
        "id", "event_id", "trustee_txn_id", "payment_reference", "amount_fen", "received_at",
        "enrollment_id", "institution_id", "outcome", "booked_at"), plan.deposits)
    _copy(session, "consumptions", (
        "id", "enrollment_id", "session_id", "institution_id", "parent_id", "class_hours",
        "amount_fen", "status", "recorded_at", "auto_confirm_at", "confirmed_at"),
        plan.consumptions)
    _copy(session, "ledger_entries", ENTRY_COLUMNS, plan.books.entries)
    session.execute(text(
        "UPDATE ledger_accounts SET debits_posted = debits_posted + :d, "
        "credits_posted = credits_posted + :c WHERE id = :id"),
        {"id": custody_id, "d": counters[custody_id][0], "c": counters[custody_id][1]})
    for table in ("enrollments", "ledger_accounts", "deposits", "consumptions"):
        _bump_sequence(session, table)


def _bulk_part(make: Factory, m: Manifest, rng: random.Random, parent_ids: list[int],
               n: int) -> None:
    session = make.session
    inst = make.institution(name="基准培训学校乙", supervised_account_no="BENCH-BIG-000001")
    teacher = make.teacher(inst)
    course = make.course(inst, name="初三英语", subject="english", grade_min=9, grade_max=9,
                         price_per_class_hour_fen=PRICE)
    sessions = _past_sessions(make, course, teacher, 6, dt.datetime(2026, 11, 21, 18,
                                                                      tzinfo=SH))
    ledger.open_institution_accounts(session, inst.id)  # the service opens its accounts
    custody_id = session.scalar(select(LedgerAccount.id).where(
        LedgerAccount.code == ledger.inst(inst.id, "custody")))
    assert custody_id is not None
    first = {t: _next_id(session, t) for t in ("enrollments", "ledger_accounts", "deposits",
                                               "consumptions")}
    plan = _plan_bulk(rng, n, inst, course, sessions, (custody_id, "custody"),
                      parent_ids, first)
    _write_bulk(session, plan, custody_id)
    m.big_account_no = inst.supervised_account_no
    m.big_deposits = [(d[2], d[4]) for d in plan.deposits]
    picks = rng.sample(range(n), min(n, 2000))
    m.read_targets = [(plan.enrollments[i][0], i % len(parent_ids)) for i in picks]


# --- the whole -------------------------------------------------------------------------------

def generate(url: str, *, seed: int = 2026, bulk: int = 100_000,
             attendance_enrollments: int = 600, attendance_sessions: int = HOURS,
             classes40: int = 3, class40_sessions: int = 53) -> Manifest:
    """Build the data set in the (empty) database at `url`; prints one line per step."""
    random.seed(seed)  # Books' transfer ids
    rng = random.Random(seed)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    settings = create_app({"DATABASE_URL": url}).config["SUPERVISION"]
    factory = make_sessionmaker(engine)
    m = Manifest()
    started = time.perf_counter()
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        _, m.regulator_token = create_principal(session, role="regulator", name="基准监管员")
        issued = [create_principal(session, role="parent", name=f"基准家长{i:03d}")
                  for i in range(PARENTS)]
        parents = [p for p, _ in issued]
        m.parent_tokens = [t for _, t in issued]
        parent_ids = [p.id for p in parents]
        make = Factory(session)  # one factory: its fake USCCs and numbers never repeat
        _service_part(make, m, parents, attendance_enrollments=attendance_enrollments,
                      attendance_sessions=attendance_sessions, classes40=classes40,
                      class40_sessions=class40_sessions)
    print(f"gen_escrow services: {attendance_enrollments + 40 * classes40} enrollments created "
          f"and paid through create_enrollment/apply_deposit, "
          f"{attendance_sessions + classes40 * class40_sessions} sessions, "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        make.session = session
        _bulk_part(make, m, rng, parent_ids, bulk)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        m.ledger_entries = int(session.scalar(select(func.count()).select_from(LedgerEntry))
                               or 0)
    print(f"gen_escrow bulk: {bulk} enrollments, {m.ledger_entries} ledger entries in all, "
          f"in {time.perf_counter() - started:.1f} s (COPY, then VACUUM ANALYZE)", flush=True)
    check_books(factory, settings)
    engine.dispose()
    return m


def check_books(factory: Any, settings: Settings) -> None:

    started = time.perf_counter()
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        tb = trial_balance(session, SYSTEM)
        problems = verify_ledger(session)
    print(f"gen_escrow check: trial balance balanced={tb.balanced} (debits {tb.debits_fen} = "
          f"credits {tb.credits_fen} fen), verify_ledger {len(problems)} problems, "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    if not tb.balanced or problems:
        raise SystemExit(f"the generated books do not agree: {problems[:5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep sv_bench_escrow_gen")
    args = parser.parse_args()
    print(f"gen_escrow: {load_average()}", flush=True)
    with temporary_database("sv_bench_escrow_gen", keep=args.keep) as url:
        m = generate(url, seed=args.seed, bulk=args.bulk)
    print(f"gen_escrow: done ({len(asdict(m)['read_targets'])} read targets)")


if __name__ == "__main__":
    main()
