"""Two scheduler processes started at once, with money on the table (QUALITY.md "Reliability
and security": each job runs once per period).

tests/test_scheduler.py::test_two_scheduler_processes_started_together_run_each_job_once
proves the claim mechanism with two processes on the compliance, calendar, outbox and pruning
jobs. This adds the jobs that move money (auto-confirmation, refund auto-approval, the daily
release run, the instruction retry), where running twice would cost real money: three
processes fire all four for the same period at the same instant, each twice over. Each job
must be claimed and run once, each instruction reach the trustee exactly once, no confirmed fen
be instructed twice, and the books stay right.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from supervision.access.scope import SYSTEM
from supervision.config import load_settings
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow import confirm_consumption, record_attendance, request_refund
from supervision.models import Base, Course, JobClaim
from supervision.models.escrow import Consumption, Instruction, LedgerHold, Refund

from ..support.databases import fresh_database, live_app
from ..support.factories import Factory
from ..support.money_checks import money_problems
from ..support.parties import acting
from ..support.servers import SCHEDULER_WORKER, free_port
from ..support.trustee import SECRET, RecordingTrustee, enrollment, paid_report, pay, signed_post

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
RECORDED = dt.datetime(2026, 12, 1, 20, 0, tzinfo=SHANGHAI)
NOW = dt.datetime(2027, 2, 26, 3, 0, 5, tzinfo=SHANGHAI)  # everything above is long due
JOBS = ["escrow.auto_confirm", "escrow.refund_auto_approve", "escrow.release_run",
        "escrow.instruction_retry"]
PROCESSES = 3


@pytest.fixture
def live_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("processes racing for a job is a PostgreSQL property (advisory locks and "
                    "claim rows under real concurrency); SQLite serialises every writer")
    with fresh_database(database_url, tmp_path) as url:
        yield url


def arrange(url: str) -> int:
    """Per institution (two): a consumption the parent confirmed, one left unanswered (auto-
    confirmed 15 working days later) and a refund request left unanswered (auto-approved
    after 5). Returns the fen confirmed or due to be."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    total = 0
    with transaction(factory, settings=load_settings({"DATABASE_URL": url}),
                     actor=SYSTEM) as session:
        make = Factory(session)
        for _ in range(2):
            inst = make.institution()
            paid = [enrollment(session, make, inst, hours=10) for _ in range(3)]
            for e in paid:
                pay(session, e)
            course = session.get(Course, paid[0].course_id)
            assert course is not None
            for e in paid[:2]:
                cls = make.session_of(session.get(Course, e.course_id) or course,
                                      make.teacher(inst), starts_at=RECORDED, minutes=90)
                (c,) = record_attendance(session, SYSTEM, session_id=cls.id, enrollment_ids=[e.id],
                                         class_hours=2, as_of=RECORDED + dt.timedelta(hours=2))
                total += c.amount_fen
            first = session.scalars(select(Consumption).where(
                Consumption.enrollment_id == paid[0].id)).one()
            confirm_consumption(session, SYSTEM, first.id, as_of=RECORDED + dt.timedelta(hours=3))
            with acting(session, SYSTEM):
                request_refund(session, SYSTEM, paid[2].id, reason="搬家", amount_fen=None,
                               as_of=RECORDED)
    engine.dispose()
    return total


@pytest.mark.other_processes
def test_three_scheduler_processes_at_once_run_each_money_job_once_and_pay_each_fen_once(
        live_url: str) -> None:
    confirmed_total = arrange(live_url)
    recorder = RecordingTrustee(SECRET)
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.expect_request("/instructions", method="POST").respond_with_handler(recorder.handler)
    server.start()
    try:
        env = {**os.environ, "SUPERVISION_DATABASE_URL": live_url,
               "SUPERVISION_TRUSTEE_API_URL": f"http://127.0.0.1:{server.port}",
               "SUPERVISION_LOG_LEVEL": "WARNING"}
        start = time.time() + 4
        procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER_WORKER, str(start),
                                   NOW.isoformat(), *JOBS], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(PROCESSES)]
        outputs = [p.communicate(timeout=180) for p in procs]
    finally:
        server.stop()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    ran = Counter(job for out, _ in outputs
                  for job, did in json.loads(out.strip().splitlines()[-1]) if did)
    assert ran == dict.fromkeys(JOBS, 1)

    with live_app(live_url) as app:
        factory = app.extensions["supervision.sessionmaker"]
        with transaction(factory, settings=app.config["SUPERVISION"], actor=SYSTEM) as s:
            claimed = {job: n for job, n in s.execute(
                select(JobClaim.job_id, func.count()).group_by(JobClaim.job_id))}
            instructions = list(s.scalars(select(Instruction).order_by(Instruction.id)))
            releases = Counter(i.institution_id for i in instructions if i.kind == "release")
            refunds = Counter(i.refund_id for i in instructions if i.kind == "refund")
            approved = s.scalar(select(func.count()).select_from(Refund)
                                .where(Refund.status == "instructed"))
            unanswered = s.scalar(select(func.count()).select_from(Consumption)
                                  .where(Consumption.status == "pending_confirmation"))
            release_held = s.scalar(select(func.coalesce(func.sum(LedgerHold.amount_fen), 0))
                                    .where(LedgerHold.kind == "release"))
            assert money_problems(s) == []
        assert claimed == dict.fromkeys(JOBS, 1)
        assert unanswered == 0 and approved == 2  # every due decision was taken, once
        # One release instruction per institution (each had money its parent confirmed), one
        # instruction per approved refund.
        assert list(releases.values()) == [1, 1] and list(refunds.values()) == [1, 1]
        # Each instruction reached the trustee exactly once (the deliverers' lease), with one
        # key per instruction; no fen is instructed twice.
        assert Counter(recorder.received) == {str(i.id): 1 for i in instructions}
        assert recorder.promise_problems() == []
        assert int(release_held or 0) <= confirmed_total

        client = app.test_client()
        for key in list(recorder.executed):
            resp = signed_post(client, paid_report(key))
            assert resp.status_code == 200 and resp.json["outcome"] == "executed"
        with transaction(factory, settings=app.config["SUPERVISION"], actor=SYSTEM) as s:
            assert money_problems(s) == []
            assert {i.status for i in s.scalars(select(Instruction))} == {"executed"}
