"""Load test: a realistic mix at a fixed rate against the production profile (QUALITY.md
"Performance"): gunicorn through scripts/serve-prod, 2 workers, on PostgreSQL.

    python -m benchmarks.loadtest [--seconds 60] [--rate 100] [--seed 2026] [--keep]
                                  [--admin-url postgresql+psycopg://postgres@127.0.0.1/postgres]

The mix, as the service sees a weekday evening: parents checking their escrow status (60%),
institutions posting attendance, one enrollment per request (25%), regulators listing open
flags of the city or of their district (15%). Requests are started on a fixed schedule (open
loop: a slow answer does not slow the arrivals down) by a pool of client threads.

The data set is generated here with a fixed seed into a fresh database (sv_loadtest_<pid>,
dropped at the end unless --keep): 20 institutions across the seven districts, each with a
course, two teachers, 30 evening sessions of the past month (some ending late, so the
compliance run finds something) and 10 paid enrollments of 60 class hours; then a compliance
run. Prints one line per figure; the server's log goes to instance/loadtest_server.log.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from supervision import clock
from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import SYSTEM
from supervision.compliance.runs import run_compliance
from supervision.config import Settings, load_settings
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow import apply_deposit, create_enrollment, trial_balance, verify_ledger
from supervision.identifiers import fake_id_number, fake_uscc, hash_id_number, mask_id_number
from supervision.models import Base, ClassSession, Course, Institution, Teacher, Venue

from .bench_escrow import replica

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DISTRICTS = ["320205", "320206", "320211", "320213", "320214", "320281", "320282"]
MIX: tuple[tuple[str, float], ...] = (
    ("parent_escrow", 0.60), ("attendance", 0.25), ("regulator_flags", 0.15))
INSTITUTIONS, ENROLLMENTS_PER_INSTITUTION, SESSIONS_PER_COURSE, HOURS = 20, 10, 30, 60


# --- the data set ---------------------------------------------------------------------------

@dataclass
class DataSet:
    parents: list[tuple[str, int]] = field(default_factory=list)  # (token, enrollment id)
    regulators: list[str] = field(default_factory=list)
    # (institution token, session id, enrollment id): each pair posted at most once
    attendance: list[tuple[str, int, int]] = field(default_factory=list)
    open_flags: int = 0


def generate(url: str, seed: int) -> DataSet:
    rng = random.Random(seed)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    settings = load_settings({"DATABASE_URL": url})
    data = DataSet()
    today = clock.today()
    per_institution: list[tuple[str, list[int], list[int]]] = []
    with transaction(make_sessionmaker(engine), settings=settings, actor=SYSTEM) as session:
        _, city = create_principal(session, role="regulator", name="无锡市教育局（压测）")
        data.regulators.append(city)
        for district in DISTRICTS:
            _, token = create_principal(session, role="regulator", name=f"区教育局{district}",
                                        district_code=district)
            data.regulators.append(token)
        for n in range(1, INSTITUTIONS + 1):
            inst = Institution(
                name=f"压测培训学校{n:02d}", uscc=fake_uscc(rng), license_no=f"教民LT{n:04d}",
                license_valid_until=today + dt.timedelta(days=rng.choice([30, 400, 900])),
                district_code=DISTRICTS[n % len(DISTRICTS)], category="subject",
                licensed_modes=["offline"], nonprofit_registration_no=f"锡民证字LT{n:04d}",
                escrow_mode="trust", supervised_account_no=f"GLXT-LT-{n:06d}",
                address=f"无锡市压测路{n}号", status="active")
            session.add(inst)
            session.flush()
            venue = Venue(institution_id=inst.id, address=f"{inst.name}教学点", capacity=40)
            session.add(venue)
            teachers = [_teacher(session, rng, inst, settings) for _ in range(2)]
            course = Course(institution_id=inst.id, name="初二数学提高班", subject="math",
                            category="subject", grade_min=8, grade_max=8, mode="offline",
                            class_size=20, minutes_per_class_hour=45,
                            price_per_class_hour_fen=4000)
            session.add(course)
            session.flush()
            course.venue_id = venue.id
            sessions = []
            for d in range(SESSIONS_PER_COURSE):
                day = today - dt.timedelta(days=SESSIONS_PER_COURSE - d)
                start = dt.datetime(day.year, day.month, day.day, 18,
                                    rng.choice([0, 30, 30, 45]), tzinfo=SHANGHAI)
                cls = ClassSession(course_id=course.id, institution_id=inst.id,
                                   starts_at=start, ends_at=start + dt.timedelta(minutes=90),
                                   teacher_id=rng.choice(teachers).id, venue_id=venue.id,
                                   status="scheduled")
                session.add(cls)
                sessions.append(cls)
            session.flush()
            _, staff = create_principal(session, role="institution",
                                                name=f"{inst.name}教务", institution_id=inst.id)
            enrollments = []
            # Paid before the month's first class: prepaid money pays only for classes after
            # it arrived (SESSION_BEFORE_ENROLLMENT).
            paid_at = sessions[0].starts_at - dt.timedelta(days=1)
            for k in range(ENROLLMENTS_PER_INSTITUTION):
                parent, token = create_principal(session, role="parent", name=f"家长{n}-{k}")
                e = create_enrollment(session, actor_for(parent), course_id=course.id,
                                      student_name=f"学生{k}", student_grade=8,
                                      class_hours=HOURS)
                apply_deposit(session, SYSTEM, event_id=f"lt-{e.id}",
                              payment_reference=e.payment_reference,
                              amount_fen=e.amount_fen, trustee_txn_id=f"LT-TX-{e.id}",
                              received_at=paid_at)
                enrollments.append(e.id)
                data.parents.append((token, e.id))
            per_institution.append((staff, [s.id for s in sessions], enrollments))
        run = run_compliance(session, SYSTEM, as_of=clock.local_now(), horizon_days=30,
                             lookback_days=31)
        data.open_flags = run.flags_open
    engine.dispose()
    # Round robin over the institutions, so consecutive postings hit different rows.
    for s_idx in range(SESSIONS_PER_COURSE):
        for e_idx in range(ENROLLMENTS_PER_INSTITUTION):
            for staff, session_ids, enrollment_ids in per_institution:
                data.attendance.append((staff, session_ids[s_idx], enrollment_ids[e_idx]))
    return data


def _teacher(session: Any, rng: random.Random, inst: Institution,
             settings: Settings) -> Teacher:
    number = fake_id_number(rng)
    teacher = Teacher(institution_id=inst.id, name=rng.choice(["王老师", "李老师", "张老师"]),
                      id_number_hash=hash_id_number(number, settings.id_hash_key),
                      id_number_masked=mask_id_number(number), qualification_cert_no=None,
                      cert_level=None, cert_subject=None, is_inservice_school_teacher=False,
                      background_check_status="clear",
                      background_checked_on=dt.date(2026, 3, 1), employment="full_time",
                      hired_on=dt.date(2026, 3, 15))
    session.add(teacher)
    session.flush()
    return teacher


# --- the database and the server ------------------------------------------------------------

@contextmanager
def fresh_database(admin_url: str, keep: bool) -> Iterator[str]:
    name = f"sv_loadtest_{os.getpid()}"
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_prod(url: str, replica_url: str = "") -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "SUPERVISION_DATABASE_URL": url, "SUPERVISION_BIND": f"127.0.0.1:{port}",
           "SUPERVISION_DATABASE_REPLICA_URL": replica_url,
           "SUPERVISION_WEB_CONCURRENCY": "2", "SUPERVISION_WEB_THREADS": "4",
           "SUPERVISION_DB_POOL_SIZE": "8", "SUPERVISION_RATELIMIT": "",
           "SUPERVISION_TRUSTEE_API_URL": ""}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = ROOT / "instance" / "loadtest_server.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["bash", "scripts/serve-prod"], cwd=ROOT, env=env, stdout=log,
                                stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass  # not listening yet, or still starting its workers
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start; see " + str(log_path))
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# --- the load -------------------------------------------------------------------------------

@dataclass
class Sample:
    kind: str
    ms: float
    ok: bool
    late_ms: float
    served_by: str = ""  # X-Served-By: replica or primary (only with a replica configured)


class Load:
    """Request i starts at start + i / rate, on whichever client thread is free."""

    def __init__(self, base: str, data: DataSet, rate: float, seconds: float, seed: int,
                 threads: int) -> None:
        self.base = base + "/api/v1"
        self.data = data
        self.rate, self.total, self.threads = rate, int(rate * seconds), threads
        rng = random.Random(seed)
        kinds = [kind for kind, _ in MIX]
        self.plan: list[str] = rng.choices(kinds, [share for _, share in MIX], k=self.total)
        self.picks = [rng.random() for _ in range(self.total)]
        self.counter = itertools.count()
        self.attendance = iter(data.attendance)
        self.lock = threading.Lock()
        self.samples: list[Sample] = []
        self.errors: dict[str, int] = defaultdict(int)

    def request(self, http: requests.Session, i: int) -> tuple[str, requests.Response | None]:
        kind, pick = self.plan[i], self.picks[i]
        if kind == "parent_escrow":
            token, enrollment = self.data.parents[int(pick * len(self.data.parents))]
            return kind, http.get(f"{self.base}/enrollments/{enrollment}/escrow",
                                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if kind == "attendance":
            with self.lock:
                staff, session_id, enrollment = next(self.attendance)
            return kind, http.post(f"{self.base}/sessions/{session_id}/attendance",
                                   json={"enrollment_ids": [enrollment], "class_hours": 1},
                                   headers={"Authorization": f"Bearer {staff}"}, timeout=30)
        token = self.data.regulators[int(pick * len(self.data.regulators))]
        return kind, http.get(f"{self.base}/flags",
                              params={"status": "open", "page_size": "50"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def worker(self, start: float) -> None:
        http = requests.Session()
        while True:
            i = next(self.counter)
            if i >= self.total:
                return
            due = start + i / self.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            began = time.perf_counter()
            kind, served_by = self.plan[i], ""
            try:
                kind, resp = self.request(http, i)
                ok = resp is not None and resp.status_code < 400
                served_by = resp.headers.get("X-Served-By", "") if resp is not None else ""
                if not ok and resp is not None:
                    self._error(f"{kind} {resp.status_code} {resp.text[:120]}")
            except requests.RequestException as exc:
                ok = False
                self._error(f"{kind} {type(exc).__name__}")
            elapsed = (time.perf_counter() - began) * 1000
            with self.lock:
                self.samples.append(Sample(kind, elapsed, ok, (began - due) * 1000, served_by))

    def _error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1

    def run(self) -> float:
        start = time.perf_counter() + 0.5
        pool = [threading.Thread(target=self.worker, args=(start,)) for _ in range(self.threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(load: Load, elapsed: float) -> None:
    samples = load.samples
    print(f"throughput: {len(samples) / elapsed:.1f} req/s ({len(samples)} requests in "
          f"{elapsed:.1f} s)")
    for kind, _ in MIX:
        ms = [s.ms for s in samples if s.kind == kind]
        print(f"{kind} p50: {percentile(ms, 50):.1f} ms ({len(ms)} requests)")
        print(f"{kind} p99: {percentile(ms, 99):.1f} ms")
        served = [s.served_by for s in samples if s.kind == kind and s.served_by]
        if served:
            print(f"{kind} served by the replica: {served.count('replica') / len(served):.3f} "
                  f"({served.count('replica')} of {len(served)})")
    errors = sum(1 for s in samples if not s.ok)
    print(f"errors: {errors}")
    for what, n in sorted(load.errors.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {n} x {what}")
    late = sum(1 for s in samples if s.late_ms > 50)
    print(f"late starts (> 50 ms behind schedule, client saturated): {late}")


def check_books(url: str) -> str:
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine), settings=load_settings({"DATABASE_URL": url}),
                     actor=SYSTEM) as session:
        tb = trial_balance(session, SYSTEM)
        problems = verify_ledger(session)
    engine.dispose()
    state = "balanced" if tb.balanced and not problems else f"PROBLEMS {problems[:3]}"
    return f"books after the run: {state} ({tb.debits_fen} fen each side)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--threads", type=int, default=24, help="client threads")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--replica-port", type=int, default=0,
                        help="also start a streaming replica (scripts/replica) on this port and "
                             "route the server's replica reads to it; prints the share it served")
    parser.add_argument("--admin-url", default=os.environ.get(
        "LOADTEST_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    attendance_needed = args.rate * args.seconds * dict(MIX)["attendance"] * 1.2
    capacity = INSTITUTIONS * ENROLLMENTS_PER_INSTITUTION * SESSIONS_PER_COURSE
    if attendance_needed > capacity:
        sys.exit(f"--rate x --seconds needs ~{attendance_needed:.0f} attendance postings; "
                 f"the data set holds {capacity}")
    mix = ", ".join(f"{int(share * 100)}% {kind}" for kind, share in MIX)
    print(f"loadtest: {args.seconds:.0f} s at {args.rate:.0f} req/s ({mix}); gunicorn 2 "
          f"workers x 4 threads on PostgreSQL; {args.threads} client threads; seed {args.seed}",
          flush=True)
    print("load average before: {:.2f} {:.2f} {:.2f} (other work on the machine shows in "
          "every figure)".format(*os.getloadavg()), flush=True)
    with fresh_database(args.admin_url, args.keep) as url:
        started = time.perf_counter()
        data = generate(url, args.seed)
        print(f"data set: {INSTITUTIONS} institutions, {len(data.parents)} paid enrollments, "
              f"{INSTITUTIONS * SESSIONS_PER_COURSE} sessions, {data.open_flags} open flags "
              f"(generated in {time.perf_counter() - started:.1f} s)", flush=True)
        with contextlib.ExitStack() as stack:
            replica_url = ""
            if args.replica_port:
                replica_url = stack.enter_context(
                    replica(args.replica_port, make_url(url).database or "")) or ""
            base = stack.enter_context(serve_prod(url, replica_url))
            load = Load(base, data, args.rate, args.seconds, args.seed, args.threads)
            elapsed = load.run()
        report(load, elapsed)
        print(check_books(url))
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
