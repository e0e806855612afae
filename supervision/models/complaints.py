"""Complaints, tip-offs and reviews: the parents' and the public's front door (API.md §10-11)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IntPK, Timestamp, utcnow

COMPLAINT_CATEGORIES = ("refund", "fees", "teaching", "safety", "other")
COMPLAINT_STATUSES = ("submitted", "responded", "closed")
COMPLAINT_OUTCOMES = ("upheld", "rejected", "mediated")
TIP_STATUSES = ("submitted", "investigating", "closed")
TIP_OUTCOMES = ("confirmed", "unfounded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({', '.join(repr(v) for v in values)})"


class Complaint(Base):
    """投诉: a parent's complaint about an institution, answered by it, closed by a regulator."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint(_in("category", COMPLAINT_CATEGORIES), name="category"),
        CheckConstraint(_in("status", COMPLAINT_STATUSES), name="status"),
        CheckConstraint(f"outcome is null or {_in('outcome', COMPLAINT_OUTCOMES)}",
                        name="outcome"),
        # A closed complaint always says how it ended, and only a closed one does.
        CheckConstraint("(status = 'closed') = (outcome is not null and closed_at is not null)",
                        name="closed_has_outcome"),
        CheckConstraint("due_on >= respond_by", name="due_after_respond"),
        # The deadline scans (COMPLAINT_UNANSWERED / _OVERDUE) filter on status and a date.
        Index("ix_complaints_status_respond_by", "status", "respond_by"),
        Index("ix_complaints_institution_id_created_at", "institution_id", "created_at"),
    )

    id: Mapped[IntPK]
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    enrollment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                                      index=True)
    parent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("principals.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    respond_by: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("principals.id"))
    # Read-only: responses are added as rows of their own, never through the complaint.
    responses: Mapped[list[ComplaintResponse]] = relationship(
        viewonly=True, order_by="(ComplaintResponse.at, ComplaintResponse.id)")


class ComplaintResponse(Base):
    """The institution's answer to a complaint; several are allowed, none is edited."""

    __tablename__ = "complaint_responses"

    id: Mapped[IntPK]
    complaint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("complaints.id"),
                                              index=True)
    # Denormalised from the complaint so that scoping and the audit trail see the institution.
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    principal_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("principals.id"))
    text: Mapped[str] = mapped_column(String(2000))
    at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Tip(Base):
    """举报: a tip-off from anyone, possibly about a place no registry knows."""

    __tablename__ = "tips"
    # The informant's phone or e-mail is personal data a regulator needs, nobody else: keep it
    # out of the audit copies, which district regulators read wholesale.
    __audit_redact__ = ("contact",)
    __table_args__ = (
        CheckConstraint(_in("status", TIP_STATUSES), name="status"),
        CheckConstraint(f"outcome is null or {_in('outcome', TIP_OUTCOMES)}", name="outcome"),
        CheckConstraint("(status = 'closed') = (outcome is not null)", name="closed_has_outcome"),
        CheckConstraint("length(reference) >= 16", name="reference_length"),
        Index("ix_tips_district_code_status", "district_code", "status"),
    )

    id: Mapped[IntPK]
    # What the informant keeps to check progress: unguessable, so nobody reads another's tip.
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    district_code: Mapped[str] = mapped_column(String(6))
    address: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(String(2000))
    contact: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    institution_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                       index=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class Review(Base):
    """评价: one per enrollment, by its parent, once a class has been confirmed."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("stars >= 1 and stars <= 5", name="stars_range"),
        # The public profile shows an institution's newest reviews and their average.
        Index("ix_reviews_institution_id_created_at", "institution_id", "created_at"),
    )

    id: Mapped[IntPK]
    enrollment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                               unique=True)
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    parent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("principals.id"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
