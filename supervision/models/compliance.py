"""Compliance flags and their history (API.md §5)."""

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


class Flag(Base):
    """One flag per (rule, subject): detecting the same thing again updates it."""

    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("rule", "subject_type", "subject_id"),
        Index("ix_flags_status_severity", "status", "severity"),
    )

    id: Mapped[IntPK]
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="open")
    institution_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("institutions.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(500))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_detected_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    last_detected_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    due_on: Mapped[dt.date | None] = mapped_column(Date)


class FlagEvent(Base):
    """A flag's history: every transition, by whom, with the note.

    Append-only and itself a history, so it stays out of the per-row audit trail (the flag's
    own status change is audited)."""

    __tablename__ = "flag_events"
    __audit__ = False

    id: Mapped[IntPK]
    flag_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("flags.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    at: Mapped[Timestamp] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(250))
    action: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(2000))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))


class CalendarOverride(Base):
    """A regulator's correction or addition to the statutory calendar (e.g. next year's State
    Council schedule before chinesecalendar has it). One row per date."""

    __tablename__ = "calendar_overrides"
    __table_args__ = (CheckConstraint("kind in ('holiday', 'workday')", name="kind"),)

    id: Mapped[IntPK]
    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class SchoolYear(Base):
    """Wuxi's 校历 for one school year (name "2026-2027"): the winter and summer vacations.

    A year without a row falls back to config/policy.toml [school_years]."""

    __tablename__ = "school_years"
    __table_args__ = (
        CheckConstraint("winter_start <= winter_end", name="winter_ordered"),
        CheckConstraint("summer_start <= summer_end", name="summer_ordered"),
        CheckConstraint("winter_end < summer_start", name="winter_before_summer"),
    )

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(9), unique=True)
    winter_start: Mapped[dt.date] = mapped_column(Date)
    winter_end: Mapped[dt.date] = mapped_column(Date)
    summer_start: Mapped[dt.date] = mapped_column(Date)
    summer_end: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class ComplianceRun(Base):
    """One evaluation of the rulebook over a window, with what it changed."""

    __tablename__ = "compliance_runs"

    id: Mapped[IntPK]
    as_of: Mapped[Timestamp]
    window_start: Mapped[Timestamp]
    window_end: Mapped[Timestamp]
    horizon_days: Mapped[int] = mapped_column(Integer)
    lookback_days: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    sessions_scanned: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    flags_opened: Mapped[int] = mapped_column(Integer, default=0)
    flags_reopened: Mapped[int] = mapped_column(Integer, default=0)
    flags_cleared: Mapped[int] = mapped_column(Integer, default=0)
    flags_open: Mapped[int] = mapped_column(Integer, default=0)
    # {rule code: findings} of this run, for the summary people read.
    by_rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    triggered_by: Mapped[str] = mapped_column(String(250))


class JobClaim(Base):
    """A scheduled job's claim on one period: the unique key makes each job run once per
    period however many scheduler processes fire it."""

    __tablename__ = "job_claims"
    __audit__ = False  # operational bookkeeping, one row per job per period
    __table_args__ = (UniqueConstraint("job_id", "period_key"),)

    id: Mapped[IntPK]
    job_id: Mapped[str] = mapped_column(String(64))
    period_key: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(120))
    finished_at: Mapped[dt.datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[str | None] = mapped_column(String(500))
