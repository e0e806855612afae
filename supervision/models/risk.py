"""Risk early warning (风险预警, API.md §12): each institution's daily score and the runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IntPK, Timestamp, utcnow

RISK_LEVELS = ("low", "medium", "high")


class RiskScore(Base):
    """One institution's score for one Shanghai day: a later run the same day overwrites it,
    so the history has one point per day (kept 400 days)."""

    __tablename__ = "risk_scores"
    # Derived data rewritten in bulk every day (10,000 rows a run): its run row is audited.
    __audit__ = False
    __table_args__ = (
        UniqueConstraint("institution_id", "day"),
        CheckConstraint("score >= 0 and score <= 100", name="score_range"),
        CheckConstraint("level in ('low', 'medium', 'high')", name="level"),
        # The ranked list reads one day, highest score first.
        Index("ix_risk_scores_day_score", "day", "score"),
    )

    id: Mapped[IntPK]
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    # [{code, value, contribution, explanation}], in the order of RULES.md §11.
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    computed_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class RiskRun(Base):
    """One scoring of every institution with money in custody (the daily job or a POST)."""

    __tablename__ = "risk_runs"

    id: Mapped[IntPK]
    computed_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    institutions_scored: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(250))
