"""RULES.md §4: the government-guided price ceiling per student per class hour.

ceiling = benchmark × (1 + float) × minutes_per_class_hour ÷ standard minutes, in exact
fractions: SQL compares price × standard × den > benchmark × num × minutes in integers, where
(1 + float) = num / den, so a price exactly at the ceiling is never flagged by rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from sqlalchemy import case

from ...models import Course
from ...wording import yuan
from ..model import Finding
from .base import Context, Evaluator, in_rule_grades, subject_type_course
from .subjects import course_finding, course_select

BAND_ZH = {"small": "小班", "middle": "中班", "large": "大班", "online": "线上"}


def price_band(prices: dict[str, Any], mode: str, class_size: int) -> str:
    if mode == "online":
        return "online"
    if class_size <= prices["small_class_max"]:
        return "small"
    if class_size >= prices["large_class_min"]:
        return "large"
    return "middle"


def _factor(prices: dict[str, Any], mode: str) -> Fraction:
    # str() first: 0.05 as a binary float is not 1/20.
    return 1 + Fraction(str(prices[f"{mode}_float"]))


def _benchmark(prices: dict[str, Any], band: str) -> int:
    key = "online_benchmark_fen" if band == "online" else f"offline_{band}_benchmark_fen"
    return int(prices[key])


def price_ceiling(prices: dict[str, Any], mode: str, class_size: int,
                  minutes_per_class_hour: int) -> Fraction:
    """The ceiling in fen for one class hour of this course, exactly."""
    band = price_band(prices, mode, class_size)
    standard = int(prices[f"standard_minutes_{mode}"])
    return (_benchmark(prices, band) * _factor(prices, mode) * minutes_per_class_hour
            / standard)


def _above_ceiling(prices: dict[str, Any]) -> Any:
    online, offline = _factor(prices, "online"), _factor(prices, "offline")
    is_online = Course.mode == "online"
    scale = case((is_online, int(prices["standard_minutes_online"]) * online.denominator),
                 else_=int(prices["standard_minutes_offline"]) * offline.denominator)
    benchmark = case(
        (is_online, _benchmark(prices, "online") * online.numerator),
        (Course.class_size <= prices["small_class_max"],
         _benchmark(prices, "small") * offline.numerator),
        (Course.class_size >= prices["large_class_min"],
         _benchmark(prices, "large") * offline.numerator),
        else_=_benchmark(prices, "middle") * offline.numerator)
    return (Course.price_per_class_hour_fen * scale
            > Course.minutes_per_class_hour * benchmark)


def price_above_guide(ctx: Context) -> Iterator[Finding]:
    prices = ctx.policy["prices"]
    stmt = (course_select(Course.class_size, Course.minutes_per_class_hour,
                     Course.price_per_class_hour_fen)
            .where(subject_type_course(ctx), in_rule_grades(ctx), _above_ceiling(prices))
            .order_by(Course.id))
    for row in ctx.session.execute(stmt):
        band = price_band(prices, row.mode, row.class_size)
        ceiling = price_ceiling(prices, row.mode, row.class_size, row.minutes_per_class_hour)
        shown = f"{float(ceiling):.2f}".rstrip("0").rstrip(".")
        # A price is whole fen, so it is above the ceiling exactly when it is above the
        # ceiling rounded down to whole fen: the yuan shown compare as the rule does.
        detail = (f"每课时{yuan(row.price_per_class_hour_fen)}，"
                  f"高于指导价上限{yuan(math.floor(ceiling))}"
                  f"（{BAND_ZH[band]}，每课时{row.minutes_per_class_hour}分钟）")
        yield course_finding(
            ctx, "PRICE_ABOVE_GUIDE", row, detail,
            price_per_class_hour_fen=row.price_per_class_hour_fen, band=band,
            class_size=row.class_size, minutes_per_class_hour=row.minutes_per_class_hour,
            benchmark_fen=_benchmark(prices, band), float=prices[f"{row.mode}_float"],
            ceiling_fen=shown)


EVALUATORS: dict[str, Evaluator] = {"PRICE_ABOVE_GUIDE": price_above_guide}
