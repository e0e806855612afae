"""The scheduler: one table of jobs, each run once per period however many processes fire it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from supervision import calendar, escrow, scheduler
from supervision.access.scope import SYSTEM
from supervision.compliance import runs
from supervision.compliance.model import Finding, Window
from supervision.models import Base, ComplianceRun, Flag, JobClaim, OutboxMessage
from supervision.notify import enqueue
from supervision.workers import statements, trustee

from ..support.databases import fresh_database
from ..support.factories import SHANGHAI
from ..support.servers import SCHEDULER_WORKER
from ..support.settings import changed

NIGHT = dt.datetime(2026, 11, 20, 2, 0, 5, tzinfo=SHANGHAI)


def claims(db: Session, job_id: str | None = None) -> list[JobClaim]:
    stmt = select(JobClaim).order_by(JobClaim.id)
    if job_id:
        stmt = stmt.where(JobClaim.job_id == job_id)
    return list(db.scalars(stmt))


@pytest.fixture
def no_findings(monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    found: list[Finding] = []
    monkeypatch.setattr(runs, "evaluate_all",
                        lambda session, window: iter(list(found)))
    return found


def test_the_timetable_is_one_table_of_explicit_unique_jobs() -> None:
    ids = [job.id for job in scheduler.JOBS]
    assert len(ids) == len(set(ids)) == 11
    for job in scheduler.JOBS:
        assert callable(job.func)
        assert scheduler.period_key(job, NIGHT)  # every period spec is understood
        assert job.misfire_grace_seconds > 1


def test_the_apscheduler_jobs_are_configured_deliberately(app: Flask) -> None:
    sched = scheduler.build_scheduler(app)
    assert str(sched.timezone) == "Asia/Shanghai"
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == set(scheduler.JOBS_BY_ID)
    for job_id, job in jobs.items():
        spec = scheduler.JOBS_BY_ID[job_id]
        assert job.misfire_grace_time == spec.misfire_grace_seconds
        assert job.coalesce is True and job.max_instances == 1
        assert str(job.trigger.timezone) == "Asia/Shanghai"
        assert job.args == (app, job_id)
    nightly = jobs["compliance.nightly"].trigger
    assert nightly.get_next_fire_time(None, NIGHT) == dt.datetime(
        2026, 11, 21, 2, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("job_id", "moment", "key"), [
    ("compliance.nightly", NIGHT, "2026-11-20"),
    ("compliance.nightly", dt.datetime(2026, 11, 19, 18, 30, tzinfo=dt.UTC), "2026-11-20"),
    ("compliance.next_48h", NIGHT, "2026-11-20T02"),
    ("escrow.instruction_retry", NIGHT.replace(minute=14), "2026-11-20T02:10"),
    ("notify.outbox", NIGHT.replace(second=59), "2026-11-20T02:00:40"),
])
def test_periods_are_cut_in_shanghai_time(job_id: str, moment: dt.datetime, key: str) -> None:
    assert scheduler.period_key(scheduler.JOBS_BY_ID[job_id], moment) == key


def test_a_job_runs_once_per_period(app: Flask, db: Session, no_findings: list[Finding]) -> None:
    first = scheduler.run_job(app, "compliance.nightly", NIGHT)
    again = scheduler.run_job(app, "compliance.nightly", NIGHT + dt.timedelta(hours=3))
    tomorrow = scheduler.run_job(app, "compliance.nightly", NIGHT + dt.timedelta(days=1))
    assert (first.ran, again.ran, tomorrow.ran) == (True, False, True)
    assert db.scalar(select(func.count()).select_from(ComplianceRun)) == 2
    rows = claims(db, "compliance.nightly")
    assert [c.period_key for c in rows] == ["2026-11-20", "2026-11-21"]
    assert all(c.outcome == "done" and c.finished_at is not None for c in rows)
    run = db.scalars(select(ComplianceRun).order_by(ComplianceRun.id)).first()
    assert run is not None and run.triggered_by == "system:scheduler"
    assert (run.horizon_days, run.lookback_days) == (30, 7)


def test_the_hourly_run_looks_48_hours_ahead_and_not_back(app: Flask, db: Session,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    windows: list[Window] = []
    monkeypatch.setattr(runs, "evaluate_all",
                        lambda session, window: windows.append(window) or iter(()))
    scheduler.run_job(app, "compliance.next_48h", NIGHT)
    assert windows == [Window(NIGHT, NIGHT, NIGHT + dt.timedelta(hours=48))]


def test_a_failing_job_leaves_no_claim_and_can_run_again(app: Flask, db: Session,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         no_findings: list[Finding]) -> None:
    real_run = runs.run_compliance

    def broken(*args: Any, **kwargs: Any) -> Any:
        real_run(*args, **kwargs)
        raise RuntimeError("boom")

    monkeypatch.setattr(runs, "run_compliance", broken)
    with pytest.raises(RuntimeError):
        scheduler.run_job(app, "compliance.nightly", NIGHT)
    assert claims(db) == []
    assert db.scalar(select(func.count()).select_from(ComplianceRun)) == 0
    monkeypatch.undo()
    monkeypatch.setattr(runs, "evaluate_all", lambda session, window: iter(()))
    assert scheduler.run_job(app, "compliance.nightly", NIGHT).ran


def test_work_after_commit_sees_the_jobs_changes_and_a_failure_is_recorded(
        app: Flask, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    class FakeRun:
        id = 7

    monkeypatch.setattr(scheduler, "_release_instruction_ids", lambda session, run_id: [41, 42])

    def deliver(factory: Any, settings: Any, ids: list[int]) -> None:
        seen.append((ids, [c.job_id for c in claims(db)]))

    monkeypatch.setattr(escrow, "create_release_run", lambda session, actor: FakeRun())
    monkeypatch.setattr(trustee, "deliver_instructions", deliver)
    outcome = scheduler.run_job(app, "escrow.release_run", NIGHT)
    assert outcome.ran and "2 instructions" in outcome.detail
    assert seen == [([41, 42], ["escrow.release_run"])]

    def refuse(factory: Any, settings: Any, ids: list[int]) -> None:
        raise ConnectionError("trustee down")

    monkeypatch.setattr(trustee, "deliver_instructions", refuse)
    with pytest.raises(ConnectionError):
        scheduler.run_job(app, "escrow.release_run", NIGHT + dt.timedelta(days=1))
    db.expire_all()
    failed = claims(db, "escrow.release_run")[-1]
    assert failed.outcome == "failed" and "trustee down" in (failed.detail or "")


def test_escrow_jobs_call_their_services_with_the_jobs_time(
        app: Flask, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []

    def fake(module: Any, name: str) -> None:
        def fn(*args: Any) -> Any:
            calls.append((f"{module.__name__}:{name}", args[-1] if args else None))
            return [5] if name == "auto_approve_due" else 3
        monkeypatch.setattr(module, name, fn)

    fake(escrow, "auto_confirm_due")
    fake(escrow, "auto_approve_due")
    fake(trustee, "deliver_instructions")
    fake(trustee, "deliver_pending")
    fake(statements, "pull_statements")
    for job_id in ("escrow.auto_confirm", "escrow.refund_auto_approve",
                   "escrow.instruction_retry", "escrow.statement_pull"):
        assert scheduler.run_job(app, job_id, NIGHT).ran
    assert calls == [
        ("supervision.escrow:auto_confirm_due", NIGHT),
        ("supervision.escrow:auto_approve_due", NIGHT),
        ("supervision.workers.trustee:deliver_instructions", [5]),
        ("supervision.workers.trustee:deliver_pending", app.config["SUPERVISION"]),
        ("supervision.workers.statements:pull_statements", dt.date(2026, 11, 19)),
    ]


def test_the_escrow_jobs_run_against_the_real_escrow_services(app: Flask, db: Session) -> None:
    app.config["SUPERVISION"] = changed(app.config["SUPERVISION"], TRUSTEE_API_URL="")
    for job_id in ("escrow.auto_confirm", "escrow.refund_auto_approve", "escrow.release_run",
                   "escrow.instruction_retry", "escrow.statement_pull"):
        outcome = scheduler.run_job(app, job_id, NIGHT)
        assert outcome.ran, job_id
    assert {c.outcome for c in claims(db)} == {"done"}
    assert len(claims(db)) == 5


def test_calendar_coverage_raises_next_years_gap_from_december(app: Flask, db: Session) -> None:
    assert scheduler.run_job(app, "calendar.coverage", NIGHT).detail == "calendar data complete"
    assert db.scalar(select(func.count()).select_from(Flag)) == 0

    december = NIGHT + dt.timedelta(days=12)
    outcome = scheduler.run_job(app, "calendar.coverage", december)
    assert outcome.detail == "missing: 2027"
    gap = db.scalars(select(Flag).where(Flag.rule == "CALENDAR_DATA_MISSING")).one()
    assert (gap.subject_type, gap.subject_id, gap.severity) == ("calendar", "2027", "low")
    assert gap.institution_id is None and gap.status == "open"
    assert "2027年调休安排尚未录入" in gap.summary

    calendar.put_override(db, SYSTEM, dt.date(2027, 1, 1), kind="holiday", name="元旦")
    scheduler.run_job(app, "calendar.coverage", december + dt.timedelta(days=1))
    db.expire_all()
    assert db.get(Flag, gap.id).status == "cleared"  # type: ignore[union-attr]


def test_calendar_coverage_asks_for_next_school_year_from_july(app: Flask, db: Session) -> None:
    calendar.put_override(db, SYSTEM, dt.date(2027, 1, 1), kind="holiday", name="元旦")
    july = dt.datetime(2027, 7, 1, 0, 30, tzinfo=SHANGHAI)
    assert scheduler.run_job(app, "calendar.coverage", july).detail == "missing: 2027-2028"
    calendar.put_school_year(db, SYSTEM, "2027-2028", winter=(dt.date(2028, 1, 22),
                                                      dt.date(2028, 2, 20)),
                             summer=(dt.date(2028, 7, 1), dt.date(2028, 8, 31)))
    scheduler.run_job(app, "calendar.coverage", july + dt.timedelta(days=1))
    db.expire_all()
    statuses = db.scalars(select(Flag.status).where(Flag.subject_id == "2027-2028")).all()
    assert statuses == ["cleared"]


def test_old_claims_are_pruned(app: Flask, db: Session) -> None:
    db.add(JobClaim(job_id="notify.outbox", period_key="2020-01-01T00:00:00",
                    claimed_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), claimed_by="x"))
    db.flush()
    outcome = scheduler.run_job(app, "scheduler.prune_claims", NIGHT)
    assert outcome.detail == "1 old claims pruned"
    assert [c.job_id for c in claims(db)] == ["scheduler.prune_claims"]


def test_the_outbox_job_delivers(app: Flask, db: Session, httpserver: HTTPServer) -> None:
    app.config["SUPERVISION"] = changed(app.config["SUPERVISION"],
                                        NOTIFY_URL=httpserver.url_for("/hook"))

    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    enqueue(db, "flag.opened", {"flag_id": 1})
    db.flush()
    outcome = scheduler.run_job(app, "notify.outbox", NIGHT)
    assert outcome.ran and outcome.detail.endswith("1 delivered")
    assert len(httpserver.log) == 1


def test_the_command_lists_and_runs_jobs(app: Flask, runner: Any,
                                         no_findings: list[Finding]) -> None:
    listed = runner.invoke(args=["scheduler", "--list"])
    assert listed.exit_code == 0 and "compliance.nightly" in listed.output
    ran = runner.invoke(args=["scheduler", "--run", "calendar.coverage"])
    assert ran.exit_code == 0, ran.output
    assert any(line.startswith("calendar.coverage 20") for line in ran.output.splitlines())
    assert runner.invoke(args=["scheduler", "--run", "nope"]).exit_code != 0


@pytest.mark.postgres
@pytest.mark.other_processes
def test_two_scheduler_processes_started_together_run_each_job_once(
        httpserver: HTTPServer) -> None:
    base = os.environ.get("SUPERVISION_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("a concurrency property: PostgreSQL only")
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    jobs = ["compliance.nightly", "compliance.next_48h", "calendar.coverage", "notify.outbox",
            "scheduler.prune_claims"]
    with fresh_database(base) as url:
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            for i in range(20):
                session.add(OutboxMessage(kind="test", payload={"n": i}))
            session.commit()
        env = {**os.environ, "SUPERVISION_DATABASE_URL": url,
               "SUPERVISION_NOTIFY_URL": httpserver.url_for("/hook"),
               "SUPERVISION_NOTIFY_SECRET": "s3cret"}
        start = time.time() + 4
        procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER_WORKER, str(start),
                                   NIGHT.isoformat(), *jobs], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err[-2000:]
        ran = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        with Session(engine) as session:
            counted = {job: n for job, n in session.execute(
                select(JobClaim.job_id, func.count()).group_by(JobClaim.job_id))}
            runs_made = session.scalar(select(func.count()).select_from(ComplianceRun))
            undelivered = session.scalar(select(func.count()).select_from(OutboxMessage)
                                         .where(OutboxMessage.delivered_at.is_(None)))
        engine.dispose()
    assert counted == dict.fromkeys(jobs, 1)
    assert runs_made == 2
    for job in jobs:
        assert sum(r for j, r in ran[0] + ran[1] if j == job) == 1
    assert undelivered == 0
    bodies = [json.loads(entry[0].get_data()) for entry in httpserver.log]
    assert sorted(b["payload"]["n"] for b in bodies) == list(range(20))
