"""Principals (token holders), the audit log and stored idempotent responses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IntPK, Timestamp, utcnow


class Principal(Base):
    __tablename__ = "principals"
    __audit_redact__ = ("token_hash",)
    __table_args__ = (
        CheckConstraint("role in ('regulator', 'institution', 'parent')", name="role"),
        CheckConstraint("role <> 'institution' or institution_id is not null",
                        name="institution_has_id"),
    )

    id: Mapped[IntPK]
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of a 256-bit random token: tokens are never stored, only their hashes.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    institution_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    district_code: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    # A revoked or expired principal is refused at once by the API and the console; the row
    # stays, because the audit trail and the ledger name it.
    revoked_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]


class ConsoleSession(Base):
    """One signed-in console browser, kept server-side so that signing out or revoking the
    principal ends it at once: a signed cookie alone stays valid until it expires.

    The cookie holds a random key; only its hash is stored, as for API tokens.
    """

    __tablename__ = "console_sessions"
    # Its own record of sign-ins and sign-outs; not a business change for the audit trail.
    __audit__ = False

    id: Mapped[IntPK]
    principal_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("principals.id"),
                                              index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class AuditLog(Base):
    """Append-only: every write of every role, in the same transaction as the write."""

    __tablename__ = "audit_log"
    __audit__ = False
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[IntPK]
    at: Mapped[Timestamp] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(250))
    principal_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The institution the changed row belongs to, so district regulators see their own only.
    institution_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


class IdempotentResponse(Base):
    """A money-moving POST's first answer, replayed for a retry with the same key and body."""

    __tablename__ = "idempotent_responses"
    __audit__ = False
    __table_args__ = (Index("uq_idempotent_responses_key", "principal_id", "key", unique=True),)

    id: Mapped[IntPK]
    principal_id: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200))
    method_path: Mapped[str] = mapped_column(String(300))
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
