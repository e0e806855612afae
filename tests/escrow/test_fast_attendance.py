"""The lean posting path (escrow/fast_attendance.py) writes what the ORM path writes, and
refuses, writing nothing, whatever the ORM path refuses (PostgreSQL only: SQLite has only the
ORM path)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import SYSTEM
from supervision.escrow import apply_deposit, fast_attendance, ledger, request_refund
from supervision.models import AuditLog
from supervision.models.escrow import Consumption, Enrollment, LedgerAccount, LedgerEntry
from supervision.models.outbox import OutboxMessage

from ..support.databases import fresh_database, live_app, unit
from ..support.escrow_world import World
from ..support.factories import Factory

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("the lean path is PostgreSQL's; SQLite takes the ORM path only")


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each record_attendance was booked by the lean path (True) or fell through."""
    calls: list[bool] = []
    real = fast_attendance.record

    def spy(*args: Any, **kwargs: Any) -> Any:
        booked = real(*args, **kwargs)
        calls.append(booked is not None)
        return booked

    monkeypatch.setattr(fast_attendance, "record", spy)
    return calls


def what_was_written(db: Session, enrollment_ids: list[int], session_id: int
                     ) -> dict[str, Any]:
    """Everything an attendance call writes, with its own ids replaced by positions."""
    db.expire_all()
    consumptions = list(db.scalars(select(Consumption).where(
        Consumption.session_id == session_id).order_by(Consumption.id)))
    assert [c.enrollment_id for c in consumptions] == enrollment_ids
    ids = [c.id for c in consumptions]
    position = {cid: n for n, cid in enumerate(ids)}
    position_of_enrollment = {eid: n for n, eid in enumerate(enrollment_ids)}
    entries = list(db.scalars(select(LedgerEntry).where(
        LedgerEntry.ref_type == "consumption", LedgerEntry.ref_id.in_(ids))
        .order_by(LedgerEntry.id)))
    txns = [e.txn_id for e in entries]
    accounts = ledger.enrollment_accounts(db, enrollment_ids)
    (outbox,) = [m for m in db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "escrow.consumption")) if m.payload["session_id"] == session_id]
    trail = list(db.scalars(select(AuditLog).where(
        AuditLog.entity == "consumptions", AuditLog.entity_id.in_([str(i) for i in ids]))
        .order_by(AuditLog.entity_id)))
    return {
        "consumptions": [(c.class_hours, c.amount_fen, c.status, c.recorded_at,
                          c.auto_confirm_at, c.institution_id, c.parent_id, c.confirmed_at,
                          c.confirmed_by, c.disputed_at, c.dispute_reason)
                         for c in consumptions],
        # Debit then credit, one transfer (txn id) per consumption, in the request's order.
        "entries": [(position[e.ref_id or 0], e.direction, e.account_kind, e.amount_fen,
                     e.kind, position_of_enrollment[e.enrollment_id or 0], e.institution_id,
                     e.trustee_txn_id, txns.index(e.txn_id)) for e in entries],
        "txn_ids_look_like_uuid4_hex": all(len(t) == 32 and int(t, 16) >= 0 for t in txns),
        "counters": [[(k, a.debits_posted, a.credits_posted, a.debits_pending,
                       a.credits_pending) for k, a in sorted(accounts[eid].items())]
                     for eid in enrollment_ids],
        "consumed_hours": [db.get(Enrollment, eid).consumed_hours  # type: ignore[union-attr]
                           for eid in enrollment_ids],
        "outbox": _positions(outbox.payload, position, position_of_enrollment) | {
            "session_id": "the session"},
        "outbox_delivery": (outbox.attempts, outbox.delivered_at, outbox.last_error),
        "audit": [(row.actor, row.principal_id, row.action, row.institution_id,
                   row.entity_id == str(ids[n]),
                   _positions(row.changes, position, position_of_enrollment)
                   | {"session_id": "the session"})
                  for n, row in enumerate(sorted(trail, key=lambda r: int(r.entity_id)))],
    }


def _positions(value: Any, position: dict[int, int], of_enrollment: dict[int, int]) -> Any:
    """A JSON value with consumption and enrollment ids replaced by their positions."""
    if isinstance(value, list):
        return [_positions(v, position, of_enrollment) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key in ("id", "consumption_id"):
            out[key] = f"consumption #{position[v]}"
        elif key == "enrollment_id":
            out[key] = f"enrollment #{of_enrollment[v]}"
        else:
            out[key] = _positions(v, position, of_enrollment)
    return out


def _body(resp: Any, enrollment_ids: list[int]) -> list[dict[str, Any]]:
    rows = [dict(r) for r in resp.json["consumptions"]]
    for n, r in enumerate(rows):
        assert r.pop("enrollment_id") == enrollment_ids[n]
        r.pop("id"), r.pop("session_id")
    return rows


def test_the_lean_path_writes_what_the_orm_path_writes(
        client: FlaskClient, w: World, db: Session, monkeypatch: pytest.MonkeyPatch,
        lean_calls: list[bool]) -> None:
    orm_ids = [w.paid_enrollment(client, hours=10, student=f"甲{i}")["id"] for i in range(3)]
    lean_ids = [w.paid_enrollment(client, hours=10, student=f"乙{i}")["id"] for i in range(3)]
    orm_cls, lean_cls = w.past_session(minutes=90), w.past_session(minutes=90)
    # The same wall-clock moment for both, so the recorded and auto-confirm times agree too.
    moment = clock.local_now()
    monkeypatch.setattr("supervision.api.escrow.shanghai_now", lambda: moment)

    monkeypatch.setattr(fast_attendance, "ENABLED", False)
    orm = w.attend(client, orm_ids, cls=orm_cls)
    monkeypatch.setattr(fast_attendance, "ENABLED", True)
    lean = w.attend(client, lean_ids, cls=lean_cls)

    assert orm.status_code == lean.status_code == 201
    assert lean_calls == [False, True]
    assert _body(orm, orm_ids) == _body(lean, lean_ids)
    assert (what_was_written(db, orm_ids, orm_cls.id)
            == what_was_written(db, lean_ids, lean_cls.id))


def test_a_service_call_through_the_lean_path_hands_back_session_objects(
        client: FlaskClient, w: World, db: Session, lean_calls: list[bool]) -> None:
    e = w.paid_enrollment(client)
    session = w.as_(w.staff)
    (c,) = fast_attendance_call(session, w, e["id"])
    assert lean_calls == [True]
    assert session.get(Consumption, c.id) is c
    assert not session.new and not session.dirty  # nothing left to flush, no second audit row
    assert db.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity == "consumptions", AuditLog.entity_id == str(c.id))) == 1


def fast_attendance_call(session: Session, w: World, enrollment_id: int) -> list[Consumption]:
    from supervision.escrow import record_attendance

    return record_attendance(session, w.actor(w.staff), session_id=w.past_session().id,
                             enrollment_ids=[enrollment_id], class_hours=None,
                             as_of=clock.local_now())


@pytest.mark.parametrize("case", [
    "another institution's session", "cancelled session", "session not started",
    "too many class hours", "enrollment listed twice", "enrollment of another course",
    "unpaid enrollment", "paid after the session started", "already recorded",
    "more than the money held", "institution suspended"])
def test_every_refusal_falls_through_to_the_orm_path_and_writes_nothing(
        client: FlaskClient, w: World, db: Session, make: Factory, lean_calls: list[bool],
        case: str) -> None:
    from ..support.escrow_world import world

    ok = w.paid_enrollment(client, hours=10)
    cls = w.past_session(minutes=90)
    ids, headers, body = [ok["id"]], w.staff.headers, {}
    if case == "another institution's session":
        headers = world(db, make).staff.headers
    elif case == "cancelled session":
        cls.status = "cancelled"
    elif case == "session not started":
        cls.starts_at = clock.now() + dt.timedelta(hours=1)
        cls.ends_at = cls.starts_at + dt.timedelta(minutes=90)
    elif case == "too many class hours":
        body = {"class_hours": 3}
    elif case == "enrollment listed twice":
        ids = [ok["id"], ok["id"]]
    elif case == "enrollment of another course":
        ids.append(w.paid_enrollment(client, course=make.course(w.institution))["id"])
    elif case == "unpaid enrollment":
        ids.append(w.enroll(client, student="小红")["id"])
    elif case == "paid after the session started":
        late = w.enroll(client, student="小红")
        w.pay(late, received_at=cls.starts_at + dt.timedelta(minutes=1))
        ids.append(late["id"])
    elif case == "already recorded":
        assert w.attend(client, [ok["id"]], cls=cls).status_code == 201
        ids.append(w.paid_enrollment(client, student="小红")["id"])
    elif case == "more than the money held":
        ids.append(w.paid_enrollment(client, hours=1, student="小红")["id"])
    elif case == "institution suspended":
        w.institution.status = "suspended"
    db.flush()
    before = _counts(db)
    lean_calls.clear()
    resp = client.post(f"/api/v1/sessions/{cls.id}/attendance", headers=headers,
                       json={"enrollment_ids": ids, **body})
    assert resp.status_code in (404, 409, 422), resp.json
    assert lean_calls == [False]
    assert _counts(db) == before


def _counts(db: Session) -> tuple[Any, ...]:
    db.expire_all()
    return (*(db.scalar(select(func.count()).select_from(m))
              for m in (Consumption, LedgerEntry, AuditLog, OutboxMessage)),
            db.scalar(select(func.sum(LedgerAccount.debits_posted + LedgerAccount.credits_posted
                                      + LedgerAccount.debits_pending
                                      + LedgerAccount.credits_pending))),
            db.scalar(select(func.sum(Enrollment.consumed_hours))))


# --- under the lock --------------------------------------------------------------------------

@pytest.fixture
def live(database_url: str) -> Iterator[Flask]:
    with fresh_database(database_url) as url, live_app(url, TRUSTEE_API_URL="") as app:
        yield app


def test_money_drained_while_the_posting_waited_for_the_lock_is_refused_and_nothing_written(
        live: Flask, lean_calls: list[bool]) -> None:
    """The checks pass on the statement's snapshot, then the posting waits for the held
    account, which a refund request holds; the refund commits, taking everything: under the
    lock the posting finds the money gone, writes nothing, and is refused as INSUFFICIENT."""
    with unit(live) as db:
        make = Factory(db)
        inst = make.institution()
        course = make.course(inst, price_per_class_hour_fen=100)
        started = clock.local_now() - dt.timedelta(hours=3)
        cls = make.session_of(course, make.teacher(inst), starts_at=started, minutes=45)
        parent, parent_token = create_principal(db, role="parent", name="家长")
        _, staff_token = create_principal(db, role="institution", name="前台",
                                          institution_id=inst.id)
        session_id, parent_actor = cls.id, actor_for(parent)
    client = live.test_client()
    resp = client.post("/api/v1/enrollments", headers={"Authorization": f"Bearer {parent_token}"},
                       json={"course_id": course.id, "student_name": "小明",
                             "student_grade": 7, "class_hours": 10})
    enrolled: dict[str, Any] = resp.json or {}
    enrollment_id = enrolled["id"]
    with unit(live) as db:
        assert apply_deposit(db, SYSTEM, event_id=uuid.uuid4().hex,
                             payment_reference=enrolled["payment_reference"],
                             amount_fen=1000, trustee_txn_id=uuid.uuid4().hex,
                             received_at=started - dt.timedelta(days=1)) == "applied"

    answers: list[Any] = []
    refund = unit(live, parent_actor)
    db = refund.__enter__()
    try:
        request_refund(db, parent_actor, enrollment_id, reason="转学", amount_fen=None,
                       as_of=clock.local_now())  # holds all 1000 fen, uncommitted
        poster = threading.Thread(target=lambda: answers.append(client.post(
            f"/api/v1/sessions/{session_id}/attendance",
            headers={"Authorization": f"Bearer {staff_token}"},
            json={"enrollment_ids": [enrollment_id]})))
        poster.start()
        _wait_until_the_posting_waits_for_a_lock(live)
    finally:
        refund.__exit__(None, None, None)  # commits the refund request
    poster.join(timeout=30)

    (answer,) = answers
    assert answer.status_code == 422 and answer.json["rule"] == "INSUFFICIENT_ESCROW"
    assert lean_calls == [False]
    with unit(live) as db:
        assert db.scalar(select(func.count()).select_from(Consumption)) == 0
        assert db.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.kind == "consumption")) == 0
        assert db.scalar(select(Enrollment.consumed_hours).where(
            Enrollment.id == enrollment_id)) == 0
        held = ledger.enrollment_accounts(db, [enrollment_id])[enrollment_id]["held"]
        assert (held.balance, held.available) == (1000, 0)


def _wait_until_the_posting_waits_for_a_lock(app: Flask) -> None:
    deadline = time.monotonic() + 20
    with app.extensions["supervision.engine"].connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%WITH req AS%' AND datname = current_database()")).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the posting never waited for the held account's lock")

