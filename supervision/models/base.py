"""One Base, one MetaData with a naming convention, and the shared column types."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column

from .. import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type: we store naive UTC there and re-attach UTC on the way out, so
    comparisons in SQL are correct on both databases. Naive values are refused outright.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; pass an aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


BigIntPK = BigInteger().with_variant(Integer, "sqlite")

IntPK = Annotated[int, mapped_column(BigIntPK, primary_key=True, autoincrement=True)]
Money = Annotated[int, mapped_column(BigInteger)]
Timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime)]
Str50 = Annotated[str, mapped_column(String(50))]
Str200 = Annotated[str, mapped_column(String(200))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime}

    # Tables written at a high rate and immutable by design (ledger entries) opt out of the
    # per-row audit trail; they are their own audit.
    __audit__ = True
    # Columns never copied into the audit log.
    __audit_redact__: tuple[str, ...] = ()


def utcnow() -> dt.datetime:
    return clock.now()
