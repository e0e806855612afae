"""The trustee down in each way, end to end through the API with real money (QUALITY.md
"Reliability and security"): connection refused, timeouts (before it acted, and after it acted
with the answer lost), 500s (before it acted, and after it acted).

tests/test_trustee_delivery.py proves the deliverer alone (statuses, keys, backoff, leases);
this adds what a release run and a refund approval do with money on the table: the instruction
stays pending with its money held, a second run instructs nothing new, the retry job (the
scheduler's escrow.instruction_retry) delivers it once the trustee is back, the trustee
executes each instruction once however many tries reached it, its callback (delivered twice)
books the payout once, and the books are right at every step.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.models.escrow import Instruction
from supervision.scheduler import SHANGHAI, run_job
from supervision.workers.trustee import deliver_pending

from ..support.escrow_world import World, world
from ..support.factories import Factory
from ..support.money_checks import money_problems
from ..support.servers import free_port
from ..support.trustee import SECRET, RecordingTrustee, paid_report, signed_post

TIMEOUT = 0.5
HANG = 1.5  # longer than TIMEOUT: the caller gives up first


@pytest.fixture
def trustee() -> RecordingTrustee:
    return RecordingTrustee(SECRET)


@pytest.fixture
def trustee_server(trustee: RecordingTrustee) -> Iterator[HTTPServer]:
    # A fixed port, so that stopping and starting it again is "down, then back".
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.expect_request("/instructions", method="POST").respond_with_handler(trustee.handler)
    server.start()
    yield server
    if server.is_running():
        server.stop()


@pytest.fixture
def settings_overrides(trustee_server: HTTPServer) -> dict[str, Any]:
    return {"TRUSTEE_API_URL": f"http://127.0.0.1:{trustee_server.port}",
            "TRUSTEE_TIMEOUT_SECONDS": TIMEOUT, "TRUSTEE_RETRIES": 1,
            "TRUSTEE_BACKOFF_SECONDS": 0.01}


def confirmed_money(client: FlaskClient, w: World) -> tuple[list[int], int]:
    """Two paid enrollments with 2 class hours each consumed and confirmed by the parent."""
    enrollments = [w.paid_enrollment(client, hours=10, student=name) for name in ("小明", "小红")]
    resp = w.attend(client, [e["id"] for e in enrollments], class_hours=2)
    assert resp.status_code == 201, resp.json
    for consumption in resp.json["consumptions"]:
        confirmed = client.post(f"/api/v1/consumptions/{consumption['id']}/confirm",
                                headers=w.parent.headers)
        assert confirmed.status_code == 200, confirmed.json
    return [e["id"] for e in enrollments], sum(c["amount_fen"] for c in resp.json["consumptions"])


def bucket_total(client: FlaskClient, w: World, ids: list[int], bucket: str) -> int:
    return sum(w.escrow(client, eid)[bucket] for eid in ids)


def release_run(client: FlaskClient, w: World) -> Any:
    resp = client.post("/api/v1/escrow/release-runs", headers=w.regulator.headers)
    assert resp.status_code == 201, resp.json
    return resp.json


def retry_job(app: Flask, minute: int) -> str:
    """The scheduler's retry job, for its own five-minute period."""
    moment = dt.datetime(2026, 12, 3, 10, minute, tzinfo=SHANGHAI)
    outcome = run_job(app, "escrow.instruction_retry", moment)
    assert outcome.ran
    return outcome.detail


def call_back(client: FlaskClient, trustee: RecordingTrustee) -> None:
    """The trustee reports each payment it made; its callbacks arrive twice."""
    for key in list(trustee.executed):
        event = paid_report(key)
        first, again = signed_post(client, event), signed_post(client, event)
        assert first.status_code == again.status_code == 200
        assert first.json["outcome"] == "executed" and again.json["outcome"] == "duplicate"


EXPECTED_TRIES = {  # the first try and one retry (TRUSTEE_RETRIES=1), or none when refused
    "refused": 0, "fail_before": 2, "hang_before": 2, "hang_after": 2, "fail_after": 2}


@pytest.mark.parametrize("down", list(EXPECTED_TRIES))
def test_a_release_run_while_the_trustee_is_down_is_delivered_later_and_paid_once(
        app: Flask, client: FlaskClient, db: Session, make: Factory,
        trustee: RecordingTrustee, trustee_server: HTTPServer, down: str) -> None:
    w = world(db, make)
    ids, confirmed = confirmed_money(client, w)
    if down == "refused":
        trustee_server.stop()
    trustee.mode, trustee.delay = down, HANG

    run = release_run(client, w)
    (brief,) = run["instructions"]
    assert brief["status"] == "pending" and brief["amount_fen"] == confirmed
    time.sleep(HANG + 0.3 if down.startswith("hang") else 0)  # let the trustee finish
    assert len(trustee.received) == EXPECTED_TRIES[down]
    assert set(trustee.received) <= {str(brief["id"])}
    # Nothing left custody, nothing is instructed twice, the books are right.
    assert bucket_total(client, w, ids, "confirmed_fen") == confirmed
    assert bucket_total(client, w, ids, "released_fen") == 0
    assert release_run(client, w)["instructions"] == []
    assert money_problems(db) == []

    if down == "refused":
        trustee_server.start()
    trustee.mode = "ok"
    assert retry_job(app, 5) == "1 sent"
    instruction = db.get(Instruction, brief["id"])
    assert instruction is not None
    db.refresh(instruction)
    assert instruction.status == "sent"
    assert list(trustee.executed) == [str(brief["id"])]  # executed once, whatever reached it
    assert trustee.executed_fen() == confirmed

    call_back(client, trustee)
    db.refresh(instruction)
    assert instruction.status == "executed"
    assert bucket_total(client, w, ids, "released_fen") == confirmed
    assert bucket_total(client, w, ids, "confirmed_fen") == 0
    # Nothing more to do for anyone: no new instruction, no new try.
    tries = len(trustee.received)
    assert release_run(client, w)["instructions"] == []
    assert retry_job(app, 10) == "0 sent"
    assert len(trustee.received) == tries
    assert trustee.promise_problems() == []
    assert money_problems(db) == []


def test_a_refund_approved_while_the_trustee_refuses_connections_is_paid_back_once(
        app: Flask, client: FlaskClient, db: Session, make: Factory,
        trustee: RecordingTrustee, trustee_server: HTTPServer) -> None:
    w = world(db, make)
    enrollment = w.paid_enrollment(client, hours=10)
    refund = client.post(f"/api/v1/enrollments/{enrollment['id']}/refunds",
                         headers=w.parent.headers, json={"reason": "搬家"}).json
    trustee_server.stop()

    approved = client.post(f"/api/v1/refunds/{refund['id']}/approve", headers=w.staff.headers)
    assert approved.status_code == 200 and approved.json["status"] == "instructed"
    instruction = db.scalars(select(Instruction).where(
        Instruction.refund_id == refund["id"])).one()
    assert instruction.status == "pending"
    status = w.escrow(client, enrollment["id"])
    assert status["refund_pending_fen"] == refund["amount_fen"] and status["refunded_fen"] == 0
    assert money_problems(db) == []

    trustee_server.start()
    assert deliver_pending(app.extensions["supervision.sessionmaker"],
                           app.config["SUPERVISION"]) == 1
    call_back(client, trustee)
    assert list(trustee.executed) == [str(instruction.id)]
    status = w.escrow(client, enrollment["id"])
    assert status["refunded_fen"] == refund["amount_fen"] and status["refund_pending_fen"] == 0
    assert client.get(f"/api/v1/refunds/{refund['id']}",
                      headers=w.parent.headers).json["status"] == "completed"
    assert trustee.promise_problems() == []
    assert money_problems(db) == []


def test_a_trustee_that_fails_the_instruction_gets_it_again_in_a_new_instruction_once(
        app: Flask, client: FlaskClient, db: Session, make: Factory,
        trustee: RecordingTrustee) -> None:
    """The other way a trustee can be "down" for us: it takes the instruction, then reports it
    failed. The money goes back to confirmed and the next run instructs it once more, under a
    new instruction id (a new key: the old one is spent)."""
    w = world(db, make)
    ids, confirmed = confirmed_money(client, w)
    trustee.mode = "accept"
    (first,) = release_run(client, w)["instructions"]
    failed = signed_post(client, {"event_id": "evt-fail-1", "type": "instruction.failed",
                                  "instruction_id": first["id"], "reason": "收款账户冻结"})
    assert failed.json["outcome"] == "failed"
    assert bucket_total(client, w, ids, "confirmed_fen") == confirmed
    assert money_problems(db) == []

    trustee.mode = "ok"
    (second,) = release_run(client, w)["instructions"]
    assert second["id"] != first["id"] and second["amount_fen"] == confirmed
    assert release_run(client, w)["instructions"] == []
    assert list(trustee.executed) == [str(second["id"])]
    call_back(client, trustee)
    assert bucket_total(client, w, ids, "released_fen") == confirmed
    assert trustee.executed_fen() == confirmed
    assert trustee.promise_problems() == []
    assert money_problems(db) == []
