"""The request's unit of work: opened on first use, finished once at the edge, closed at teardown.

`SupervisionFlask.dispatch_request` finishes it: commit after the view returned (then the
after-commit work, before the response leaves), roll back when the view raised. No view, form
or service commits or rolls back on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from ..unit_of_work import AfterCommit, UnitOfWork, unit_of_work
from .replica import replica_work

log = logging.getLogger(__name__)

# Builds the view's answer again from a fresh transaction (see `answer_after_commit`).
Answer = Callable[[Session], Response]


def session_factory(app: Flask | None = None) -> sessionmaker[Session]:
    return (app or current_app).extensions["supervision.sessionmaker"]


def request_work() -> UnitOfWork:
    """The request's unit of work, opened on first use: on the read replica when the view opted
    in and the replica holds every write committed so far (web/replica.py), else the primary."""
    uow: UnitOfWork | None = g.get("unit_of_work")
    if uow is None:
        settings = current_app.config["SUPERVISION"]
        uow = replica_work(settings)
        g.served_by = "primary" if uow is None else "replica"
        if uow is None:
            uow = UnitOfWork(session_factory(), settings=settings)
        g.unit_of_work = uow
    return uow


def db_session() -> Session:
    return request_work().session


def after_commit(fn: AfterCommit) -> None:
    """Run `fn` once the request's transaction committed, before the response is sent."""
    request_work().after_commit(fn)


def answer_after_commit(build: Answer) -> None:
    """Answer with `build(session)`, run in a short transaction of its own once the request
    committed and its after-commit work ran: a release run answers with its instructions as
    the trustee delivery left them ("sent"). The view's own answer stands if this fails."""
    g.answer_after_commit = build


def finish_request(rv: Any, exc: BaseException | None = None) -> Any:
    """Commit (or, when the view raised, roll back) the request's transaction, once."""
    uow: UnitOfWork | None = g.get("unit_of_work")
    build: Answer | None = g.pop("answer_after_commit", None)
    if uow is None:
        return rv
    uow.finish(exc)
    if exc is not None or build is None:
        return rv
    try:
        with unit_of_work(session_factory(), **uow.session.info) as fresh:
            return build(fresh.session)
    except Exception:
        log.exception("the answer after the commit could not be built; the first one stands")
        return rv


def close_request_session(_exc: Any = None) -> None:
    uow: UnitOfWork | None = g.pop("unit_of_work", None)
    if uow is not None:
        uow.close()  # rolls back whatever was not committed
