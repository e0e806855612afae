"""Fixtures: one schema per run, each test in a transaction rolled back at its end.

SUPERVISION_TEST_DATABASE_URL selects the database (a fresh PostgreSQL database in CI's
second pass); without it the suite runs on an SQLite file in a temporary folder.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from supervision import create_app
from supervision.access import audit
from supervision.access.scope import SYSTEM
from supervision.db import make_engine
from supervision.models import Base
from supervision.web.security import SigninThrottle

from .support.escrow_world import World, world
from .support.factories import Factory

# CI's second pass moves the whole program's clock this many days ahead (time-machine patches
# datetime.now, date.today and time.time, so supervision.clock and any stray wall-clock read move
# alike): a test that only passes on the day it was written fails there.
CLOCK_SHIFT_ENV = "SUPERVISION_TEST_CLOCK_SHIFT_DAYS"
_TRAVELLER = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clock-shift-days", type=int,
                     default=int(os.environ.get(CLOCK_SHIFT_ENV) or 0),
                     help="run the suite with the clock moved this many days ahead")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "replica: needs a streaming replica "
                            "(SUPERVISION_TEST_REPLICA_URL from scripts/replica; tests/replica)")
    # Travel before collection, so that dates computed when test modules are imported move too.
    days = config.getoption("--clock-shift-days")
    if days:
        import time_machine

        traveller = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=days),
                                        tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    days = config.getoption("--clock-shift-days")
    return f"clock moved {days} days ahead: today is {dt.date.today()}" if days else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Other processes (gunicorn, a scheduler, a browser) keep the real clock: their tests
    # cannot run with a moved one.
    if not config.getoption("--clock-shift-days"):
        return
    skip = pytest.mark.skip(reason="runs other processes, which keep the real clock")
    for item in items:
        if item.get_closest_marker("other_processes"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SUPERVISION_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change configuration for its tests."""
    return {}


@pytest.fixture(scope="session")
def shared_app(database_url: str) -> Iterator[Flask]:
    """One app for every test that changes no setting: building an app (its OpenAPI document
    above all) costs about 0.3 s, which over the suite is minutes."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    app.config["PRISTINE_SETTINGS"] = copy.deepcopy(app.config["SUPERVISION"])
    yield app
    app.extensions["supervision.engine"].dispose()


@pytest.fixture
def app(request: pytest.FixtureRequest, database_url: str, connection: Connection,
        settings_overrides: dict[str, Any], shared_app: Flask) -> Iterator[Flask]:
    if settings_overrides or request.node.get_closest_marker("fresh_app"):
        app = create_app({"DATABASE_URL": database_url, "TESTING": True, **settings_overrides})
    else:
        app = shared_app
        # Settings are frozen, but a test may put changed ones (dataclasses.replace) in their
        # place, or touch the policy's nested dicts: the next test starts from the originals.
        app.config["SUPERVISION"] = copy.deepcopy(app.config["PRISTINE_SETTINGS"])
        # The sign-in throttle counts failures in this app's memory: tests that fail to sign in
        # on purpose must not, added up over a fast run, lock the next test's clerk out (429).
        app.extensions["supervision.signin_throttle"] = SigninThrottle(app.config["SUPERVISION"])

    # Every session the app opens joins the test's transaction through a savepoint, so the
    # app's own commits are real commits of a savepoint and everything is undone at the end.
    factory = sessionmaker(bind=connection, expire_on_commit=False,
                           join_transaction_mode="create_savepoint")
    audit.install(factory)
    app.extensions["supervision.sessionmaker"] = factory
    yield app
    if app is not shared_app:
        app.extensions["supervision.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session for arranging data and checking results directly, beside the requests."""
    session: Session = app.extensions["supervision.sessionmaker"]()
    session.info["settings"] = app.config["SUPERVISION"]
    session.info["actor"] = SYSTEM
    yield session
    session.close()


@pytest.fixture
def make(db: Session) -> Factory:
    return Factory(db)


@pytest.fixture
def w(db: Session, make: Factory) -> World:
    """One institution with a course, a teacher, a parent, its staff and a regulator
    (tests/support/escrow_world.py); a module that needs another world defines its own `w`."""
    return world(db, make)
