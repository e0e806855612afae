"""Databases of their own, beside the test database, for tests whose code commits for real
(live servers, several threads or processes, migrations from empty)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from supervision import create_app
from supervision.access.scope import SYSTEM, Actor
from supervision.db import make_engine, transaction
from supervision.models import Base


@contextmanager
def fresh_database(database_url: str, tmp_path: Path | None = None, *,
                   schema: bool = False) -> Iterator[str]:
    """A new, empty database of the test database's kind (an SQLite file in `tmp_path`, or a
    PostgreSQL database on the same server, dropped afterwards); with `schema`, the models'
    tables are created in it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert tmp_path is not None, "an SQLite database needs a folder"
        fresh = f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:8]}.sqlite3'}"
        if schema:
            create_schema(fresh)
        yield fresh
        return
    name = f"{(url.database or 'sv')[:40]}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        fresh = url.set(database=name).render_as_string(hide_password=False)
        if schema:
            create_schema(fresh)
        yield fresh
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def create_schema(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


@contextmanager
def live_app(url: str, **overrides: Any) -> Iterator[Flask]:
    """An app on a database of its own (with the schema): its commits are real."""
    app = create_app({"DATABASE_URL": url, "TESTING": True, "DB_POOL_SIZE": 20, **overrides})
    Base.metadata.create_all(app.extensions["supervision.engine"])
    try:
        yield app
    finally:
        app.extensions["supervision.engine"].dispose()


def unit(app: Flask, actor: Actor = SYSTEM) -> Any:
    """A unit of work on a live app, as the edge opens one."""
    return transaction(app.extensions["supervision.sessionmaker"],
                       settings=app.config["SUPERVISION"], actor=actor)
