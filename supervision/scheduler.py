"""The one scheduler process: `flask --app wsgi scheduler` (APScheduler 3, BlockingScheduler).

Schedules are data: JOBS below is the whole timetable. Each job is a thin wrapper that calls
the same service functions as the API, in its own transaction, and is safe to run twice and
with two scheduler processes at once:
- a claim row per (job id, period key), unique, inserted in the job's transaction: a job runs
  at most once per period, whoever fires it and however late (misfire grace);
- on PostgreSQL, pg_try_advisory_xact_lock per job first: a second process does not even wait
  for the first's transaction, it skips (transaction-level, so PgBouncer-safe);
- the effects themselves are idempotent (runs refresh flags, deliveries claim rows, releases
  instruct each amount once), so a rare double run is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from . import clock, escrow, risk
from .access.scope import Actor
from .clock import SHANGHAI
from .compliance import runs
from .config import Settings
from .db import advisory_lock, is_postgres, transaction
from .models.base import utcnow
from .models.compliance import JobClaim
from .models.escrow import Instruction
from .unit_of_work import UnitOfWork, unit_of_work
from .workers import outbox, statements, trustee

log = logging.getLogger(__name__)

SCHEDULER = Actor(principal_id=None, role="system", name="scheduler")
HOUR = 3600


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[JobContext], Any]  # the job wrapper, below
    trigger: dict[str, Any]  # APScheduler cron fields, in Asia/Shanghai time
    period: str  # how claims are cut: "day" | "hour" | "minutes:N" | "seconds:N"
    misfire_grace_seconds: int  # how late a missed firing may still run (then coalesced)
    description: str




@dataclass
class JobContext:
    """What a job wrapper gets: the claim's unit of work, and what it needs afterwards."""

    uow: UnitOfWork
    session_factory: sessionmaker[Session]
    settings: Settings
    now: dt.datetime
    details: list[str] = field(default_factory=list)
    failure: Exception | None = None

    @property
    def session(self) -> Session:
        return self.uow.session

    def after_commit(self, fn: Callable[[], Any]) -> None:
        """Work that opens its own transactions (HTTP deliveries): run once the claim and the
        job's own changes are committed, so nothing is sent that the database does not hold.
        What it returns joins the job's detail; what it raises marks the claim failed."""

        def followup() -> None:
            try:
                more = fn()
            except Exception as exc:
                self.failure = self.failure or exc
                raise
            if more is not None:
                self.details.append(str(more))

        self.uow.after_commit(followup)


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    period_key: str
    ran: bool
    detail: str


# -- running one job ------------------------------------------------------------------------

def period_key(spec: JobSpec, now: dt.datetime) -> str:
    """The period a firing at `now` belongs to, in Asia/Shanghai time."""
    local = now.astimezone(SHANGHAI)
    if spec.period == "day":
        return local.strftime("%Y-%m-%d")
    if spec.period == "hour":
        return local.strftime("%Y-%m-%dT%H")
    unit, _, size = spec.period.partition(":")
    step = int(size)
    if unit == "minutes":
        return local.replace(minute=local.minute // step * step).strftime("%Y-%m-%dT%H:%M")
    if unit == "seconds":
        return local.replace(second=local.second // step * step).strftime("%Y-%m-%dT%H:%M:%S")
    raise ValueError(f"unknown period {spec.period!r} of job {spec.id}")


def claim(session: Session, job_id: str, period: str) -> bool:
    """Take (job, period) for this process, or learn that someone has or had it."""
    insert: Any = sqlite.insert
    if not advisory_lock(session, f"job:{job_id}", wait=False):
        return False
    if is_postgres(session):
        insert = postgresql.insert
    claimed = session.scalar(insert(JobClaim).values(
        job_id=job_id, period_key=period, claimed_at=utcnow(),
        claimed_by=f"{socket.gethostname()}:{os.getpid()}"[:120], outcome="running",
    ).on_conflict_do_nothing().returning(JobClaim.id))
    return claimed is not None


def run_job(app: Flask, job_id: str, now: dt.datetime | None = None) -> JobOutcome:
    """Run one job once for the period of `now` (default: the wall clock), without blocking.

    The scheduler calls this; so do tests, with `now` fixed.
    """
    spec = JOBS_BY_ID[job_id]
    now = now or clock.local_now()
    period = period_key(spec, now)
    factory: sessionmaker[Session] = app.extensions["supervision.sessionmaker"]
    settings: Settings = app.config["SUPERVISION"]
    # The every-few-seconds jobs would fill the log: they speak up only at debug level.
    level = logging.INFO if spec.period in ("day", "hour") else logging.DEBUG
    with unit_of_work(factory, settings=settings, actor=SCHEDULER) as uow:
        if not claim(uow.session, spec.id, period):
            log.log(level, "job %s %s: already claimed, skipped", spec.id, period)
            return JobOutcome(spec.id, period, False, "already claimed")
        ctx = JobContext(uow, factory, settings, now)
        ctx.details.append(str(spec.func(ctx) or ""))
    detail = "; ".join(part for part in ctx.details if part)
    if ctx.failure is not None:
        exc = ctx.failure
        _finish(factory, settings, spec.id, period, "failed", f"{type(exc).__name__}: {exc}")
        raise exc
    _finish(factory, settings, spec.id, period, "done", detail)
    log.log(level, "job %s %s: %s", spec.id, period, detail)
    return JobOutcome(spec.id, period, True, detail)


def _finish(factory: sessionmaker[Session], settings: Settings, job_id: str,
            period: str, outcome: str, detail: str) -> None:
    with transaction(factory, settings=settings, actor=SCHEDULER) as session:
        session.execute(update(JobClaim).where(JobClaim.job_id == job_id,
                                               JobClaim.period_key == period)
                        .values(finished_at=utcnow(), outcome=outcome, detail=detail[:500]))


# -- the job wrappers: one service call each ------------------------------------------------

def _compliance_run(ctx: JobContext, horizon_days: int, lookback_days: int) -> str:
    run = runs.run_compliance(ctx.session, SCHEDULER, as_of=ctx.now,
                              horizon_days=horizon_days, lookback_days=lookback_days)
    return f"run {run.id}: opened {run.flags_opened}, cleared {run.flags_cleared}"


def compliance_full(ctx: JobContext) -> str:
    return _compliance_run(ctx, horizon_days=30, lookback_days=7)


def compliance_next_48h(ctx: JobContext) -> str:
    return _compliance_run(ctx, horizon_days=2, lookback_days=0)


def auto_confirm(ctx: JobContext) -> str:
    count = escrow.auto_confirm_due(ctx.session, ctx.now)
    return f"{count} consumptions confirmed"


def _deliver_after_commit(ctx: JobContext, instruction_ids: list[int]) -> None:
    if instruction_ids:
        ctx.after_commit(lambda: trustee.deliver_instructions(ctx.session_factory, ctx.settings,
                                                              instruction_ids))


def refund_auto_approve(ctx: JobContext) -> str:
    ids = list(escrow.auto_approve_due(ctx.session, SCHEDULER, ctx.now))
    _deliver_after_commit(ctx, ids)
    return f"{len(ids)} refunds approved"


def release_run(ctx: JobContext) -> str:
    run = escrow.create_release_run(ctx.session, SCHEDULER)
    ids = _release_instruction_ids(ctx.session, run.id)
    _deliver_after_commit(ctx, ids)
    return f"release run {run.id}: {len(ids)} instructions"


def _release_instruction_ids(session: Session, run_id: int) -> list[int]:
    return list(session.scalars(select(Instruction.id)
                                .where(Instruction.release_run_id == run_id)
                                .order_by(Instruction.id)))


def instruction_retry(ctx: JobContext) -> None:
    ctx.after_commit(lambda: f"{trustee.deliver_pending(ctx.session_factory, ctx.settings)} sent")


def statement_pull(ctx: JobContext) -> None:
    yesterday = ctx.now.astimezone(SHANGHAI).date() - dt.timedelta(days=1)
    ctx.after_commit(lambda: statements.pull_statements(ctx.session_factory, ctx.settings,
                                                        yesterday))


def outbox_delivery(ctx: JobContext) -> None:
    ctx.after_commit(
        lambda: f"{outbox.deliver_outbox(ctx.session_factory, ctx.settings)} delivered")


def calendar_coverage(ctx: JobContext) -> str:
    missing = runs.check_calendar_coverage(ctx.session, SCHEDULER, ctx.now)
    return "missing: " + ", ".join(missing) if missing else "calendar data complete"


def risk_scores(ctx: JobContext) -> str:
    run = risk.score_institutions(ctx.session, SCHEDULER, as_of=ctx.now)
    return f"risk run {run.id}: {run.institutions_scored} institutions scored"


def prune_claims(ctx: JobContext) -> str:
    cutoff = utcnow() - dt.timedelta(days=30)
    result = ctx.session.execute(delete(JobClaim).where(JobClaim.claimed_at < cutoff))
    return f"{result.rowcount} old claims pruned"  # type: ignore[attr-defined]


# -- the timetable: jobs referenced by their wrappers, so mypy and grep see every call --------

JOBS: tuple[JobSpec, ...] = (
    JobSpec("compliance.nightly", compliance_full, {"hour": 2, "minute": 0}, "day",
            6 * HOUR, "全量合规检查 full compliance run (30-day horizon, 7-day lookback)"),
    JobSpec("compliance.next_48h", compliance_next_48h, {"minute": 20}, "hour",
            HOUR // 2, "未来48小时合规检查 compliance run of the next 48 hours"),
    JobSpec("escrow.auto_confirm", auto_confirm, {"minute": 5}, "hour", HOUR // 2,
            "课消自动确认 consumptions unanswered for 15 working days are confirmed"),
    JobSpec("escrow.refund_auto_approve", refund_auto_approve, {"minute": 10}, "hour",
            HOUR // 2, "退费自动批准 refunds unanswered for 5 working days are approved"),
    JobSpec("escrow.release_run", release_run, {"hour": 3, "minute": 0}, "day",
            6 * HOUR, "每日拨付 daily release of confirmed money to institutions"),
    JobSpec("escrow.instruction_retry", instruction_retry, {"minute": "*/5"},
            "minutes:5", 4 * 60, "指令重发 pending trustee instructions are sent again"),
    JobSpec("escrow.statement_pull", statement_pull, {"hour": 6, "minute": 30}, "day",
            12 * HOUR, "对账单拉取 yesterday's trustee statements, reconciled"),
    JobSpec("notify.outbox", outbox_delivery, {"second": "*/20"}, "seconds:20", 15,
            "通知投递 outbox notifications delivered"),
    JobSpec("calendar.coverage", calendar_coverage, {"hour": 0, "minute": 30}, "day",
            12 * HOUR, "日历数据检查 next year's holidays and school year loaded in time"),
    # After the statement pull (06:30), so the custody coverage reads yesterday's statements.
    JobSpec("risk.daily", risk_scores, {"hour": 7, "minute": 0}, "day", 12 * HOUR,
            "风险预警评分 daily risk score of every institution with money in custody"),
    JobSpec("scheduler.prune_claims", prune_claims, {"hour": 4, "minute": 40}, "day",
            12 * HOUR, "清理 claims older than 30 days"),
)
JOBS_BY_ID = {job.id: job for job in JOBS}


# -- the process ----------------------------------------------------------------------------

def build_scheduler(app: Flask) -> Any:
    """The BlockingScheduler with every job of JOBS (not started)."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    scheduler = BlockingScheduler(timezone=SHANGHAI)
    for spec in JOBS:
        scheduler.add_job(
            run_job, CronTrigger(timezone=SHANGHAI, **spec.trigger), args=(app, spec.id),
            id=spec.id, name=spec.description, replace_existing=True,
            misfire_grace_time=spec.misfire_grace_seconds, coalesce=True, max_instances=1)
    return scheduler
