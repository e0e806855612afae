"""The request's database session: opened on first use, committed once, closed at teardown."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker


def session_factory(app: Flask | None = None) -> sessionmaker[Session]:
    return (app or current_app).extensions["supervision.sessionmaker"]


def db_session() -> Session:
    session: Session | None = g.get("db_session")
    if session is None:
        session = session_factory()()
        session.info["settings"] = current_app.config["SUPERVISION"]
        g.db_session = session
    return session


def commit_request_session() -> None:
    session: Session | None = g.get("db_session")
    if session is not None:
        session.commit()


def close_request_session(_exc: Any = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back whatever was not committed
