"""Which database errors mean "run the whole transaction again", not "refused"."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# serialization_failure, deadlock_detected: PostgreSQL aborted us to let another transaction
# through; the same work a moment later succeeds. Never report them as insufficient funds.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    # SQLite past its busy timeout: the writer ahead of us held the lock too long.
    return "database is locked" in str(exc.orig)
