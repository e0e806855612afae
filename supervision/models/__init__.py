"""All tables, one Base, one MetaData. Import every model module here so Alembic sees them."""

from .auth import AuditLog, ConsoleSession, IdempotentResponse, Principal
from .base import Base
from .complaints import Complaint, ComplaintResponse, Review, Tip
from .compliance import CalendarOverride, ComplianceRun, Flag, FlagEvent, JobClaim, SchoolYear
from .escrow import Enrollment, Instruction, LedgerEntry  # noqa: F401  (registers escrow tables
from .outbox import OutboxMessage
from .registry import ClassSession, Course, Institution, RosterEntry, Teacher, Venue
from .risk import RiskRun, RiskScore
from .trustee import Statement, TrusteeEvent  # noqa: F401  (registers trustee tables

__all__ = [
    "AuditLog",
    "Base",
    "CalendarOverride",
    "ClassSession",
    "Complaint",
    "ComplaintResponse",
    "ComplianceRun",
    "ConsoleSession",
    "Course",
    "Flag",
    "FlagEvent",
    "IdempotentResponse",
    "Institution",
    "JobClaim",
    "OutboxMessage",
    "Principal",
    "Review",
    "RiskRun",
    "RiskScore",
    "RosterEntry",
    "SchoolYear",
    "Teacher",
    "Tip",
    "Venue",
]
