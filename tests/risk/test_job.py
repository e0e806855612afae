"""The daily risk job: the scheduler calls the same service, once per Shanghai day."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import scheduler
from supervision.models import JobClaim
from supervision.models.risk import RiskRun, RiskScore
from tests.support.factories import Factory

from .planting import AS_OF, Planter

MORNING = AS_OF.replace(hour=7, minute=0, second=3)


def test_the_daily_job_scores_once_per_day_as_the_scheduler(app: Flask, db: Session,
                                                             make: Factory) -> None:
    plant = Planter(db, make)
    inst = plant.institution()
    plant.complaints(inst, 5)
    db.flush()  # the job's unit of work shares the test's connection: it sees these rows
    first = scheduler.run_job(app, "risk.daily", MORNING)
    again = scheduler.run_job(app, "risk.daily", MORNING + dt.timedelta(hours=2))
    assert (first.ran, again.ran) == (True, False)
    assert first.detail == f"risk run {db.scalars(select(RiskRun.id)).one()}: 1 institutions scored"
    [run] = db.scalars(select(RiskRun))
    assert run.actor == "system:scheduler"
    row = db.scalars(select(RiskScore).where(RiskScore.institution_id == inst.id)).one()
    assert (row.day, row.score) == (MORNING.date(), 10)
    [claim] = db.scalars(select(JobClaim).where(JobClaim.job_id == "risk.daily"))
    assert (claim.period_key, claim.outcome) == ("2026-12-03", "done")
