"""Compliance flags and their history (API.md §5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, String, UniqueConstraint
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
    """A flag's history: every transition, by whom, with the note."""

    __tablename__ = "flag_events"

    id: Mapped[IntPK]
    flag_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("flags.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    at: Mapped[Timestamp] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(250))
    action: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(2000))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
