"""Trustee statements: import (idempotent), reconciliation against the ledger.

A statement is the trustee's word on one supervised account for one day. Each line is matched
to the ledger by trustee_txn_id in a few set-based statements (never a query per line):
100,000 lines reconcile in seconds. What does not match, and a closing balance below what the
ledger says must be in custody, raises the flags of RULES.md §5.

format.py: the statement as values, parsed and checked; matching.py: the reconciliation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...access.scope import Actor, scope_clause
from ...db import is_postgres
from ...errors import Conflict, Invalid
from ...models import Institution
from ...models.escrow import LedgerAccount
from ...models.trustee import Statement, StatementLine
from .format import (
    DIRECTIONS,
    LineIn,
    StatementIn,
    check_statement,
    lines_from_json,
    statement_from_json,
)
from .matching import FLAG_LIMIT, REPORT_LIMIT, reconcile

__all__ = ["DIRECTIONS", "FLAG_LIMIT", "REPORT_LIMIT", "LineIn", "StatementIn",
           "accounts_with_custody", "check_statement", "import_statement", "lines_from_json",
           "reconcile", "statement_from_json", "statements_query"]


def import_statement(session: Session, actor: Actor, statement: StatementIn, *,
                     source: str = "upload") -> tuple[Statement, bool]:
    """Store and reconcile a statement; (statement, created).

    The same statement again returns the first one (created False) and does nothing more;
    another body for the same account and date is a conflict.
    """
    check_statement(statement)
    institution = _institution_of(session, actor, statement.account_no)
    digest = statement.digest()
    existing = _existing(session, statement)
    if existing is not None:
        return _same_or_conflict(existing, digest), False
    row = Statement(account_no=statement.account_no, date=statement.date,
                    institution_id=institution.id,
                    opening_balance_fen=statement.opening_balance_fen,
                    closing_balance_fen=statement.closing_balance_fen,
                    line_count=len(statement.lines), body_hash=digest, source=source,
                    report={})
    try:
        # A concurrent import of the same day that commits first makes our INSERT fail here;
        # the savepoint lets us answer with its report instead of a bare conflict.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = _existing(session, statement)
        if existing is None:
            raise
        return _same_or_conflict(existing, digest), False
    _insert_lines(session, row, statement)
    row.report = reconcile(session, actor, row)
    session.flush()
    return row, True


def _institution_of(session: Session, actor: Actor, account_no: str) -> Institution:
    # Out of a district regulator's scope reads as unknown: existence is not revealed.
    institution = session.scalars(
        select(Institution).where(Institution.supervised_account_no == account_no,
                                  scope_clause(actor, Institution))
        .order_by(Institution.id)).first()
    if institution is None:
        raise Invalid.field("account_no", "not the supervised account of a known institution")
    return institution


def _existing(session: Session, statement: StatementIn) -> Statement | None:
    return session.scalars(select(Statement).where(
        Statement.account_no == statement.account_no,
        Statement.date == statement.date)).first()


def _same_or_conflict(existing: Statement, digest: str) -> Statement:
    if existing.body_hash != digest:
        raise Conflict(f"a different statement of {existing.account_no} for "
                       f"{existing.date.isoformat()} was imported already")
    return existing


def statements_query(actor: Actor, *, account_no: str | None = None,
                     day: dt.date | None = None) -> Select[Any]:
    """Imported statements the actor may see, newest first."""
    stmt = (select(Statement).where(scope_clause(actor, Statement))
            .order_by(Statement.date.desc(), Statement.id.desc()))
    if account_no is not None:
        stmt = stmt.where(Statement.account_no == account_no)
    if day is not None:
        stmt = stmt.where(Statement.date == day)
    return stmt


_LINE_COLUMNS = ("statement_id", "institution_id", "account_no", "line_no", "trustee_txn_id",
                 "direction", "amount_fen", "value_date", "reference")


def _insert_lines(session: Session, row: Statement, statement: StatementIn) -> None:
    rows = [(row.id, row.institution_id, row.account_no, i, ln.trustee_txn_id, ln.direction,
             ln.amount_fen, ln.value_date, ln.reference)
            for i, ln in enumerate(statement.lines, start=1)]
    if is_postgres(session):
        # COPY, on the session's own connection and transaction: ~10x an executemany.
        raw: Any = session.connection().connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {StatementLine.__tablename__} ({', '.join(_LINE_COLUMNS)}) FROM STDIN"
        ) as copy:
            for values in rows:
                copy.write_row(values)
        return
    for start in range(0, len(rows), 10_000):
        session.execute(insert(StatementLine), [dict(zip(_LINE_COLUMNS, values, strict=True))
                                                for values in rows[start:start + 10_000]])


# --- what the daily pull (workers/statements.py) fetches -------------------------------------

def accounts_with_custody(session: Session) -> list[str]:
    """Every supervised account whose custody ever moved: what the trustee must account for."""
    a = LedgerAccount
    return list(session.scalars(
        select(Institution.supervised_account_no).distinct()
        .join(a, and_(a.institution_id == Institution.id, a.kind == "custody"))
        .where(or_(a.debits_posted > 0, a.credits_posted > 0))
        .order_by(Institution.supervised_account_no)))
