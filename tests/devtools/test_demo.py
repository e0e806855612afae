"""The Wuxi demo data set: loads once, books money through the real services, and gives the
compliance engine something to find for most of the rulebook."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.compliance.runs import run_compliance
from supervision.devtools.demo import seed_demo
from supervision.escrow import trial_balance, verify_ledger
from supervision.models import Flag, Institution

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_seeding_twice_adds_nothing_the_second_time(db: Session) -> None:
    first = seed_demo(db, now=NOW)
    count = db.scalar(select(func.count()).select_from(Institution))
    second = seed_demo(db, now=NOW)
    assert first.created and not second.created
    # Seven registry plants and the risk plant with its neighbour.
    assert db.scalar(select(func.count()).select_from(Institution)) == count == 9
    assert [t for _r, _n, t in second.tokens] == [t for _r, _n, t in first.tokens]


def test_the_demo_money_balances_and_the_engine_finds_the_planted_violations(
        db: Session) -> None:
    seed_demo(db, now=NOW)
    assert trial_balance(db, SYSTEM).balanced
    assert verify_ledger(db) == []
    run_compliance(db, SYSTEM, as_of=NOW, horizon_days=90, lookback_days=7)
    found = set(db.scalars(select(Flag.rule).distinct()))
    planted = {"DISGUISED_SUBJECT", "CATEGORY_OUTSIDE_LICENSE", "SUBJECT_ON_WEEKEND",
               "SUBJECT_IN_VACATION", "ONLINE_SESSION_TOO_LONG", "ONLINE_INTERVAL_TOO_SHORT",
               "LATE_END_ONLINE", "LATE_END_OFFLINE", "PRESCHOOL_ONLINE", "PRESCHOOL_SUBJECT",
               "PRICE_ABOVE_GUIDE", "TEACHER_UNQUALIFIED", "INSERVICE_TEACHER",
               "STAFF_BLACKLISTED", "STAFF_BACKGROUND_MISSING", "NOT_NONPROFIT",
               "UNLICENSED_OPERATION", "LICENSE_EXPIRING", "OPERATING_WHILE_SUSPENDED",
               "MODE_OUTSIDE_LICENSE", "VENUE_UNREGISTERED", "CONSUMPTION_DISPUTED",
               "REFUND_REJECTED", "FUND_UNMATCHED_DEPOSIT"}
    assert planted <= found, planted - found


def test_the_seed_command_prints_the_demo_tokens_last(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "demo-regulator-wuxi" in result.output
