"""Outbox delivery: signed, at least once, retried with backoff, never lost, never doubled."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from supervision import create_app, notify, outbound
from supervision.db import transaction
from supervision.models import Base, OutboxMessage
from supervision.workers import outbox

from ..support.databases import fresh_database
from ..support.servers import free_port
from ..support.settings import changed

SECRET = "notify-test-secret"
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings_overrides(httpserver: HTTPServer) -> dict[str, Any]:
    return {"NOTIFY_URL": httpserver.url_for("/notify"), "NOTIFY_SECRET": SECRET,
            "NOTIFY_RETRY_BASE_SECONDS": 30, "NOTIFY_RETRY_MAX_SECONDS": 600}


def deliver(app: Flask, now: dt.datetime = T0, **settings: Any) -> int:
    return outbox.deliver_outbox(app.extensions["supervision.sessionmaker"],
                                 changed(app.config["SUPERVISION"], **settings), now=now)



def messages(db: Session, n: int) -> list[OutboxMessage]:
    rows = [notify.enqueue(db, "flag.opened", {"flag_id": i, "title": "周末开展学科类培训"})
            for i in range(n)]
    for row in rows:
        row.next_attempt_at = T0 - dt.timedelta(seconds=1)
    db.flush()
    return rows


def state(db: Session) -> list[tuple[int, bool, str | None, dt.datetime]]:
    db.expire_all()
    return [(m.attempts, m.delivered_at is not None, m.last_error, m.next_attempt_at)
            for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_each_due_message_is_posted_once_signed_and_marked(
        app: Flask, db: Session, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/notify", method="POST").respond_with_data("ok", status=202)
    rows = messages(db, 3)
    assert deliver(app) == 3
    assert deliver(app) == 0
    assert len(httpserver.log) == 3
    for (request, _), row in zip(httpserver.log, rows, strict=True):
        body = request.get_data()
        assert outbound.verify(SECRET, request.headers["X-Supervision-Timestamp"],
                               request.headers["X-Supervision-Signature"], body,
                               window_seconds=300)
        sent = json.loads(body)
        assert sent["id"] == row.id and sent["kind"] == "flag.opened"
        assert sent["payload"]["title"] == "周末开展学科类培训"
        assert request.headers["Idempotency-Key"] == f"outbox-{row.id}"
    assert [(a, d) for a, d, _, _ in state(db)] == [(1, True)] * 3


def test_a_forged_signature_would_not_verify(app: Flask, db: Session,
                                             httpserver: HTTPServer) -> None:
    httpserver.expect_request("/notify").respond_with_data("ok")
    messages(db, 1)
    deliver(app)
    request, _ = httpserver.log[0]
    assert not outbound.verify("another-secret", request.headers["X-Supervision-Timestamp"],
                               request.headers["X-Supervision-Signature"], request.get_data(),
                               window_seconds=300)


def test_messages_not_yet_due_wait(app: Flask, db: Session, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/notify").respond_with_data("ok")
    [row] = messages(db, 1)
    row.next_attempt_at = T0 + dt.timedelta(minutes=5)
    db.flush()
    assert deliver(app) == 0
    assert deliver(app, T0 + dt.timedelta(minutes=5)) == 1


def test_without_a_notify_url_nothing_is_sent_and_nothing_is_dropped(
        app: Flask, db: Session, httpserver: HTTPServer) -> None:
    messages(db, 2)
    assert deliver(app, NOTIFY_URL="") == 0
    assert [(a, d) for a, d, _, _ in state(db)] == [(0, False)] * 2
    assert httpserver.log == []


def test_a_receiver_that_is_down_gets_everything_once_it_is_up(app: Flask, db: Session) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/notify"
    messages(db, 3)
    assert deliver(app, NOTIFY_URL=url) == 0
    rows = state(db)
    retry_at = T0 + dt.timedelta(seconds=30)
    assert rows[0][0:2] == (1, False) and (rows[0][2] or "").startswith("unreachable")
    # The first failure parks the whole batch instead of knocking once per message.
    assert [r[3] for r in rows] == [retry_at] * 3 and [r[0] for r in rows] == [1, 0, 0]
    assert deliver(app, T0 + dt.timedelta(seconds=10), NOTIFY_URL=url) == 0
    assert deliver(app, retry_at, NOTIFY_URL=url) == 0  # still down: backs off further
    assert state(db)[0][0] == 2 and state(db)[0][3] == retry_at + dt.timedelta(seconds=60)

    server = HTTPServer(host="127.0.0.1", port=port)
    server.expect_request("/notify").respond_with_data("ok")
    server.start()
    try:
        assert deliver(app, retry_at + dt.timedelta(seconds=60), NOTIFY_URL=url) == 3
        assert sorted(json.loads(r.get_data())["id"] for r, _ in server.log) == sorted(
            m.id for m in db.scalars(select(OutboxMessage)))
    finally:
        server.clear()
        server.stop()
    assert all(delivered for _, delivered, _, _ in state(db))


def test_a_receiver_answering_500_is_retried_with_growing_backoff(
        app: Flask, db: Session, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/notify").respond_with_data("down", status=500)
    messages(db, 1)
    assert deliver(app) == 0
    assert state(db)[0][2] == "HTTP 500"
    assert deliver(app, T0 + dt.timedelta(seconds=30)) == 0
    assert state(db)[0][3] == T0 + dt.timedelta(seconds=90)  # 30 s later + 60 s
    httpserver.clear()
    httpserver.expect_request("/notify").respond_with_data("ok")
    assert deliver(app, T0 + dt.timedelta(seconds=89)) == 0
    assert deliver(app, T0 + dt.timedelta(seconds=90)) == 1
    attempts, delivered, error, _ = state(db)[0]
    assert (attempts, delivered, error) == (3, True, None)


def test_backoff_is_capped(app: Flask) -> None:
    settings = changed(app.config["SUPERVISION"], NOTIFY_RETRY_BASE_SECONDS=30,
                       NOTIFY_RETRY_MAX_SECONDS=600)
    assert [outbox.retry_delay(settings, n).total_seconds() for n in (1, 2, 3, 5, 10)] == [
        30, 60, 120, 480, 600]


def test_one_refused_message_does_not_hold_back_the_others(
        app: Flask, db: Session, httpserver: HTTPServer) -> None:
    def handler(request: Request) -> Response:
        bad = json.loads(request.get_data())["payload"]["flag_id"] == 1
        return Response("no", status=400) if bad else Response("ok")

    httpserver.expect_request("/notify").respond_with_handler(handler)
    messages(db, 3)
    assert deliver(app) == 2
    assert [d for _, d, _, _ in state(db)] == [True, False, True]
    assert state(db)[1][2] == "HTTP 400"


@pytest.mark.postgres
def test_four_deliverers_at_once_send_each_message_exactly_once(httpserver: HTTPServer) -> None:
    base = os.environ.get("SUPERVISION_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("a concurrency property: PostgreSQL only")
    httpserver.expect_request("/notify").respond_with_data("ok")
    with fresh_database(base) as url:
        apps = [create_app({"DATABASE_URL": url, "NOTIFY_URL": httpserver.url_for("/notify"),
                            "NOTIFY_SECRET": SECRET}) for _ in range(4)]
        Base.metadata.create_all(apps[0].extensions["supervision.engine"])
        factory = apps[0].extensions["supervision.sessionmaker"]
        with transaction(factory, settings=apps[0].config["SUPERVISION"]) as session:
            for i in range(60):
                notify.enqueue(session, "test", {"n": i})
        delivered: list[int] = []
        barrier = threading.Barrier(len(apps))

        def work(app: Flask) -> None:
            barrier.wait(timeout=10)
            delivered.append(outbox.deliver_outbox(app.extensions["supervision.sessionmaker"],
                                                   app.config["SUPERVISION"], batch_size=5))

        threads = [threading.Thread(target=work, args=(a,)) for a in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        with transaction(factory, settings=apps[0].config["SUPERVISION"]) as session:
            left = session.scalar(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.delivered_at.is_(None)))
        for app in apps:
            app.extensions["supervision.engine"].dispose()
    sent = [json.loads(r.get_data())["payload"]["n"] for r, _ in httpserver.log]
    assert sorted(sent) == list(range(60))
    assert sum(delivered) == 60 and left == 0
