"""The score's arithmetic (RULES.md §11), pure: no database, no Flask.

Each factor reads a value; its contribution is its weight scaled linearly from `neutral`
(nothing) to `alarm` (the whole weight), capped at both ends and rounded to a whole point, so
the contributions add up exactly to the score and no single factor can exceed its weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# RULES.md §11's order: the order of every factor list the API and the console show.
FACTOR_CODES = ("refund_surge", "prepaid_runway", "custody_coverage", "dispute_rate",
                "cancellations", "complaints", "teachers_left", "critical_flags")
LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class FactorSpec:
    weight: int
    neutral: float
    alarm: float


@dataclass(frozen=True)
class RiskPolicy:
    factors: Mapping[str, FactorSpec]
    medium_from: int
    high_from: int
    history_days: int
    keep_days: int

    @classmethod
    def from_policy(cls, policy: Mapping[str, Any]) -> RiskPolicy:
        """config/policy.toml [risk]; a missing factor is a configuration error, said so."""
        section = policy.get("risk")
        if not isinstance(section, Mapping):
            raise KeyError("config/policy.toml has no [risk] table (RULES.md §11)")
        factors = {}
        for code in FACTOR_CODES:
            entry = section.get(code)
            if not isinstance(entry, Mapping):
                raise KeyError(f"config/policy.toml [risk] lacks {code}")
            factors[code] = FactorSpec(weight=int(entry["weight"]),
                                       neutral=float(entry["neutral"]),
                                       alarm=float(entry["alarm"]))
        if sum(f.weight for f in factors.values()) > 100:
            raise ValueError("config/policy.toml [risk]: the weights add up to more than 100")
        return cls(factors=factors, medium_from=int(section.get("medium_from", 40)),
                   high_from=int(section.get("high_from", 70)),
                   history_days=int(section.get("history_days", 90)),
                   keep_days=int(section.get("keep_days", 400)))

    def level(self, score: int) -> str:
        if score >= self.high_from:
            return "high"
        if score >= self.medium_from:
            return "medium"
        return "low"


def severity_fraction(value: float | None, spec: FactorSpec, *, maximal: bool = False) -> float:
    """How far from neutral towards alarm `value` lies, in [0, 1]. `maximal` marks a reading
    worse than any number (money held and no classes at all); None is no reading (neutral)."""
    if maximal:
        return 1.0
    if value is None or spec.alarm == spec.neutral:
        return 0.0
    return min(1.0, max(0.0, (value - spec.neutral) / (spec.alarm - spec.neutral)))


def contribution(value: float | None, spec: FactorSpec, *, maximal: bool = False) -> int:
    # Half-up rounding (not Python's banker's rounding): the same reading always scores the same.
    return int(spec.weight * severity_fraction(value, spec, maximal=maximal) + 0.5)


def factor(code: str, value: float | None, spec: FactorSpec, explanation: str, *,
           maximal: bool = False) -> dict[str, Any]:
    """One entry of a score's `factors` (API.md §12)."""
    shown = None if value is None else round(float(value), 4)
    return {"code": code, "value": shown,
            "contribution": contribution(value, spec, maximal=maximal),
            "explanation": explanation}
