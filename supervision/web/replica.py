"""The read replica (SUPERVISION_DATABASE_REPLICA_URL): which requests read there, and when
they must not after all.

Which: a GET or HEAD whose view is marked `@replica_reads` (one line above the view; the list
of them is `grep -rn replica_reads supervision`). Every other request, every POST, PUT, PATCH
and DELETE of those same views, and everything when no replica is configured, has its unit of
work on the primary.

Read-your-writes, across gunicorn workers that share no memory: before the request's unit of
work opens on the replica, the primary's flushed WAL position is read (`pg_current_wal_flush_lsn`,
one round trip in autocommit, no table), and the replica must have replayed at least that far
(`pg_last_wal_replay_lsn() >= lsn`, the first statement of its transaction). Every transaction
that committed before the request reached its first query, the caller's own included, is then
visible there. A replica behind that point is polled for a few milliseconds and otherwise left
for the primary. Cost per routed request: two extra round trips, one to each server.

Failure: a replica that cannot be reached, errs, or is no standby (promoted) is skipped for the
primary without an error to the caller, with a warning in the log (at most one a minute while it
stays broken), and not tried again for `failure_skip_seconds` (a circuit breaker, per process),
so that requests do not each pay a connect timeout. A replica that lags is skipped for
`lag_skip_seconds`, without a warning. `X-Served-By: replica|primary` on each answer that used
the database says which server answered (only when a replica is configured).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .. import db
from ..config import ConfigError, Settings
from ..unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MARK = "replica_reads"
READ_METHODS = frozenset({"GET", "HEAD"})
HEADER = "X-Served-By"
EXTENSION = "supervision.replica"


def replica_reads(view: F) -> F:
    """Declare that `view` writes nothing on GET, so its GET and HEAD may read from the replica.
    Put it above the other decorators; its other methods stay on the primary."""
    view.__dict__[MARK] = True
    return view


def opted_in(app: Flask, endpoint: str | None) -> bool:
    view = app.view_functions.get(endpoint) if endpoint else None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:  # a MethodView: its get answers GET and HEAD
        view = getattr(view_class, "get", None)
    return bool(getattr(view, MARK, False))


class ReplicaRouter:
    """One per app (so one per gunicorn worker): the replica's sessions, the probe of the
    primary's WAL position, and the breaker."""

    failure_skip_seconds = 5.0
    lag_skip_seconds = 1.0
    wait_seconds = 0.005  # how long a lagging replica may take to catch up before we give up
    poll_seconds = 0.001
    warn_every_seconds = 60.0

    def __init__(self, factory: sessionmaker[Session], probe: Engine) -> None:
        self.factory = factory
        self.probe = probe
        self._skip_until = 0.0
        self._lock = threading.Lock()
        self._broken = False
        self._warned_at: float | None = None

    def dispose(self) -> None:
        bind = self.factory.kw.get("bind")
        if isinstance(bind, Engine):
            bind.dispose()
        self.probe.dispose()

    def open(self, settings: Settings) -> UnitOfWork | None:
        """A unit of work on the replica that sees every transaction committed before now, or
        None: the caller then reads from the primary."""
        if time.monotonic() < self._skip_until:
            return None
        try:
            lsn = db.primary_wal_lsn(self.probe)
        except SQLAlchemyError:
            # Without the primary's position nobody can tell whether the replica holds the
            # caller's writes; the primary answers (or fails) as if there were no replica.
            log.debug("the primary's WAL position could not be read", exc_info=True)
            return None
        uow = UnitOfWork(self.factory, settings=settings)
        try:
            replayed = self._wait_for(uow.session, lsn)
        except SQLAlchemyError as exc:
            uow.close()
            cause = getattr(exc, "orig", None) or exc  # the driver's message, without the SQL
            lines = str(cause).strip().splitlines()
            self._failed(f"cannot be used ({type(exc).__name__}: {lines[0] if lines else ''})")
            return None
        if replayed is None:
            uow.close()
            self._failed("is not in recovery (promoted, or not a standby at all)")
            return None
        if not replayed:
            uow.close()
            self._skip_until = time.monotonic() + self.lag_skip_seconds
            log.debug("the read replica lags behind %s; reading from the primary", lsn)
            return None
        self._working()
        return uow

    def _wait_for(self, session: Session, lsn: str) -> bool | None:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            replayed = db.replica_has_replayed(session, lsn)
            if replayed is None or replayed or time.monotonic() >= deadline:
                return replayed
            time.sleep(self.poll_seconds)

    def _failed(self, reason: str) -> None:
        now = time.monotonic()
        self._skip_until = now + self.failure_skip_seconds
        with self._lock:
            self._broken = True
            if self._warned_at is not None and now - self._warned_at < self.warn_every_seconds:
                return
            self._warned_at = now
        log.warning("the read replica %s; reading from the primary, trying the replica again "
                    "in %.0f s", reason, self.failure_skip_seconds)

    def _working(self) -> None:
        if not self._broken:
            return
        with self._lock:
            if not self._broken:
                return
            self._broken = False
            self._warned_at = None
        log.info("the read replica answers again; routed reads go back to it")


def make_router(settings: Settings) -> ReplicaRouter:
    """The replica's engine and sessions, and a probe engine on the primary (no pre-ping: the
    probe's one statement fails as quickly as a ping would, and then the primary answers)."""
    for key, url in (("DATABASE_URL", settings.database_url),
                     ("DATABASE_REPLICA_URL", settings.database_replica_url)):
        if not url.startswith("postgresql"):
            raise ConfigError(f"{key} must be a PostgreSQL URL when DATABASE_REPLICA_URL is set"
                              " (a streaming replica needs a PostgreSQL primary)")
    # A replica that drops packets must cost a request one second, not a TCP timeout.
    replica = db.make_engine(settings.database_replica_url, pool_size=settings.db_pool_size,
                             connect_timeout=1, prepare_threshold=settings.db_prepare_threshold)
    probe = db.make_engine(settings.database_url, pool_size=settings.db_pool_size,
                           pre_ping=False)
    return ReplicaRouter(db.make_sessionmaker(replica), probe)


def init_app(app: Flask, router: ReplicaRouter) -> None:
    app.extensions[EXTENSION] = router

    @app.after_request
    def served_by(response: Response) -> Response:
        where = g.get("served_by")
        if where is not None:
            response.headers[HEADER] = where
        return response


def replica_work(settings: Settings) -> UnitOfWork | None:
    """The request's unit of work on the replica, when its view opted in, its method only
    reads and the replica is known to hold every write committed so far; else None."""
    if not has_request_context():
        return None
    router: ReplicaRouter | None = current_app.extensions.get(EXTENSION)
    if (router is None or request.method not in READ_METHODS
            or not opted_in(current_app, request.endpoint)):
        return None
    return router.open(settings)
