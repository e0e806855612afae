"""Engines and sessions. The only module that creates engines; nothing happens at import time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .unit_of_work import unit_of_work


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False,
                connect_timeout: int | None = None, pre_ping: bool = True,
                prepare_threshold: int = 0) -> Engine:
    """`prepare_threshold` (PostgreSQL): after how many executions on one connection psycopg
    prepares a statement server-side, so that it is no longer planned on every call; 0: never
    (what PgBouncer before 1.21 in transaction pooling needs; see docs/operations.md).
    `connect_timeout` (seconds, PostgreSQL) bounds how long a server that does not answer
    can hold a thread: the read replica's engine sets it so a dead replica costs a second, not
    minutes. `pre_ping=False` saves a round trip per checkout where a failed statement is
    answered anyway (the replica routing's LSN probe)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {"prepare_threshold": prepare_threshold or None}
    if connect_timeout is not None:
        connect_args["connect_timeout"] = connect_timeout
    return create_engine(parsed, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=pre_ping, connect_args=connect_args)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and write transactions begun immediately.

    pysqlite's own transaction handling begins lazily (DEFERRED), so two writers can both read
    a balance and then one fails with "database is locked" on upgrade; BEGIN IMMEDIATE takes
    the write lock up front, which is the SQLite equivalent of our PostgreSQL row locks.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session], **info: Any) -> Iterator[Session]:
    """A unit of work for a caller that only needs its session (nothing after the commit)."""
    with unit_of_work(factory, **info) as uow:
        yield uow.session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def page_of(session: Session, stmt: Select[Any], *, offset: int,
            limit: int) -> tuple[int, list[Any]]:
    """The count of a SELECT's rows and one slice of them, in two statements (the API's pager
    and the console's). Past the end nothing is fetched: an absurd page number must not reach
    the database as an OFFSET that overflows a 64-bit integer."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if offset >= total:
        return total, []
    return total, list(session.scalars(stmt.limit(limit).offset(offset)))


# Every id is a PostgreSQL bigint: a larger integer names no row (and SQLite raises
# OverflowError binding one), so callers answer "not found" before asking the database.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def fits_bigint(value: int) -> bool:
    return BIGINT_MIN <= value <= BIGINT_MAX


def advisory_lock(session: Session, name: str, *, wait: bool = True) -> bool:
    """Serialise the holders of `name` until the end of the transaction (transaction-level, so
    PgBouncer-safe). With wait=False, do not queue: return False at once if another
    transaction holds it. SQLite needs none (BEGIN IMMEDIATE already serialises every writer),
    so there it is always granted."""
    if not is_postgres(session):
        return True
    # 63 bits of a digest of the name: stable across processes and releases, never negative.
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(key)))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(key))))


# --- the read replica (web/replica.py routes to it) ------------------------------------------

def primary_wal_lsn(probe: Engine) -> str:
    """The primary's WAL flushed so far, as text ('1/19002A8'). Every transaction whose commit
    returned before this call lies at or below it: with synchronous_commit on (PostgreSQL's
    default, which this program never changes) a commit returns only once its record is
    flushed. One round trip in autocommit (no BEGIN, no ROLLBACK) on a `pre_ping=False` engine:
    it reads no table, only shared memory."""
    with probe.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return str(conn.scalar(text("SELECT pg_current_wal_flush_lsn()")))


def replica_has_replayed(session: Session, lsn: str) -> bool | None:
    """Whether the standby behind `session` has replayed the primary's WAL up to `lsn`, so that
    every transaction committed before `lsn` is visible to this and later statements there
    (replay only moves forward); None when the server is no standby at all (promoted, or a
    URL to the primary by mistake)."""
    done = session.scalar(text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"),
                          {"lsn": lsn})
    return None if done is None else bool(done)
