"""The few SQL pieces that differ between SQLite and PostgreSQL, with identical meaning.

Local time is Asia/Shanghai at a fixed +08:00 (China has no DST), so every local-time question
reduces to integer arithmetic on Unix seconds: `epoch_seconds` is the only dialect-specific
timestamp function, and the local day and time of day are derived from it the same way on both
databases (the offset comes from the configured time zone, not a literal).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import BigInteger, Boolean, ColumnElement, Integer, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SECONDS_PER_DAY = 86_400


class epoch_seconds(FunctionElement[int]):
    """Whole Unix seconds of a stored timestamp (UTC)."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # Stored as naive UTC text ("YYYY-MM-DD HH:MM:SS.ffffff"); both truncate the fraction.
    # unixepoch() (SQLite 3.38) parses about four times faster than strftime('%s').
    arg = compiler.process(element.clauses, **kw)
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"unixepoch({arg})"
    return f"CAST(strftime('%s', {arg}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_pg(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {arg})) AS BIGINT)"


class epoch_day(FunctionElement[int]):
    """Days since 1970-01-01 of a DATE column."""

    type = Integer()
    inherit_cache = True
    name = "epoch_day"


@compiles(epoch_day, "sqlite")
def _epoch_day_sqlite(element: epoch_day, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(julianday({arg}) - 2440587.5 AS INTEGER)"


@compiles(epoch_day, "postgresql")
def _epoch_day_pg(element: epoch_day, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} - DATE '1970-01-01')"


class all_digits(FunctionElement[bool]):
    """True when a non-empty string holds ASCII digits only."""

    type = Boolean()
    inherit_cache = True
    name = "all_digits"


@compiles(all_digits, "sqlite")
def _all_digits_sqlite(element: all_digits, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"({arg} <> '' AND {arg} NOT GLOB '*[^0-9]*')"


@compiles(all_digits, "postgresql")
def _all_digits_pg(element: all_digits, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} ~ '^[0-9]+$')"


class unindexed(FunctionElement[Any]):
    """A column the planner must not reach through an index: SQLite's documented unary-plus
    idiom (for a range that covers most of a table, where a scan is cheaper); no-op elsewhere.
    """

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


def local_day(column: Any, offset_seconds: int) -> ColumnElement[int]:
    """The local calendar day of a timestamp, as days since 1970-01-01."""
    return (epoch_seconds(column) + literal(offset_seconds)) // literal(SECONDS_PER_DAY)


def local_seconds(column: Any, offset_seconds: int) -> ColumnElement[int]:
    """Seconds since local midnight of a timestamp."""
    return (epoch_seconds(column) + literal(offset_seconds)) % literal(SECONDS_PER_DAY)
