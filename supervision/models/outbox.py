"""The notification outbox: written in the same transaction as the change it announces."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IntPK, Timestamp, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __audit__ = False
    __table_args__ = (Index("ix_outbox_delivered_at_next_attempt_at",
                            "delivered_at", "next_attempt_at"),)

    id: Mapped[IntPK]
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
