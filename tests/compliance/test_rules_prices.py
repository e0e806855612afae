"""RULES.md §4: the government-guided price ceiling, exact at the boundary."""

from __future__ import annotations

from fractions import Fraction

import pytest
from sqlalchemy.orm import Session

from supervision.compliance.rules.prices import price_ceiling

from ..support.factories import Factory
from ..support.rules import only, run, subjects, world
from ..support.settings import with_policy


def _prices(db: Session) -> dict:  # type: ignore[type-arg]
    return dict(db.info["settings"].policy["prices"])


@pytest.mark.parametrize(("mode", "class_size", "minutes", "ceiling"), [
    ("offline", 10, 45, 6300), ("offline", 11, 45, 4200), ("offline", 34, 45, 4200),
    ("offline", 35, 45, 2625), ("online", 500, 30, 1650), ("offline", 20, 60, 5600),
    ("offline", 20, 40, Fraction(11200, 3)), ("online", 1, 45, 2475)])
def test_the_ceiling_is_benchmark_times_float_pro_rated_exactly(
        db: Session, mode: str, class_size: int, minutes: int, ceiling: Fraction) -> None:
    assert price_ceiling(_prices(db), mode, class_size, minutes) == ceiling


@pytest.mark.parametrize(("mode", "class_size", "minutes", "at_ceiling"), [
    ("offline", 10, 45, 6300), ("offline", 20, 45, 4200), ("offline", 40, 45, 2625),
    ("online", 30, 30, 1650), ("offline", 20, 60, 5600)])
def test_a_price_one_fen_above_the_ceiling_is_high_and_at_the_ceiling_is_fine(
        db: Session, make: Factory, mode: str, class_size: int, minutes: int,
        at_ceiling: int) -> None:
    w = world(make)
    venue = None if mode == "online" else w.venue.id
    fine = w.course_like(mode=mode, class_size=class_size, minutes_per_class_hour=minutes,
                         price_per_class_hour_fen=at_ceiling, venue_id=venue)
    over = w.course_like(mode=mode, class_size=class_size, minutes_per_class_hour=minutes,
                         price_per_class_hour_fen=at_ceiling + 1, venue_id=venue)
    findings = run(db, "PRICE_ABOVE_GUIDE")
    assert str(over.id) in subjects(findings)
    assert str(fine.id) not in subjects(findings)
    finding = only(findings, over.id)
    assert finding.severity == "high"
    assert finding.evidence["ceiling_fen"] == str(at_ceiling)


def test_a_fractional_ceiling_is_compared_without_rounding(db: Session, make: Factory) -> None:
    w = world(make)  # 40-minute hours of a middle class: ceiling 3733.33… fen
    fine = w.course_like(minutes_per_class_hour=40, price_per_class_hour_fen=3733)
    over = w.course_like(minutes_per_class_hour=40, price_per_class_hour_fen=3734)
    found = subjects(run(db, "PRICE_ABOVE_GUIDE"))
    assert str(over.id) in found and str(fine.id) not in found
    assert only(run(db, "PRICE_ABOVE_GUIDE"), over.id).evidence["ceiling_fen"] == "3733.33"


def test_prices_of_non_subject_or_senior_courses_are_not_guided(db: Session,
                                                                make: Factory) -> None:
    w = world(make)
    w.course_like(category="non_subject", subject="art", price_per_class_hour_fen=99999)
    w.course_like(grade_min=10, grade_max=12, price_per_class_hour_fen=99999)
    assert run(db, "PRICE_ABOVE_GUIDE") == []


def test_a_disguised_math_course_is_held_to_the_guided_price(db: Session,
                                                             make: Factory) -> None:
    w = world(make)
    disguised = w.course_like(category="non_subject", subject="math",
                              price_per_class_hour_fen=9000)
    assert subjects(run(db, "PRICE_ABOVE_GUIDE")) == {str(disguised.id)}


def test_the_float_comes_from_config(db: Session, make: Factory) -> None:
    w = world(make)
    course = w.course_like(price_per_class_hour_fen=4200)
    assert run(db, "PRICE_ABOVE_GUIDE") == []
    db.info["settings"] = with_policy(db.info["settings"], "prices", offline_float=0.0)

    assert subjects(run(db, "PRICE_ABOVE_GUIDE")) == {str(course.id)}
