"""Helpers for the trustee and statement tests: signed requests, money put through the ledger."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from supervision import create_app, outbound
from supervision.access.principals import create_principal
from supervision.access.scope import SYSTEM, Actor
from supervision.clock import SHANGHAI
from supervision.db import transaction
from supervision.escrow import (
    confirm_consumption,
    create_enrollment,
    create_release_run,
    record_attendance,
)
from supervision.escrow.trustee import TRUSTEE, handle_event
from supervision.models import Base, Institution
from supervision.models.escrow import Enrollment, Instruction, LedgerEntry

from .factories import Factory

SECRET = "dev-only-trustee-secret"  # config/defaults.toml
EVENTS = "/api/v1/trustee/events"


def signed_post(client: FlaskClient, payload: Any, *, secret: str = SECRET,
                timestamp: float | None = None, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = outbound.signed_headers(secret, body, now=timestamp)
    return client.post(EVENTS, data=body, headers=headers)


def deposit_event(reference: str, amount_fen: int, *, event_id: str | None = None,
                  txn: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or f"evt-{uuid.uuid4().hex}", "type": "deposit.received",
            "payment_reference": reference, "amount_fen": amount_fen,
            "trustee_txn_id": txn or f"TX{uuid.uuid4().hex[:16]}",
            "received_at": "2026-12-01T10:00:00+08:00"}


def executed_event(instruction_id: int, *, txn: str | None = None,
                   at: str = "2026-12-03T10:00:00+08:00") -> dict[str, Any]:
    return {"event_id": f"evt-{uuid.uuid4().hex}", "type": "instruction.executed",
            "instruction_id": instruction_id, "trustee_txn_id": txn or f"TX{uuid.uuid4().hex[:16]}",
            "executed_at": at}


@contextmanager
def acting(db: Session, actor: Actor) -> Iterator[Session]:
    """Who the audit trail names, as the edge would set it (services are handed their actor)."""
    previous = db.info.get("actor")
    db.info["actor"] = actor
    try:
        yield db
    finally:
        db.info["actor"] = previous


def parent_actor(db: Session, name: str = "家长") -> Actor:
    principal, _ = create_principal(db, role="parent", name=name)
    return Actor(principal_id=principal.id, role="parent", name=name)


def enrollment(db: Session, make: Factory, institution: Institution, *, hours: int = 10,
               price: int = 4000) -> Enrollment:
    course = make.course(institution, price_per_class_hour_fen=price)
    return create_enrollment(db, parent_actor(db), course_id=course.id, student_name="小明",
                             student_grade=8, class_hours=hours)


def pay(db: Session, enrollment: Enrollment, *, txn: str | None = None,
        received_at: str = "2026-12-01T10:00:00+08:00") -> str:
    """Deposit the enrollment's amount through the event service; returns the txn id."""
    event = deposit_event(enrollment.payment_reference, enrollment.amount_fen, txn=txn)
    event["received_at"] = dt.datetime.fromisoformat(received_at)
    with acting(db, TRUSTEE):
        handle_event(db, TRUSTEE, event, payload={**event, "received_at": received_at})
    return str(event["trustee_txn_id"])


def release_instruction(db: Session, make: Factory, institution: Institution,
                        enrollment: Enrollment, *, hours: int = 2) -> Instruction:
    """Consume `hours` of a paid enrollment, confirm them, and create the release run."""
    course_id = enrollment.course_id
    teacher = make.teacher(institution)
    from supervision.models import Course

    course = db.get(Course, course_id)
    assert course is not None
    starts = dt.datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI)
    cls = make.session_of(course, teacher, starts_at=starts, minutes=45 * hours)
    (consumption,) = record_attendance(db, SYSTEM, session_id=cls.id,
                                       enrollment_ids=[enrollment.id], class_hours=hours,
                                       as_of=starts + dt.timedelta(hours=3))
    confirm_consumption(db, SYSTEM, consumption.id, as_of=starts + dt.timedelta(hours=4))
    run = create_release_run(db, SYSTEM)
    return db.scalars(select(Instruction).where(Instruction.release_run_id == run.id,
                                                Instruction.institution_id == institution.id)
                      ).one()


def entries_with_txn(db: Session, txn: str) -> int:
    return int(db.scalar(select(func.count()).select_from(LedgerEntry)
                         .where(LedgerEntry.trustee_txn_id == txn)) or 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a live application on its own database (real commits, real threads) ----------------------

def fresh_database_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A new, empty database beside the test database; dropped afterwards."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / f'live-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"sv_b2_live_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def live_app(url: str, **overrides: Any) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": url, "TESTING": True, "DB_POOL_SIZE": 20, **overrides})
    Base.metadata.create_all(app.extensions["supervision.engine"])
    try:
        yield app
    finally:
        app.extensions["supervision.engine"].dispose()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` (any WSGI app) on a free local port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def unit(app: Flask, actor: Actor = SYSTEM) -> Any:
    return transaction(app.extensions["supervision.sessionmaker"],
                       settings=app.config["SUPERVISION"], actor=actor)


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())
