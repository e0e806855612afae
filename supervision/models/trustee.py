"""The trustee's side of escrow: signed events received, instruction deliveries, statements.

Tables here are records of what the trustee told us (events, statements) and of our own
attempts to reach it (deliveries); the money itself lives in the ledger (models/escrow.py).
"""

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

from .base import Base, IntPK, Money, Timestamp, utcnow


class TrusteeEvent(Base):
    """One row per event_id the trustee ever sent us.

    The UNIQUE event_id is what makes a replayed or concurrently duplicated event harmless:
    the row is inserted first, in the same transaction as the event's effect, so two
    deliveries of one event cannot both commit an effect.
    """

    __tablename__ = "trustee_events"
    # The trustee's own append-only log; its effects (deposits, instructions) are audited.
    __audit__ = False

    id: Mapped[IntPK]
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    # SHA-256 of the canonical JSON of the body: tells a true replay from a reused event_id.
    body_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    # applied | suspense (deposits); executed | failed | already_executed | already_failed
    outcome: Mapped[str] = mapped_column(String(32))


class InstructionDelivery(Base):
    """Our attempts to hand one instruction to the trustee, and the claim that stops two
    deliverers (a view and the retry job, or two scheduler processes) sending it at once.

    The claim is a lease (claimed_until) rather than a lock held during the HTTP call: no
    transaction stays open while we wait for the trustee (on SQLite an open write transaction
    would block every writer), and a deliverer that crashes mid-call frees it by expiry.
    """

    __tablename__ = "instruction_deliveries"
    __audit__ = False

    instruction_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("instructions.id"), primary_key=True, autoincrement=False)
    institution_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))


class Statement(Base):
    """One imported trustee statement of one supervised account for one day, with the
    reconciliation report given back for it (replayed as is when the same body comes again)."""

    __tablename__ = "trustee_statements"
    __audit_redact__ = ("report",)
    __table_args__ = (UniqueConstraint("account_no", "date"),)

    id: Mapped[IntPK]
    account_no: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    # The institution whose supervised account this is: scoping and flags.
    institution_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("institutions.id"), index=True)
    opening_balance_fen: Mapped[Money]
    closing_balance_fen: Mapped[Money]
    line_count: Mapped[int] = mapped_column(Integer)
    body_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # upload | pull
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    imported_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class StatementLine(Base):
    __tablename__ = "trustee_statement_lines"
    # Written in bulk (100,000 lines per statement) and never changed: the statement row's
    # audit entry and body hash stand for them.
    __audit__ = False
    __table_args__ = (
        UniqueConstraint("statement_id", "trustee_txn_id"),
        CheckConstraint("direction in ('credit', 'debit')", name="direction"),
        CheckConstraint("amount_fen >= 0", name="amount_non_negative"),
        # "Does any statement of this account show the transaction?"
        Index("ix_trustee_statement_lines_account_no_trustee_txn_id", "account_no",
              "trustee_txn_id"),
    )

    id: Mapped[IntPK]
    statement_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("trustee_statements.id"))
    institution_id: Mapped[int | None] = mapped_column(BigInteger)
    account_no: Mapped[str] = mapped_column(String(64))
    line_no: Mapped[int] = mapped_column(Integer)
    trustee_txn_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(6))
    amount_fen: Mapped[Money]
    value_date: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
