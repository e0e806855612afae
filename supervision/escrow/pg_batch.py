"""Batched ledger writes: one statement for any number of accounts or entries.

On PostgreSQL the rows travel as a few arrays through unnest(): the SQL text stays short and
constant (parsed and planned like any small statement) however many students a request
books, where VALUES lists or executemany would send one statement, or hundreds of bind
parameters, per row. SQLite (in-process, no round trips) takes executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    insert,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ..db import is_postgres
from ..models.base import Base
from ..models.escrow import LedgerAccount, LedgerEntry

COUNTERS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
ENTRY_COLUMNS = {"txn_id": "varchar", "account_id": "bigint", "account_kind": "varchar",
                 "direction": "varchar", "amount_fen": "bigint", "kind": "varchar",
                 "enrollment_id": "bigint", "institution_id": "bigint", "ref_type": "varchar",
                 "ref_id": "bigint", "trustee_txn_id": "varchar", "at": "timestamptz"}

_ADD_COUNTERS_PG = text(
    "UPDATE ledger_accounts AS a SET "
    + ", ".join(f"{c} = a.{c} + d.{c}" for c in COUNTERS)
    + " FROM unnest(CAST(:id AS bigint[]), "
    + ", ".join(f"CAST(:{c} AS bigint[])" for c in COUNTERS)
    + ") AS d(id, " + ", ".join(COUNTERS) + ") WHERE a.id = d.id")

_INSERT_ENTRIES_PG = text(
    f"INSERT INTO ledger_entries ({', '.join(ENTRY_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in ENTRY_COLUMNS.items()) + ")")


def table(model: type[Base]) -> Table:
    """The Core table of a model, for conditional UPDATEs that bypass the ORM's bookkeeping."""
    return cast(Table, model.__table__)


def member_of(session: Session, column: Any, items: Sequence[Any]) -> ColumnElement[bool]:
    """column IN items. On PostgreSQL as = ANY(one array parameter): a constant statement
    text, however many items (psycopg re-parses, uncached, any query of over 50 parameters)."""
    if not is_postgres(session):
        return column.in_(items)
    array = ARRAY(String) if isinstance(column.type, String) else ARRAY(BigInteger)
    return column == any_(bindparam(None, list(items), type_=array))


def add_counters(session: Session, rows: Sequence[tuple[int, int, int, int, int]]) -> None:
    """Add (account id, debits, credits, pending debits, pending credits) to each account."""
    if not rows:
        return
    if is_postgres(session):
        columns = list(zip(*rows, strict=True))
        session.execute(_ADD_COUNTERS_PG, {"id": list(columns[0]), **{
            c: list(columns[i + 1]) for i, c in enumerate(COUNTERS)}})
        return
    t = table(LedgerAccount)
    session.execute(
        update(t).where(t.c.id == bindparam("_id")).values(
            {c: t.c[c] + bindparam(f"_{c}") for c in COUNTERS}),
        [{"_id": r[0], **{f"_{c}": r[i + 1] for i, c in enumerate(COUNTERS)}} for r in rows])


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if is_postgres(session):
        session.execute(_INSERT_ENTRIES_PG, {c: [r[c] for r in rows] for c in ENTRY_COLUMNS})
        return
    session.execute(insert(LedgerEntry), list(rows))
