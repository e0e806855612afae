"""Engines and sessions. The only module that creates engines; nothing happens at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # prepare_threshold=None keeps us usable behind PgBouncer's transaction pooling.
    return create_engine(parsed, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True, connect_args={"prepare_threshold": None})


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
    """One unit of work for a command or a job: commit once on success, roll back on any error."""
    session = factory()
    session.info.update(info)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
