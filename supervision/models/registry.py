"""Registries: institutions, venues, teachers, rosters, courses and sessions (API.md §3)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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


class Institution(Base):
    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint("category in ('subject', 'non_subject')", name="category"),
        CheckConstraint("status in ('active', 'suspended', 'revoked')", name="status"),
        CheckConstraint("escrow_mode in ('trust', 'bank_custody', 'risk_reserve')",
                        name="escrow_mode"),
    )

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    license_no: Mapped[str] = mapped_column(String(64))
    license_valid_until: Mapped[dt.date] = mapped_column(Date)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    category: Mapped[str] = mapped_column(String(16))
    licensed_modes: Mapped[list[str]] = mapped_column(JSON)
    nonprofit_registration_no: Mapped[str | None] = mapped_column(String(64))
    escrow_mode: Mapped[str] = mapped_column(String(16))
    supervised_account_no: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(300))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class Venue(Base):
    __tablename__ = "venues"
    __table_args__ = (CheckConstraint("capacity > 0", name="capacity_positive"),)

    id: Mapped[IntPK]
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    address: Mapped[str] = mapped_column(String(300))
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Teacher(Base):
    __tablename__ = "teachers"
    # Pseudonymous, but a join key across institutions: keep it out of the audit copies.
    __audit_redact__ = ("id_number_hash",)
    __table_args__ = (
        CheckConstraint("background_check_status in ('clear', 'pending', 'hit')",
                        name="background_check_status"),
        CheckConstraint("employment in ('full_time', 'part_time')", name="employment"),
    )

    id: Mapped[IntPK]
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The full number is never stored: a keyed hash tells one person across institutions.
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    qualification_cert_no: Mapped[str | None] = mapped_column(String(17))
    cert_level: Mapped[str | None] = mapped_column(String(16))
    cert_subject: Mapped[str | None] = mapped_column(String(32))
    is_inservice_school_teacher: Mapped[bool] = mapped_column(Boolean, default=False)
    background_check_status: Mapped[str] = mapped_column(String(16))
    background_checked_on: Mapped[dt.date | None] = mapped_column(Date)
    employment: Mapped[str] = mapped_column(String(16))
    hired_on: Mapped[dt.date] = mapped_column(Date)
    # 离职: the day the teacher left; None while still employed. Sessions after it are refused.
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class RosterEntry(Base):
    """The education bureau's lists: in-service school teachers and the blacklist."""

    __tablename__ = "roster_entries"
    __audit_redact__ = ("id_number_hash",)
    __table_args__ = (
        UniqueConstraint("kind", "id_number_hash"),
        CheckConstraint("kind in ('inservice', 'blacklist')", name="kind"),
    )

    id: Mapped[IntPK]
    kind: Mapped[str] = mapped_column(String(16))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Course(Base):
    __tablename__ = "courses"
    __parent_readable__ = True
    __table_args__ = (
        CheckConstraint("category in ('subject', 'non_subject')", name="category"),
        CheckConstraint("mode in ('online', 'offline')", name="mode"),
        CheckConstraint("grade_min >= 0 and grade_max <= 12 and grade_min <= grade_max",
                        name="grades"),
        CheckConstraint("price_per_class_hour_fen >= 0", name="price_non_negative"),
        CheckConstraint("minutes_per_class_hour > 0", name="minutes_positive"),
        CheckConstraint("class_size > 0", name="class_size_positive"),
    )

    id: Mapped[IntPK]
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16))
    grade_min: Mapped[int] = mapped_column(Integer)
    grade_max: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    class_size: Mapped[int] = mapped_column(Integer)
    minutes_per_class_hour: Mapped[int] = mapped_column(Integer)
    price_per_class_hour_fen: Mapped[Money]
    venue_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("venues.id"))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class ClassSession(Base):
    """One scheduled class (a "session" in the API; named so as not to clash with the ORM's)."""

    __tablename__ = "sessions"
    __parent_readable__ = True
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint("status in ('scheduled', 'cancelled')", name="status"),
        Index("ix_sessions_starts_at", "starts_at"),
        Index("ix_sessions_institution_id_starts_at", "institution_id", "starts_at"),
        Index("ix_sessions_course_id_starts_at", "course_id", "starts_at"),
    )

    id: Mapped[IntPK]
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"))
    # Denormalised from the course: scoping and the compliance scans filter on it directly.
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    starts_at: Mapped[Timestamp]
    ends_at: Mapped[Timestamp]
    teacher_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("teachers.id"), index=True)
    venue_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("venues.id"))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


