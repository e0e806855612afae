"""The Wuxi demo data set: loads once, books money through the real services, and gives the
compliance engine something to find for most of the rulebook."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.principals import actor_for, hash_token
from supervision.access.scope import SYSTEM
from supervision.compliance.runs import run_compliance
from supervision.devtools.demo import seed_demo
from supervision.escrow import escrow_status, trial_balance, verify_ledger
from supervision.models import Complaint, Flag, Institution, Principal, Review, Tip
from supervision.models.escrow import Enrollment

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


def test_the_demo_has_an_answered_and_an_overdue_complaint_a_tip_and_reviews(
        db: Session) -> None:
    seed_demo(db, now=NOW)
    # The risk plant's complaints aside: those are the collapse story's.
    answered, overdue = db.scalars(
        select(Complaint).join(Institution, Institution.id == Complaint.institution_id)
        .where(Institution.name.in_(("锡心学堂培训中心", "湖畔思维教育")))
        .order_by(Complaint.id)).all()
    assert answered.status == "responded" and len(answered.responses) == 1
    assert overdue.status != "closed" and overdue.due_on < NOW.date()
    assert db.scalar(select(func.count()).select_from(Tip)) == 1
    assert db.scalar(select(func.count()).select_from(Review)) == 2
    run_compliance(db, SYSTEM, as_of=NOW, horizon_days=90, lookback_days=7)
    overdue_flags = db.scalars(select(Flag).where(Flag.rule == "COMPLAINT_OVERDUE")).all()
    assert [(f.subject_type, f.subject_id) for f in overdue_flags] == [
        ("complaint", str(overdue.id))]


def test_demo_parent_zhang_sees_money_held_pending_and_confirmed_in_one_enrollment(
        db: Session) -> None:
    seed_demo(db, now=NOW)
    zhang = actor_for(db.scalars(select(Principal).where(
        Principal.token_hash == hash_token("demo-parent-zhang"))).one())
    ming = db.scalars(select(Enrollment).where(Enrollment.student_name == "张小明",
                                               Enrollment.class_hours == 20)).one()
    status = escrow_status(db, zhang, ming.id)
    # Released and refunded need the trustee to execute an instruction: no trustee at seed time.
    assert status.held_fen > 0
    assert status.pending_confirmation_fen > 0
    assert status.confirmed_fen > 0
