"""The risk score (RULES.md §11): each factor alone moves the score by its capped weight,
a healthy institution stays low, one row per institution per day, RISK_HIGH opens and clears."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM, Actor
from supervision.errors import Forbidden
from supervision.models import Flag, FlagEvent, Institution
from supervision.models.risk import RiskRun, RiskScore
from supervision.risk import FACTOR_CODES, score_institutions
from tests.support.factories import Factory

from .planting import AS_OF, DAY, Planter

# config/policy.toml [risk] defaults
WEIGHTS = {"refund_surge": 25, "prepaid_runway": 20, "custody_coverage": 15,
           "dispute_rate": 5, "cancellations": 15, "complaints": 10, "teachers_left": 5,
           "critical_flags": 5}


def score_of(db: Session, inst: Institution, day: dt.date = DAY) -> RiskScore:
    row = db.scalars(select(RiskScore).where(RiskScore.institution_id == inst.id,
                                             RiskScore.day == day)).one()
    return row


def by_code(row: RiskScore) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in row.factors}


@pytest.fixture
def plant(db: Session, make: Factory) -> Planter:
    return Planter(db, make)


def test_a_healthy_institution_scores_zero_and_stays_low_with_every_factor_explained(
        db: Session, plant: Planter) -> None:
    inst = plant.institution()
    run = score_institutions(db, SYSTEM, as_of=AS_OF)
    row = score_of(db, inst)
    assert (row.score, row.level) == (0, "low")
    assert [f["code"] for f in row.factors] == list(FACTOR_CODES)
    assert all(f["contribution"] == 0 and f["explanation"] for f in row.factors)
    assert run.institutions_scored == 1
    assert db.scalar(select(func.count()).select_from(Flag)) == 0


# Each plant, on top of the healthy default, is alarming enough to take the factor's whole
# weight: the others stay at zero, so the score is exactly that weight.
PLANTS = {
    "refund_surge": lambda p, i: p.refunds(i, 6),
    "prepaid_runway": lambda p, i: p.set_balance(i.id, "held", 400_000),  # 8 months owed
    "custody_coverage": lambda p, i: p.statement(i, 150_000, on=DAY),  # 75% of custody
    "dispute_rate": lambda p, i: p.consumptions(i, 3, disputed=2),
    "cancellations": lambda p, i: p.sessions(i, 10, cancelled=8),
    "complaints": lambda p, i: p.complaints(i, 5),
    "teachers_left": lambda p, i: p.teachers_left(i, 2),
    "critical_flags": lambda p, i: p.critical_flags(i, 2),
}


@pytest.mark.parametrize("code", list(PLANTS))
def test_each_factor_planted_alone_adds_exactly_its_capped_weight(
        db: Session, plant: Planter, code: str) -> None:
    healthy = plant.institution()
    sick = plant.institution()
    PLANTS[code](plant, sick)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    row = score_of(db, sick)
    factors = by_code(row)
    assert factors[code]["contribution"] == WEIGHTS[code]
    assert {c: f["contribution"] for c, f in factors.items() if c != code} == dict.fromkeys(
        set(FACTOR_CODES) - {code}, 0)
    assert row.score == WEIGHTS[code] == sum(f["contribution"] for f in row.factors)
    assert score_of(db, healthy).score == 0


def test_twice_the_alarm_is_capped_at_the_weight_and_half_way_earns_half(
        db: Session, plant: Planter) -> None:
    capped, half = plant.institution(), plant.institution()
    plant.complaints(capped, 12)  # alarm at 5
    plant.complaints(half, 2)  # 2/5 of the way from 0 to 5: 10 × 0.4
    plant.refunds(capped, 40)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    assert by_code(score_of(db, capped))["complaints"]["contribution"] == 10
    assert by_code(score_of(db, capped))["refund_surge"]["contribution"] == 25
    assert by_code(score_of(db, half))["complaints"]["contribution"] == 4
    assert score_of(db, half).score == 4


def test_the_refund_surge_is_read_against_the_institutions_own_90_day_baseline(
        db: Session, plant: Planter) -> None:
    steady, surging = plant.institution(), plant.institution()
    # 12 in the last 14 days is ordinary for one that had 90 over the 90 days before.
    plant.refunds(steady, 12)
    plant.refunds(steady, 90, days_ago=50)
    plant.refunds(surging, 12)
    plant.refunds(surging, 9, days_ago=50)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    steady_f = by_code(score_of(db, steady))["refund_surge"]
    surging_f = by_code(score_of(db, surging))["refund_surge"]
    assert steady_f["value"] == pytest.approx(12 / 14, abs=1e-4) and steady_f["contribution"] == 0
    assert surging_f["value"] == pytest.approx(12 / 1.4, abs=1e-4)
    assert surging_f["explanation"] == "近14天退费申请 12 笔，为其90天平均水平的 8.6 倍"


def test_money_held_with_no_classes_at_all_is_the_worst_runway(db: Session,
                                                               plant: Planter) -> None:
    inst = plant.institution(monthly_consumption=0)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    runway = by_code(score_of(db, inst))["prepaid_runway"]
    assert runway["value"] is None and runway["contribution"] == WEIGHTS["prepaid_runway"] == 20
    assert "近30天无任何课消" in runway["explanation"]


def test_without_a_statement_custody_coverage_is_neutral_and_says_so(
        db: Session, plant: Planter) -> None:
    inst = plant.institution(statement=None)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    coverage = by_code(score_of(db, inst))["custody_coverage"]
    assert coverage == {"code": "custody_coverage", "value": None, "contribution": 0,
                        "explanation": "尚无托管方对账单，本项不计分"}


def test_old_signals_outside_their_windows_do_not_count(db: Session, plant: Planter) -> None:
    inst = plant.institution()
    plant.complaints(inst, 9, days_ago=31)
    plant.sessions(inst, 10, cancelled=10, days_ago=31)
    plant.consumptions(inst, 3, disputed=3, days_ago=31)
    plant.teachers_left(inst, 4, days_ago=31)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    assert score_of(db, inst).score == 0


def test_teachers_left_is_the_share_of_the_months_staff_recorded_as_left_in_it(
        db: Session, plant: Planter) -> None:
    inst = plant.institution()  # its own teacher, on staff
    plant.teachers_left(inst, 1, stayed=1, days_ago=10)  # one left, one stayed
    plant.teachers_left(inst, 2, days_ago=45)  # gone before the 30 days: not staff then
    plant.teachers_left(inst, 1, days_ago=0)  # left today: inside the 30 days
    score_institutions(db, SYSTEM, as_of=AS_OF)
    factor = by_code(score_of(db, inst))["teachers_left"]
    assert factor["value"] == pytest.approx(2 / 4, abs=1e-4)
    assert factor["contribution"] == WEIGHTS["teachers_left"]  # 50% is the alarm
    assert factor["explanation"] == "近30天在职的 4 名教师中 2 名已离职"


def test_an_institution_with_no_money_in_custody_is_not_scored(db: Session,
                                                               plant: Planter) -> None:
    empty = plant.institution(custody=0)
    plant.complaints(empty, 9)
    run = score_institutions(db, SYSTEM, as_of=AS_OF)
    assert run.institutions_scored == 0
    assert db.scalar(select(func.count()).select_from(RiskScore)
                     .where(RiskScore.institution_id == empty.id)) == 0


def collapsing(plant: Planter) -> Institution:
    """Refunds surge, no classes, complaints, teachers gone, custody short:
    25 + 20 + 10 + 5 + 15 = 75."""
    inst = plant.institution(monthly_consumption=0)
    plant.refunds(inst, 10)
    plant.complaints(inst, 6)
    plant.teachers_left(inst, 3)
    plant.statement(inst, 100_000, on=DAY)
    return inst


def risk_flags(db: Session, inst: Institution) -> list[Flag]:
    return list(db.scalars(select(Flag).where(Flag.rule == "RISK_HIGH",
                                              Flag.institution_id == inst.id)))


def test_reaching_high_opens_one_risk_high_flag_with_the_factors_as_evidence(
        db: Session, plant: Planter) -> None:
    inst = collapsing(plant)
    healthy = plant.institution()
    score_institutions(db, SYSTEM, as_of=AS_OF)
    score_institutions(db, SYSTEM, as_of=AS_OF + dt.timedelta(hours=2))
    row = score_of(db, inst)
    assert (row.score, row.level) == (75, "high")
    [flag] = risk_flags(db, inst)
    assert (flag.severity, flag.status, flag.subject_type) == ("critical", "open", "institution")
    assert flag.evidence["score"] == 75 and flag.evidence["factors"] == row.factors
    assert flag.summary.startswith("风险评分 75（高）：")
    assert risk_flags(db, healthy) == []
    # The second run refreshed the flag: one detection event, no second flag.
    assert db.scalar(select(func.count()).select_from(FlagEvent)
                     .where(FlagEvent.flag_id == flag.id)) == 1


def test_falling_below_high_clears_risk_high_and_rising_again_reopens_it(
        db: Session, plant: Planter) -> None:
    inst = collapsing(plant)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    plant.consumptions(inst, 1, amount=200_000, days_ago=0.5)  # classes resume
    score_institutions(db, SYSTEM, as_of=AS_OF + dt.timedelta(days=1))
    assert score_of(db, inst, DAY + dt.timedelta(days=1)).level != "high"
    [flag] = risk_flags(db, inst)
    assert flag.status == "cleared"
    events = list(db.scalars(select(FlagEvent.action).where(FlagEvent.flag_id == flag.id)
                             .order_by(FlagEvent.id)))
    assert events == ["detected", "cleared"]
    plant.sessions(inst, 10, cancelled=10, days_ago=1)  # classes cancelled, staff flagged:
    plant.critical_flags(inst, 2)  # back to high (70 + 5)
    score_institutions(db, SYSTEM, as_of=AS_OF + dt.timedelta(days=2))
    db.refresh(flag)
    assert flag.status == "open" and risk_flags(db, inst) == [flag]
    assert [r.level for r in db.scalars(select(RiskScore).where(
        RiskScore.institution_id == inst.id).order_by(RiskScore.day))] == [
        "high", "medium", "high"]


def test_one_row_per_institution_per_day_and_scores_older_than_400_days_are_pruned(
        db: Session, plant: Planter) -> None:
    inst = plant.institution()
    score_institutions(db, SYSTEM, as_of=AS_OF - dt.timedelta(days=401))
    score_institutions(db, SYSTEM, as_of=AS_OF - dt.timedelta(days=399))
    plant.complaints(inst, 5)
    score_institutions(db, SYSTEM, as_of=AS_OF - dt.timedelta(hours=3))
    score_institutions(db, SYSTEM, as_of=AS_OF)  # the same Shanghai day: overwrites
    days = list(db.scalars(select(RiskScore.day).where(RiskScore.institution_id == inst.id)
                           .order_by(RiskScore.day)))
    assert days == [DAY - dt.timedelta(days=399), DAY]
    assert score_of(db, inst).score == 10
    assert db.scalar(select(func.count()).select_from(RiskRun)) == 4


@pytest.mark.parametrize("actor", [
    Actor(principal_id=5, role="regulator", name="梁溪区", district_code="320213"),
    Actor(principal_id=6, role="institution", name="机构", institution_id=1),
    Actor(principal_id=7, role="parent", name="家长")])
def test_only_the_city_may_run_the_score_and_a_refusal_writes_nothing(
        db: Session, plant: Planter, actor: Actor) -> None:
    plant.institution()
    with pytest.raises(Forbidden):
        score_institutions(db, actor, as_of=AS_OF)
    assert db.scalar(select(func.count()).select_from(RiskScore)) == 0
    assert db.scalar(select(func.count()).select_from(RiskRun)) == 0
