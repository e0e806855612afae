"""The server killed (SIGKILL) in the middle of a release run, then restarted (QUALITY.md
"Reliability and security"): no money instructed twice, none lost.

The real thing: gunicorn through scripts/serve-prod on a PostgreSQL database of its own, a
trustee (pytest-httpserver, in this process) that keeps count of what it is sent and pays each
Idempotency-Key once, and the whole process group killed with SIGKILL at two moments:
- while the run's transaction is open (it waits on a row lock we hold): nothing of it may
  remain, and the next run instructs everything once;
- while the run waits for the trustee's answer (the trustee has already paid): after the
  restart, the retry job must repeat the same instruction under the same key (the trustee
  pays nothing twice), and no later run may instruct that money again.
Each time the money is checked through the services: trial balance zero, every enrollment
adds up, each institution's confirmed money is in exactly one live instruction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from supervision import outbound
from supervision.access.principals import create_principal
from supervision.access.scope import SYSTEM
from supervision.config import PROJECT_DIR, load_settings
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow import confirm_consumption, record_attendance, trial_balance
from supervision.models import Base, Course, Institution
from supervision.models.base import utcnow
from supervision.models.escrow import Instruction, LedgerHold
from supervision.models.trustee import InstructionDelivery

from ..support.databases import fresh_database
from ..support.factories import Factory
from ..support.money_checks import money_problems
from ..support.servers import free_port
from ..support.trustee import SECRET, RecordingTrustee, enrollment, paid_report, pay

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
HOURS = 2
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.other_processes]


@pytest.fixture
def live_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("killing a server mid-transaction is about PostgreSQL, production's "
                    "database (a fresh one per test, from SUPERVISION_TEST_DATABASE_URL)")
    with fresh_database(database_url, tmp_path) as url:
        yield url


@dataclass
class Books:
    engine: Engine
    factory: sessionmaker[Session]
    settings: dict[str, Any]
    regulator: dict[str, str]
    confirmed: dict[int, int]  # institution id → confirmed fen

    def session(self) -> Any:
        return transaction(self.factory, settings=self.settings, actor=SYSTEM)


@pytest.fixture
def books(live_url: str) -> Iterator[Books]:
    """Two institutions, each with a paid enrollment of which 2 class hours were consumed and
    confirmed by the parent: confirmed money waiting for a release run."""
    engine = make_engine(live_url)
    Base.metadata.create_all(engine)
    settings = load_settings({"DATABASE_URL": live_url})
    factory = make_sessionmaker(engine)
    confirmed = {}
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        make = Factory(session)
        _, token = create_principal(session, role="regulator", name="无锡市教育局")
        for _ in range(2):
            inst = make.institution()
            e = enrollment(session, make, inst, hours=10)
            pay(session, e)
            course = session.get(Course, e.course_id)
            assert course is not None
            starts = dt.datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI)
            cls = make.session_of(course, make.teacher(inst), starts_at=starts,
                                  minutes=45 * HOURS)
            (consumption,) = record_attendance(session, SYSTEM, session_id=cls.id,
                                               enrollment_ids=[e.id], class_hours=HOURS,
                                               as_of=starts + dt.timedelta(hours=3))
            confirm_consumption(session, SYSTEM, consumption.id,
                                as_of=starts + dt.timedelta(hours=4))
            confirmed[inst.id] = consumption.amount_fen
    yield Books(engine, factory, settings, {"Authorization": f"Bearer {token}"}, confirmed)
    engine.dispose()


@pytest.fixture
def trustee() -> Iterator[tuple[RecordingTrustee, str]]:
    recorder = RecordingTrustee(SECRET)
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.expect_request("/instructions", method="POST").respond_with_handler(recorder.handler)
    server.start()
    yield recorder, f"http://127.0.0.1:{server.port}"
    recorder.mode = "ok"
    server.stop()


class Server:
    """scripts/serve-prod in a process group of its own, so one SIGKILL takes master and
    workers at once, as a crash of the machine would."""

    def __init__(self, url: str, trustee_url: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.log = log
        self.env = {**os.environ, "SUPERVISION_DATABASE_URL": url,
                    "SUPERVISION_BIND": f"127.0.0.1:{self.port}",
                    "SUPERVISION_WEB_CONCURRENCY": "1", "SUPERVISION_WEB_THREADS": "4",
                    "SUPERVISION_TRUSTEE_API_URL": trustee_url,
                    "SUPERVISION_TRUSTEE_TIMEOUT_SECONDS": "20",
                    "SUPERVISION_TRUSTEE_RETRIES": "0", "SUPERVISION_RATELIMIT": "",
                    "SUPERVISION_LOG_LEVEL": "WARNING"}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["bash", "scripts/serve-prod"], cwd=PROJECT_DIR,
                                         env=self.env, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).ok:
                    return
            except requests.RequestException:  # not up yet, or slow to answer on a busy machine
                pass
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.1)
        raise AssertionError("the server did not get ready: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def flask(self, *args: str) -> str:
        out = subprocess.run([str(PROJECT_DIR / ".venv/bin/flask"), "--app", "wsgi", *args],
                             cwd=PROJECT_DIR, env=self.env, capture_output=True, text=True,
                             timeout=120, check=True)
        return out.stdout.strip().splitlines()[-1]

    def release_run(self, headers: dict[str, str]) -> dict[str, Any]:
        resp = requests.post(f"{self.base}/escrow/release-runs", headers=headers, timeout=60)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def call_back(self, trustee: RecordingTrustee) -> None:
        """The trustee reports every payment it made, each report delivered twice."""
        for key in list(trustee.executed):
            body = json.dumps(paid_report(key)).encode()
            outcomes = []
            for _ in range(2):
                resp = requests.post(f"{self.base}/trustee/events", data=body, timeout=30,
                                     headers=outbound.signed_headers(SECRET, body))
                assert resp.status_code == 200, resp.text
                outcomes.append(resp.json()["outcome"])
            assert outcomes == ["executed", "duplicate"]


@contextmanager
def server_of(live_url: str, trustee_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(live_url, trustee_url, tmp_path / "server.log")
    try:
        yield server
    finally:
        server.stop()


def in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    """Run fn in a thread; its result or exception lands in the returned list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


# --- the money checks -----------------------------------------------------------------------

def live_instructions(session: Session) -> dict[int, list[Instruction]]:
    out: dict[int, list[Instruction]] = {}
    for row in session.query(Instruction).filter(Instruction.status != "failed"):
        out.setdefault(row.institution_id, []).append(row)
    return out


def assert_each_fen_instructed_at_most_once(books: Books) -> None:
    """Every institution's confirmed money is in exactly one live instruction (or, before any
    run, in none), each enrollment's release holds never exceed its confirmed money, and the
    books are right."""
    with books.session() as session:
        by_institution = live_instructions(session)
        for institution_id, amount in books.confirmed.items():
            live = by_institution.get(institution_id, [])
            assert len(live) <= 1, f"institution {institution_id} instructed twice: {live}"
            if live:
                assert live[0].amount_fen == amount
        held: dict[int, int] = {}
        for hold in session.query(LedgerHold).filter(LedgerHold.kind == "release",
                                                     LedgerHold.status != "voided"):
            held[hold.institution_id] = held.get(hold.institution_id, 0) + hold.amount_fen
        for institution_id, amount in held.items():
            assert amount <= books.confirmed[institution_id]
        assert money_problems(session) == []


def assert_paid_once_and_nothing_lost(books: Books, trustee: RecordingTrustee) -> None:
    total = sum(books.confirmed.values())
    assert trustee.promise_problems() == []
    assert trustee.executed_fen() == total  # each institution paid exactly its money
    paid_ids = [body["instruction_id"] for body in trustee.executed.values()]
    assert len(paid_ids) == len(set(paid_ids)) == len(books.confirmed)
    with books.session() as session:
        rows = session.query(Instruction).all()
        assert {r.status for r in rows} == {"executed"}
        assert sorted(str(r.id) for r in rows) == sorted(trustee.executed)
        assert money_problems(session) == []
        by_kind = {a["kind"]: a["balance_fen"] for a in trial_balance(session, SYSTEM).accounts}
        assert by_kind["released"] == by_kind["paid_out"] == total
        assert by_kind.get("confirmed", 0) == 0


# --- the tests ------------------------------------------------------------------------------

def test_killed_while_the_runs_transaction_is_open_nothing_of_it_remains_and_none_is_lost(
        books: Books, trustee: tuple[RecordingTrustee, str], live_url: str,
        tmp_path: Path) -> None:
    recorder, trustee_url = trustee
    with server_of(live_url, trustee_url, tmp_path) as server:
        server.start()
        # Hold the confirmed accounts: the run inserts its instructions, then waits here.
        blocker = books.engine.connect()
        blocking = blocker.begin()
        blocker.execute(text("SELECT id FROM ledger_accounts WHERE kind = 'confirmed' "
                             "FOR UPDATE"))
        thread, outcome = in_background(lambda: server.release_run(books.regulator))
        wait_until(lambda: blocker.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar_one() >= 1)
        server.kill()
        thread.join(30)
        assert outcome and isinstance(outcome[0], requests.ConnectionError)
        blocking.rollback()
        blocker.close()
        # The orphaned backend gets the lock, finds its client gone and rolls back.
        wait_until(lambda: _backends_of_others(books.engine) == 0)
        with books.session() as session:
            assert session.query(Instruction).count() == 0
        assert recorder.received == []
        assert_each_fen_instructed_at_most_once(books)

        server.start()
        run = server.release_run(books.regulator)
        assert sorted(i["amount_fen"] for i in run["instructions"]) == sorted(
            books.confirmed.values())
        assert {i["status"] for i in run["instructions"]} == {"sent"}
        assert server.release_run(books.regulator)["instructions"] == []
        assert server.flask("trustee", "deliver-pending").startswith("0 ")
        assert_each_fen_instructed_at_most_once(books)
        server.call_back(recorder)
        assert_paid_once_and_nothing_lost(books, recorder)


def test_killed_while_waiting_for_the_trustee_nothing_is_paid_twice_and_none_is_lost(
        books: Books, trustee: tuple[RecordingTrustee, str], live_url: str,
        tmp_path: Path) -> None:
    recorder, trustee_url = trustee
    # The trustee pays at once and answers after 30 s: the kill falls in between.
    recorder.mode, recorder.delay = "hang_after", 30.0
    with server_of(live_url, trustee_url, tmp_path) as server:
        server.start()
        thread, outcome = in_background(lambda: server.release_run(books.regulator))
        wait_until(lambda: len(recorder.received) == 1)
        server.kill()
        recorder.mode = "ok"
        thread.join(30)
        assert outcome and isinstance(outcome[0], requests.ConnectionError)
        (first_key,) = recorder.executed
        with books.session() as session:
            rows = {r.id: r for r in session.query(Instruction)}
            assert {r.status for r in rows.values()} == {"pending"} and len(rows) == 2
            in_flight = session.get(InstructionDelivery, int(first_key))
            assert in_flight is not None and in_flight.claimed_until is not None
            (never_sent,) = set(rows) - {int(first_key)}
        assert_each_fen_instructed_at_most_once(books)

        server.start()
        # The retry job sends what never left; the one in flight keeps its lease for now.
        assert server.flask("trustee", "deliver-pending").startswith("1 ")
        assert recorder.received == [first_key, str(never_sent)]
        assert server.release_run(books.regulator)["instructions"] == []
        assert_each_fen_instructed_at_most_once(books)
        # Time passes: the dead server's lease on the first instruction runs out.
        with books.session() as session:
            session.execute(update(InstructionDelivery)
                            .where(InstructionDelivery.instruction_id == int(first_key))
                            .values(claimed_until=utcnow() - dt.timedelta(seconds=1)))
        assert server.flask("trustee", "deliver-pending").startswith("1 ")
        assert recorder.received == [first_key, str(never_sent), first_key]
        assert sorted(recorder.executed) == sorted([first_key, str(never_sent)])
        assert server.release_run(books.regulator)["instructions"] == []
        assert_each_fen_instructed_at_most_once(books)

        server.call_back(recorder)
        assert_paid_once_and_nothing_lost(books, recorder)


def _backends_of_others(engine: Engine) -> int:
    """Connections to this database other than our own engine's idle ones."""
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state <> 'idle'")).scalar_one())


def test_the_books_fixture_has_confirmed_money_and_nothing_instructed(books: Books) -> None:
    with books.session() as session:
        assert session.query(Instruction).count() == 0
        assert len(books.confirmed) == 2 and all(v > 0 for v in books.confirmed.values())
        assert session.query(Institution).count() == 2
        assert money_problems(session) == []
