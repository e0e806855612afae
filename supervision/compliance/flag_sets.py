"""Set-based flag maintenance for compliance runs.

A run's findings are loaded into a temporary table (COPY on PostgreSQL, executemany on SQLite)
and every change to the flags is then one statement over the whole set: open the new ones,
refresh the ones found again, reopen resolved or cleared ones, clear what is gone. A second
temporary table holds the flags one transition moves (locked on PostgreSQL), so the status
change, its history rows and its audit rows are written from the same set. Python never
loops over flags, and never holds more than a batch of findings in memory.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..access.scope import Actor
from ..db import is_postgres
from ..models import AuditLog, OutboxMessage
from ..models.base import UTCDateTime
from ..models.compliance import Flag, FlagEvent
from .flags import REOPEN_ON_DETECTION
from .model import Finding

BATCH = 20_000
FLAGS = typing_cast(Table, Flag.__table__)

_md = MetaData()
FINDINGS = Table(
    "tmp_compliance_findings", _md,
    Column("rule", String(40)),
    Column("subject_type", String(32)),
    Column("subject_id", String(64)),
    Column("severity", String(16)),
    Column("institution_id", BigInteger),
    Column("summary", String(500)),
    Column("evidence", Text),  # JSON text: COPY writes it as is
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
)
# Built after the load (cheaper than maintaining it row by row), hence not on the Table.
_FINDINGS_KEY = (f"CREATE INDEX ix_{FINDINGS.name}_key "
                 f"ON {FINDINGS.name} (rule, subject_type, subject_id)")
MOVES = Table(
    "tmp_flag_moves", _md,
    Column("flag_id", BigInteger, primary_key=True),
    Column("from_status", String(32)),
    Column("institution_id", BigInteger),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
)
_COLUMNS = ("rule", "subject_type", "subject_id", "severity", "institution_id", "summary",
            "evidence")


def begin(session: Session) -> None:
    """Create the run's temporary tables. On failure the caller's rollback removes them
    (DDL is transactional on both databases); on success `end` does."""
    conn = session.connection()
    FINDINGS.create(conn)
    MOVES.create(conn)


def end(session: Session) -> None:
    conn = session.connection()
    MOVES.drop(conn)
    FINDINGS.drop(conn)


def load(session: Session, findings: Iterable[Finding]) -> None:
    """Stream findings into the table a batch at a time, then index and analyse it.

    Batches, not one long COPY: the rulebook queries the same connection between rules.
    """
    batch: list[tuple[Any, ...]] = []
    for f in findings:
        batch.append((f.rule, f.subject_type, str(f.subject_id), f.severity, f.institution_id,
                       f.summary[:500], json.dumps(f.evidence, ensure_ascii=False, default=str)))
        if len(batch) >= BATCH:
            _write(session, batch)
            batch = []
    if batch:
        _write(session, batch)
    session.execute(text(_FINDINGS_KEY))
    if is_postgres(session):
        # A temporary table has no statistics until analysed: without them the planner
        # guesses and the joins below become nested loops.
        session.execute(text(f"ANALYZE {FINDINGS.name}"))


def _write(session: Session, rows: list[tuple[Any, ...]]) -> None:
    if not is_postgres(session):
        session.execute(insert(FINDINGS), [dict(zip(_COLUMNS, row, strict=True))
                                           for row in rows])
        return
    raw: Any = session.connection().connection.dbapi_connection  # psycopg's, for COPY
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {FINDINGS.name} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def counts_by_rule(session: Session) -> dict[str, int]:
    f = FINDINGS.c
    distinct = select(f.rule, f.subject_type, f.subject_id).distinct().subquery()
    rows = session.execute(select(distinct.c.rule, func.count()).group_by(distinct.c.rule))
    return {rule: count for rule, count in rows}


def found() -> ColumnElement[bool]:
    """The flag in hand was found again by this run."""
    f = FINDINGS.c
    return exists().where(f.rule == Flag.rule, f.subject_type == Flag.subject_type,
                          f.subject_id == Flag.subject_id)


def reopen(session: Session, actor: Actor, now: dt.datetime) -> int:
    """Resolved or cleared flags found again are open again (dismissed ones stay dismissed),
    and announced like new ones."""
    count = move(session, actor, and_(Flag.status.in_(REOPEN_ON_DETECTION), found()),
                 "redetected", "open", now)
    if count:
        moved = Flag.id.in_(select(MOVES.c.flag_id))
        _announce(session, moved, now, reopened=True)
    return count


def refresh(session: Session, now: dt.datetime) -> None:
    """Found again: last seen now, with this run's severity, wording and evidence."""
    f = FINDINGS.c
    session.execute(
        update(FLAGS)
        .where(Flag.rule == f.rule, Flag.subject_type == f.subject_type,
               Flag.subject_id == f.subject_id)
        .values(last_detected_at=now, severity=f.severity, summary=f.summary,
                evidence=_as_json(session, f.evidence)))


def open_new(session: Session, actor: Actor, now: dt.datetime) -> int:
    """Insert the flags never seen before, then their history, audit and outbox rows."""
    f = FINDINGS.c
    source = select(f.rule, f.severity, _const("open"), f.institution_id, f.subject_type,
                    f.subject_id, f.summary, _as_json(session, f.evidence), _ts(now), _ts(now))
    if not is_postgres(session):
        # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT, and its anti-join uses
        # the unique index. On PostgreSQL the same NOT EXISTS was planned as a sequential scan
        # of flags per finding (283 s for 64,000 new flags): the unique index behind
        # ON CONFLICT DO NOTHING already skips the flags that exist.
        source = source.where(~exists().where(
            Flag.rule == f.rule, Flag.subject_type == f.subject_type,
            Flag.subject_id == f.subject_id))
    dialect_insert = postgresql.insert if is_postgres(session) else sqlite.insert
    session.execute(dialect_insert(FLAGS).from_select(
        ["rule", "severity", "status", "institution_id", "subject_type", "subject_id",
         "summary", "evidence", "first_detected_at", "last_detected_at"], source)
        .on_conflict_do_nothing())
    # New in this run: first detected at this run's instant (runs are serialised), found now.
    new = and_(Flag.first_detected_at == _ts(now), found())
    count = session.scalar(select(func.count()).select_from(Flag).where(new)) or 0
    if not count:
        return 0
    session.execute(insert(FlagEvent).from_select(
        ["flag_id", "institution_id", "at", "actor", "action", "from_status", "to_status"],
        select(Flag.id, Flag.institution_id, _ts(now), _const(actor.label, 250),
               _const("detected"), literal(None, String), _const("open")).where(new)))
    session.execute(insert(AuditLog).from_select(
        ["at", "actor", "principal_id", "action", "entity", "entity_id", "changes",
         "institution_id"],
        select(_ts(now), _const(actor.label, 250), literal(actor.principal_id, BigInteger),
               _const("create"), _const("flags"), cast(Flag.id, String),
               _json(session, rule=Flag.rule, severity=Flag.severity, status=Flag.status,
                     subject_type=Flag.subject_type, subject_id=Flag.subject_id,
                     summary=Flag.summary),
               Flag.institution_id).where(new)))
    _announce(session, new, now, reopened=False)
    return int(count)


def move(session: Session, actor: Actor, condition: ColumnElement[bool], action: str,
         target: str, now: dt.datetime) -> int:
    """Move every flag matching `condition` to `target`, with a history row and an audit row
    each. The set is fixed (and locked on PostgreSQL) first, so all three writes agree."""
    session.execute(delete(MOVES))
    chosen = select(Flag.id, Flag.status, Flag.institution_id).where(condition)
    if is_postgres(session):
        chosen = chosen.with_for_update(of=Flag)
    session.execute(insert(MOVES).from_select(["flag_id", "from_status", "institution_id"],
                                              chosen))
    count = session.scalar(select(func.count()).select_from(MOVES)) or 0
    if not count:
        return 0
    m = MOVES.c
    session.execute(insert(FlagEvent).from_select(
        ["flag_id", "institution_id", "at", "actor", "action", "from_status", "to_status"],
        select(m.flag_id, m.institution_id, _ts(now), _const(actor.label, 250),
               _const(action), m.from_status, _const(target))))
    array = func.json_build_array if is_postgres(session) else func.json_array
    session.execute(insert(AuditLog).from_select(
        ["at", "actor", "principal_id", "action", "entity", "entity_id", "changes",
         "institution_id"],
        select(_ts(now), _const(actor.label, 250), literal(actor.principal_id, BigInteger),
               _const(f"flag.{action}"), _const("flags"), cast(m.flag_id, String),
               _json(session, status=array(m.from_status, _const(target))), m.institution_id)))
    session.execute(update(FLAGS).where(Flag.id.in_(select(m.flag_id))).values(status=target))
    return int(count)


def _announce(session: Session, which: ColumnElement[bool], now: dt.datetime, *,
              reopened: bool) -> None:
    """One "flag.opened" outbox row per flag, built by the database: the payload of
    flags.opened_payload, the catalogue's Chinese title included."""
    word = "true" if reopened else "false"
    boolean: ColumnElement[Any] = (literal_column(word) if is_postgres(session)
                                   else func.json(literal_column(f"'{word}'")))
    from .catalogue import CATALOGUE

    title = case({code: spec.title_zh for code, spec in CATALOGUE.items()}, value=Flag.rule,
                 else_=Flag.rule)
    payload = _json(session, flag_id=Flag.id, rule=Flag.rule, title=cast(title, String(200)),
                    severity=Flag.severity, status=Flag.status,
                    institution_id=Flag.institution_id,
                    subject_type=Flag.subject_type, subject_id=Flag.subject_id,
                    summary=Flag.summary, reopened=boolean)
    session.execute(insert(OutboxMessage).from_select(
        ["kind", "payload", "created_at", "attempts", "next_attempt_at"],
        select(_const("flag.opened"), payload, _ts(now), literal(0), _ts(now)).where(which)))


# -- SQL helpers ----------------------------------------------------------------------------

def _ts(value: dt.datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime)


def _const(value: str, length: int = 64) -> ColumnElement[Any]:
    # Typed, so PostgreSQL knows what the parameter of an INSERT ... SELECT is.
    return cast(literal(value), String(length))


def _as_json(session: Session, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The staged JSON text as the flags' JSON column (SQLite keeps JSON as text anyway)."""
    return cast(column, JSON) if is_postgres(session) else type_coerce(column, JSON)


def _json(session: Session, **pairs: Any) -> ColumnElement[Any]:
    """A JSON object built by the database (json_build_object / json_object)."""
    build = func.json_build_object if is_postgres(session) else func.json_object
    args: list[Any] = []
    for key, value in pairs.items():
        # Keys are our own identifiers, inlined: untyped parameters confuse PostgreSQL here.
        args += [literal_column(f"'{key}'"), value]
    return build(*args)
