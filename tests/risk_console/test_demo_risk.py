"""The demo's planted collapse (issue 11): scored on the demo's own day, the institution on a
collapse path is `high` and its healthy neighbour `low`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.devtools.demo import RISK_NEIGHBOUR, RISK_PLANT, seed_demo
from supervision.escrow import trial_balance, verify_ledger
from supervision.models import Institution, RiskScore
from supervision.risk import score_institutions

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _score_of(db: Session, name: str) -> RiskScore:
    return db.scalars(select(RiskScore)
                      .join(Institution, Institution.id == RiskScore.institution_id)
                      .where(Institution.name == name)).one()


def test_the_planted_collapse_scores_high_and_its_neighbour_low(db: Session) -> None:
    seed_demo(db, now=NOW)
    assert trial_balance(db, SYSTEM).balanced
    assert verify_ledger(db) == []
    score_institutions(db, SYSTEM, as_of=NOW)
    plant, neighbour = _score_of(db, RISK_PLANT), _score_of(db, RISK_NEIGHBOUR)
    assert plant.level == "high", plant.factors
    assert neighbour.level == "low", neighbour.factors
    moving = {f["code"] for f in plant.factors if f["contribution"] > 0}
    # The collapse is seen through its own signals, not one factor alone.
    assert {"refund_surge", "prepaid_runway", "cancellations", "custody_coverage"} <= moving
    assert sum(f["contribution"] for f in plant.factors) == plant.score
