"""A real streaming replica for the tests marked `replica`: `scripts/replica start` prints its
URL, which goes into SUPERVISION_TEST_REPLICA_URL beside a PostgreSQL
SUPERVISION_TEST_DATABASE_URL (`.ci/run` does both). Each module gets a fresh database on the
primary, which the replica receives by replication (CREATE DATABASE is in the WAL too)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from supervision.db import make_engine
from supervision.web.replica import EXTENSION, ReplicaRouter

from ..support.databases import fresh_database, live_app

REPLICA_ENV = "SUPERVISION_TEST_REPLICA_URL"


@pytest.fixture(scope="session")
def replica_server_url() -> str:
    url = os.environ.get(REPLICA_ENV, "")
    primary = os.environ.get("SUPERVISION_TEST_DATABASE_URL", "")
    if not url or not primary.startswith("postgresql"):
        pytest.skip("needs a streaming replica: SUPERVISION_TEST_REPLICA_URL (printed by "
                    "scripts/replica start) beside a PostgreSQL SUPERVISION_TEST_DATABASE_URL")
    return url


@dataclass
class Pair:
    primary_url: str
    replica_url: str  # the same database, on the replica


@pytest.fixture(scope="module")
def pair(replica_server_url: str, database_url: str) -> Iterator[Pair]:
    with fresh_database(database_url, schema=True) as primary_url:
        name = make_url(primary_url).database
        replica_url = (make_url(replica_server_url).set(database=name)
                       .render_as_string(hide_password=False))
        wait_until_replicated(replica_url)
        yield Pair(primary_url, replica_url)


def wait_until_replicated(url: str, timeout: float = 60.0) -> None:
    """Until the replica has replayed the new database and its tables."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with suppress(OperationalError), engine.connect() as conn:
                if conn.scalar(text("SELECT to_regclass('public.enrollments') IS NOT NULL")):
                    return
            assert time.monotonic() < deadline, f"the replica never received {url}"
            time.sleep(0.1)
    finally:
        engine.dispose()


@pytest.fixture
def replica_app(pair: Pair) -> Iterator[Flask]:
    """An app on the pair: its commits are real, and its routed reads go to the replica."""
    with live_app(pair.primary_url, DATABASE_REPLICA_URL=pair.replica_url) as app:
        tuned(router_of(app))
        try:
            yield app
        finally:
            router_of(app).dispose()


def router_of(app: Flask) -> ReplicaRouter:
    router: ReplicaRouter = app.extensions[EXTENSION]
    return router


def tuned(router: ReplicaRouter) -> ReplicaRouter:
    # The machine running the tests is shared and busy: the replica may need longer than the
    # production 5 ms to replay what other test runs write on the same primary. A lagging
    # replica is not skipped for a while, so that each test sees the routing of each request.
    router.wait_seconds = 0.5
    router.lag_skip_seconds = 0.0
    return router


class Gate:
    """A TCP forwarder in front of the replica that a test can shut ("the replica went away":
    live connections cut, new ones refused) and open again on the same port."""

    def __init__(self, upstream_url: str) -> None:
        url = make_url(upstream_url)
        self.upstream = (url.host or "127.0.0.1", url.port or 5432)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = url.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False)
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
