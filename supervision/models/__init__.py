"""All tables, one Base, one MetaData. Import every model module here so Alembic sees them."""

from .auth import AuditLog, IdempotentResponse, Principal
from .base import Base
from .compliance import Flag, FlagEvent
from .outbox import OutboxMessage
from .registry import ClassSession, Course, Institution, RosterEntry, Teacher, Venue

__all__ = [
    "AuditLog",
    "Base",
    "ClassSession",
    "Course",
    "Flag",
    "FlagEvent",
    "IdempotentResponse",
    "Institution",
    "OutboxMessage",
    "Principal",
    "RosterEntry",
    "Teacher",
    "Venue",
]
