"""Time one risk scoring run (API.md §12) over a synthetic city: by default 10,000
institutions, all with money in custody, and 1,000,000 ledger entries (QUALITY.md-style target:
≤ 30 s and peak RSS ≤ 500 MB, on SQLite and on PostgreSQL).

    python -m benchmarks.bench_risk sqlite [--institutions 10000] [--entries 1000000]
    python -m benchmarks.bench_risk postgres [...]

The data are bulk-inserted (Core executemany, batched) rather than booked through the
services: the score reads account balances and the recent rows of refunds, consumptions,
sessions, complaints, statements and flags, not how the balances came about. Per institution:
5 paid enrollments with their six bucket accounts, 30 sessions over the last 60 days (some
cancelled), 10 consumptions (some disputed), 0-4 refunds, 0-2 complaints, a statement, and an
occasional critical flag; then ledger entries spread over the enrollments up to `--entries`.
The measurement runs in a child process, so its peak RSS is the run's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from supervision.access.principals import create_principal
from supervision.access.scope import SYSTEM
from supervision.clock import SHANGHAI
from supervision.config import load_settings
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow.ledger import BUCKETS, INSTITUTION_ACCOUNTS
from supervision.models import (
    Base,
    ClassSession,
    Complaint,
    Course,
    Flag,
    Institution,
    Statement,
    Teacher,
)
from supervision.models.escrow import Consumption, Enrollment, LedgerAccount, LedgerEntry, Refund
from supervision.models.risk import RiskScore
from supervision.risk import score_institutions

from ._common import fresh_database

AS_OF = dt.datetime(2026, 12, 3, 7, 0, tzinfo=SHANGHAI)
DISTRICTS = ("320205", "320206", "320211", "320213", "320214", "320281", "320282")
ENROLLMENTS = 5
BATCH = 20_000


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _bulk(session: Session, model: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for batch in _batches(rows):
        session.execute(insert(model), batch)
        count += len(batch)
    return count


def generate(session: Session, institutions: int, entries: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    ago = lambda days: AS_OF - dt.timedelta(days=days)  # noqa: E731
    parent, _ = create_principal(session, role="parent", name="bench-parent")
    _bulk(session, Institution, ({
        "id": i, "name": f"基准机构{i}", "uscc": f"52{i:016d}", "license_no": f"L{i}",
        "license_valid_until": dt.date(2029, 1, 1), "district_code": DISTRICTS[i % 7],
        "category": "subject", "licensed_modes": ["offline"], "escrow_mode": "trust",
        "supervised_account_no": f"ACC{i:08d}", "address": "x", "status": "active",
        "created_at": ago(400), "updated_at": ago(400)} for i in range(1, institutions + 1)))
    _bulk(session, Course, ({
        "id": i, "institution_id": i, "name": "课", "subject": "math", "category": "subject",
        "grade_min": 7, "grade_max": 8, "mode": "offline", "class_size": 20,
        "minutes_per_class_hour": 45, "price_per_class_hour_fen": 4000,
        "created_at": ago(400), "updated_at": ago(400)} for i in range(1, institutions + 1)))
    _bulk(session, Teacher, ({
        "id": 2 * i + k, "institution_id": i, "name": "师", "id_number_hash": f"h{2 * i + k}",
        "id_number_masked": "3202**********0000", "background_check_status": "clear",
        "employment": "full_time", "hired_on": dt.date(2025, 1, 1), "created_at": ago(400),
        "updated_at": ago(400)} for i in range(1, institutions + 1) for k in range(2)))
    enrollment_ids = range(1, institutions * ENROLLMENTS + 1)
    _bulk(session, Enrollment, ({
        "id": e, "parent_id": parent.id, "institution_id": (e - 1) // ENROLLMENTS + 1,
        "course_id": (e - 1) // ENROLLMENTS + 1, "student_name": "生", "student_grade": 7,
        "class_hours": 60, "consumed_hours": 0, "price_per_class_hour_fen": 4000,
        "amount_fen": 240_000, "payment_reference": f"R{e:012d}", "status": "active",
        "created_at": ago(100), "paid_at": ago(100)} for e in enrollment_ids))
    held_of: dict[int, int] = {}

    def enrollment_accounts() -> Iterator[dict[str, Any]]:
        for e in enrollment_ids:
            held = rng.randrange(40_000, 240_000)
            held_of[e] = held
            for kind in BUCKETS:
                yield {"code": f"enr:{e}:{kind}", "kind": kind, "normal": "credit",
                       "enrollment_id": e, "institution_id": (e - 1) // ENROLLMENTS + 1,
                       "credits_posted": held if kind == "held" else 0, "debits_posted": 0,
                       "credits_pending": 0, "debits_pending": 0}

    _bulk(session, LedgerAccount, enrollment_accounts())

    def institution_accounts() -> Iterator[dict[str, Any]]:
        for i in range(1, institutions + 1):
            custody = sum(held_of[e] for e in range(ENROLLMENTS * (i - 1) + 1,
                                                    ENROLLMENTS * i + 1))
            for kind, normal in INSTITUTION_ACCOUNTS.items():
                yield {"code": f"inst:{i}:{kind}", "kind": kind, "normal": normal,
                       "institution_id": i, "credits_posted": 0, "credits_pending": 0,
                       "debits_pending": 0,
                       "debits_posted": custody if kind == "custody" else 0}

    _bulk(session, LedgerAccount, institution_accounts())
    _bulk(session, LedgerEntry, ({
        "txn_id": f"t{n // 2}", "account_id": 1 + (n * 7919) % (institutions * 6),
        "account_kind": "held", "direction": "credit" if n % 2 else "debit",
        "amount_fen": 100 + n % 5000, "kind": "deposit",
        "enrollment_id": 1 + (n // 2) % len(enrollment_ids),
        "institution_id": 1 + (n // 2) % institutions, "at": ago(n % 90)}
        for n in range(entries)))
    _bulk(session, ClassSession, ({
        "id": i * 30 + k, "course_id": i, "institution_id": i,
        "starts_at": ago(2 * k + 0.5), "ends_at": ago(2 * k), "teacher_id": 2 * i + k % 2,
        "status": "cancelled" if rng.random() < 0.05 else "scheduled",
        "created_at": ago(90)} for i in range(1, institutions + 1) for k in range(30)))
    _bulk(session, Consumption, ({
        "enrollment_id": ENROLLMENTS * (i - 1) + 1 + k % ENROLLMENTS, "session_id": i * 30 + k,
        "institution_id": i, "parent_id": parent.id, "class_hours": 1,
        "amount_fen": rng.randrange(2_000, 20_000),
        "status": "disputed" if rng.random() < 0.03 else "confirmed",
        "recorded_at": ago(2 * k), "auto_confirm_at": ago(2 * k - 15)}
        for i in range(1, institutions + 1) for k in range(10)))
    _bulk(session, Refund, ({
        "enrollment_id": ENROLLMENTS * (i - 1) + 1, "institution_id": i,
        "parent_id": parent.id, "amount_fen": 4000, "reason": "r", "status": "requested",
        "requested_at": ago(rng.randrange(0, 104)), "auto_approve_at": AS_OF}
        for i in range(1, institutions + 1) for _ in range(rng.randrange(0, 5))))
    _bulk(session, Complaint, ({
        "institution_id": i, "parent_id": parent.id, "category": "refund", "text": "t",
        "status": "submitted", "respond_by": AS_OF.date(), "due_on": AS_OF.date(),
        "created_at": ago(rng.randrange(0, 60))}
        for i in range(1, institutions + 1) for _ in range(rng.randrange(0, 3))))
    _bulk(session, Statement, ({
        "account_no": f"ACC{i:08d}", "date": AS_OF.date() - dt.timedelta(days=1),
        "institution_id": i, "opening_balance_fen": 0,
        "closing_balance_fen": int(sum(held_of[e] for e in range(
            ENROLLMENTS * (i - 1) + 1, ENROLLMENTS * i + 1)) * rng.choice((1, 1, 1, 0.7))),
        "line_count": 0, "body_hash": "0" * 64, "source": "upload", "report": {},
        "imported_at": ago(0.2)} for i in range(1, institutions + 1)))
    _bulk(session, Flag, ({
        "rule": "STAFF_BLACKLISTED", "severity": "critical", "status": "open",
        "institution_id": i, "subject_type": "teacher", "subject_id": str(2 * i),
        "summary": "s", "evidence": {}, "first_detected_at": ago(3), "last_detected_at": ago(3)}
        for i in range(1, institutions + 1) if i % 50 == 0))


def measure(url: str) -> None:
    """One scoring run in this process; prints seconds, peak RSS and the level counts."""
    settings = load_settings({"DATABASE_URL": url})
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    started = time.perf_counter()
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        run = score_institutions(session, SYSTEM, as_of=AS_OF)
        scored = run.institutions_scored
    seconds = time.perf_counter() - started
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        levels = {level: n for level, n in session.execute(
            select(RiskScore.level, func.count()).group_by(RiskScore.level))}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"risk run: {scored} institutions scored in {seconds:.2f} s (committed), "
          f"peak RSS {rss:.0f} MB, levels {levels}", flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=("sqlite", "postgres"))
    parser.add_argument("--institutions", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    if args.backend == "postgres":
        url = fresh_database("sv_bench_risk")
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench_risk.sqlite3'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    settings = load_settings({"DATABASE_URL": url})
    started = time.perf_counter()
    with transaction(make_sessionmaker(engine), settings=settings, actor=SYSTEM) as session:
        generate(session, args.institutions, args.entries)
    engine.dispose()
    print(f"generated {args.institutions} institutions, {args.entries} ledger entries "
          f"in {time.perf_counter() - started:.0f} s ({url})")
    subprocess.run([sys.executable, "-m", "benchmarks.bench_risk", args.backend,
                    "--measure", url], check=True)
    # A second run the same day: the steady state (every row an update, flags refreshed).
    subprocess.run([sys.executable, "-m", "benchmarks.bench_risk", args.backend,
                    "--measure", url], check=True)


if __name__ == "__main__":
    main()
