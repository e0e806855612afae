"""The replica routing without a replica (the normal suite, on PostgreSQL): a replica URL to a
closed port, or to a server that is no standby, leaves every read to the primary without an
error; only GETs of the views that opt in are ever routed."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from supervision import create_app
from supervision.config import ConfigError
from supervision.web.replica import EXTENSION, HEADER, ReplicaRouter, make_router

from ..support.escrow_world import World

LOGGER = "supervision.web.replica"


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()  # nothing listens there any more
    return port


@pytest.fixture
def settings_overrides(database_url: str) -> dict[str, Any]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a streaming replica needs a PostgreSQL primary "
                    "(SUPERVISION_TEST_DATABASE_URL=postgresql+psycopg://...)")
    url = make_url(database_url).set(host="127.0.0.1", port=closed_port())
    return {"DATABASE_REPLICA_URL": url.render_as_string(hide_password=False)}


class Counting:
    """The router's session factory, counting the sessions opened on the replica."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.calls = 0

    def __call__(self) -> Session:
        self.calls += 1
        return self.factory()


@pytest.fixture
def router(app: Flask) -> Iterator[ReplicaRouter]:
    router: ReplicaRouter = app.extensions[EXTENSION]
    factory = router.factory
    router.factory = Counting(factory)  # type: ignore[assignment]
    yield router
    router.factory = factory
    router.dispose()


def attempts(router: ReplicaRouter) -> int:
    return int(router.factory.calls)  # type: ignore[attr-defined]


def escrow(client: FlaskClient, w: World, enrollment_id: int) -> Any:
    return client.get(f"/api/v1/enrollments/{enrollment_id}/escrow", headers=w.parent.headers)


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING]


def test_a_replica_that_refuses_connections_leaves_reads_to_the_primary_with_one_warning(
        client: FlaskClient, w: World, router: ReplicaRouter,
        caplog: pytest.LogCaptureFixture) -> None:
    e = w.paid_enrollment(client)
    caplog.set_level(logging.INFO, logger=LOGGER)
    for _ in range(3):
        resp = escrow(client, w, e["id"])
        assert resp.status_code == 200 and resp.headers[HEADER] == "primary"
        assert resp.json["held_fen"] == e["amount_fen"]
    # The breaker: the first read tried the replica, the next two did not pay for it again.
    assert attempts(router) == 1
    (warning,) = warnings_in(caplog)
    assert "read replica cannot be used (OperationalError" in warning


def test_only_reads_of_views_that_opt_in_are_routed(
        client: FlaskClient, w: World, router: ReplicaRouter) -> None:
    e = w.paid_enrollment(client)
    assert attempts(router) == 0  # the POST that enrolled was not routed
    assert client.get("/api/v1/escrow/trial-balance",
                      headers=w.regulator.headers).status_code == 200
    assert attempts(router) == 0  # views that did not opt in
    assert client.head(f"/api/v1/enrollments/{e['id']}/escrow",
                       headers=w.parent.headers).headers[HEADER] == "primary"
    assert attempts(router) == 1  # HEAD is a read of the view that opted in


def test_a_server_that_is_no_standby_is_not_read_from(
        app: Flask, client: FlaskClient, w: World, database_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A replica URL that names the primary itself (or a promoted replica): its writes would
    not be the primary's, so it is skipped, as a broken replica is."""
    settings = dataclasses.replace(app.config["SUPERVISION"], database_replica_url=database_url)
    previous = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = itself = make_router(settings)
    try:
        e = w.paid_enrollment(client)
        caplog.set_level(logging.INFO, logger=LOGGER)
        resp = escrow(client, w, e["id"])
        assert resp.status_code == 200 and resp.headers[HEADER] == "primary"
        assert warnings_in(caplog) == [
            "the read replica is not in recovery (promoted, or not a standby at all); reading "
            "from the primary, trying the replica again in 5 s"]
    finally:
        app.extensions[EXTENSION] = previous
        itself.dispose()


def test_a_replica_of_an_sqlite_database_is_refused_at_start(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must be a PostgreSQL URL"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "TESTING": True,
                    "DATABASE_REPLICA_URL": "postgresql+psycopg://postgres@127.0.0.1:5433/x"})


def test_without_a_replica_nothing_is_routed_and_no_header_is_added(tmp_path: Any) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "TESTING": True})
    assert EXTENSION not in app.extensions
    resp = app.test_client().get("/readyz")  # reads the database
    assert resp.status_code == 200 and HEADER not in resp.headers
    app.extensions["supervision.engine"].dispose()
