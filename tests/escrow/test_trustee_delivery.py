"""Instructions out to the trustee (API.md §6), against a real local HTTP server: accepted,
refused, timed out, failing with 500s, slow; retried with the same Idempotency-Key."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from supervision import outbound
from supervision.config import Settings
from supervision.models import Institution
from supervision.models.base import utcnow
from supervision.models.escrow import Instruction
from supervision.models.trustee import InstructionDelivery
from supervision.workers import trustee

from ..support.factories import Factory
from ..support.servers import free_port
from ..support.settings import changed
from ..support.trustee import SECRET


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    # Threaded: a handler that sleeps must not hold back the client's next try.
    srv = HTTPServer(host="127.0.0.1", threaded=True)
    srv.start()
    yield srv
    srv.clear()
    if srv.is_running():
        srv.stop()


def settings(app: Flask, url: str, **kw: Any) -> Settings:
    return changed(app.config["SUPERVISION"], **{
        "TRUSTEE_API_URL": url, "TRUSTEE_TIMEOUT_SECONDS": 2.0, "TRUSTEE_RETRIES": 2,
        "TRUSTEE_BACKOFF_SECONDS": 0.05, **kw})


def factory(app: Flask) -> Any:
    return app.extensions["supervision.sessionmaker"]


def instruction(db: Session, inst: Institution, amount: int = 8000) -> Instruction:
    row = Instruction(kind="release", institution_id=inst.id, amount_fen=amount,
                      account_no=inst.supervised_account_no, payee=inst.name,
                      memo="课消拨付 第1批", status="pending", attempts=0)
    db.add(row)
    db.commit()
    return row


def reload(db: Session, row: Instruction) -> tuple[Instruction, InstructionDelivery | None]:
    db.expire_all()
    fresh = db.get(Instruction, row.id)
    assert fresh is not None
    return fresh, db.get(InstructionDelivery, row.id)


def requests_seen(server: HTTPServer) -> list[Request]:
    return [req for req, _ in server.log]


def test_an_accepted_instruction_is_sent_with_the_right_body_key_and_signature(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    inst = make.institution()
    row = instruction(db, inst)
    server.expect_request("/instructions", method="POST").respond_with_json(
        {"status": "accepted"}, status=202)
    trustee.deliver_instructions(factory(app), settings(app, server.url_for("/")), [row.id])
    fresh, delivery = reload(db, row)
    assert fresh.status == "sent" and fresh.sent_at is not None and fresh.attempts == 1
    assert delivery is not None and delivery.claimed_until is None
    (req,) = requests_seen(server)
    assert req.headers["Idempotency-Key"] == str(row.id)
    assert json.loads(req.get_data()) == {
        "instruction_id": row.id, "kind": "release", "amount_fen": 8000,
        "account_no": inst.supervised_account_no, "payee": inst.name, "memo": "课消拨付 第1批"}
    assert outbound.verify(SECRET, req.headers["X-Supervision-Timestamp"],
                           req.headers["X-Supervision-Signature"], req.get_data(),
                           window_seconds=300)
    assert abs(int(req.headers["X-Supervision-Timestamp"]) - time.time()) < 10


@pytest.mark.parametrize("status", [200, 409])
def test_already_have_it_from_the_trustee_counts_as_sent(
        app: Flask, db: Session, make: Factory, server: HTTPServer, status: int) -> None:
    row = instruction(db, make.institution())
    server.expect_request("/instructions").respond_with_json({}, status=status)
    trustee.deliver_instructions(factory(app), settings(app, server.url_for("/")), [row.id])
    assert reload(db, row)[0].status == "sent"


def test_a_refused_connection_leaves_it_pending_and_the_retry_job_sends_it_later(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    row = instruction(db, make.institution())
    nobody = f"http://127.0.0.1:{free_port()}"
    trustee.deliver_instructions(factory(app), settings(app, nobody), [row.id])
    fresh, delivery = reload(db, row)
    assert fresh.status == "pending" and fresh.attempts == 1
    assert delivery is not None and "Connection" in (delivery.last_error or "")
    assert delivery.claimed_until is None  # free for the retry job at once

    server.expect_request("/instructions").respond_with_json({}, status=202)
    assert trustee.deliver_pending(factory(app), settings(app, server.url_for("/"))) == 1
    fresh, delivery = reload(db, row)
    assert fresh.status == "sent" and fresh.attempts == 2
    assert delivery is not None and delivery.last_error is None


def test_a_timeout_leaves_it_pending_and_every_try_carries_the_same_key(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    row = instruction(db, make.institution())
    slow = {"seconds": 1.5}

    def handler(request: Request) -> Response:
        time.sleep(slow["seconds"])
        return Response("{}", status=202, content_type="application/json")

    server.expect_request("/instructions").respond_with_handler(handler)
    cfg = settings(app, server.url_for("/"), TRUSTEE_TIMEOUT_SECONDS=0.4)
    started = time.monotonic()
    trustee.deliver_instructions(factory(app), cfg, [row.id])
    assert time.monotonic() - started < 5  # bounded: 3 tries of 0.4 s plus backoff
    fresh, delivery = reload(db, row)
    assert fresh.status == "pending"
    assert delivery is not None and "timed out" in (delivery.last_error or "").lower()

    slow["seconds"] = 0.0
    assert trustee.deliver_pending(factory(app), cfg) == 1
    assert reload(db, row)[0].status == "sent"
    time.sleep(1.6)  # let the timed-out handlers finish, so the log is complete
    keys = {req.headers["Idempotency-Key"] for req in requests_seen(server)}
    assert keys == {str(row.id)}
    assert len(requests_seen(server)) == 4  # 3 timed-out tries, then the one that worked


def test_a_trustee_answering_500_is_retried_then_left_pending(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    row = instruction(db, make.institution())
    server.expect_request("/instructions").respond_with_json({"error": "boom"}, status=500)
    trustee.deliver_instructions(factory(app), settings(app, server.url_for("/")), [row.id])
    fresh, delivery = reload(db, row)
    assert fresh.status == "pending" and fresh.attempts == 1
    assert delivery is not None and delivery.last_status_code == 500
    assert len(requests_seen(server)) == 3  # the first try and two retries with backoff
    assert {r.headers["Idempotency-Key"] for r in requests_seen(server)} == {str(row.id)}


def test_a_slow_trustee_within_the_timeout_is_one_request(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    row = instruction(db, make.institution())

    def handler(request: Request) -> Response:
        time.sleep(0.5)
        return Response("{}", status=202, content_type="application/json")

    server.expect_request("/instructions").respond_with_handler(handler)
    trustee.deliver_instructions(factory(app), settings(app, server.url_for("/")), [row.id])
    assert reload(db, row)[0].status == "sent"
    assert len(requests_seen(server)) == 1


def test_when_the_trustee_is_down_the_rest_of_a_batch_waits_for_the_retry_job(
        app: Flask, db: Session, make: Factory) -> None:
    inst = make.institution()
    first, second = instruction(db, inst), instruction(db, inst)
    nobody = f"http://127.0.0.1:{free_port()}"
    trustee.deliver_instructions(factory(app), settings(app, nobody), [first.id, second.id])
    assert reload(db, first)[0].attempts == 1
    fresh, delivery = reload(db, second)
    assert fresh.attempts == 0 and fresh.status == "pending" and delivery is None


def test_a_refusal_by_the_trustee_is_recorded_and_the_batch_goes_on(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    inst = make.institution()
    first, second = instruction(db, inst), instruction(db, inst)
    server.expect_request("/instructions", headers={"Idempotency-Key": str(first.id)}
                          ).respond_with_json({"error": "bad signature"}, status=401)
    server.expect_request("/instructions").respond_with_json({}, status=202)
    trustee.deliver_instructions(factory(app), settings(app, server.url_for("/")),
                                 [first.id, second.id])
    fresh, delivery = reload(db, first)
    assert fresh.status == "pending" and delivery is not None
    assert delivery.last_status_code == 401 and "401" in (delivery.last_error or "")
    assert reload(db, second)[0].status == "sent"


def test_an_instruction_claimed_by_another_deliverer_is_not_sent_until_the_lease_ends(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    inst = make.institution()
    row = instruction(db, inst)
    db.add(InstructionDelivery(instruction_id=row.id, institution_id=inst.id, attempts=0,
                               claimed_until=utcnow() + dt.timedelta(minutes=5)))
    db.commit()
    server.expect_request("/instructions").respond_with_json({}, status=202)
    cfg = settings(app, server.url_for("/"))
    assert trustee.deliver_pending(factory(app), cfg) == 0
    assert requests_seen(server) == []

    delivery = db.get(InstructionDelivery, row.id)
    assert delivery is not None
    delivery.claimed_until = utcnow() - dt.timedelta(seconds=1)  # the other one crashed
    db.commit()
    assert trustee.deliver_pending(factory(app), cfg) == 1
    assert reload(db, row)[0].status == "sent"


def test_only_pending_instructions_are_sent(app: Flask, db: Session, make: Factory,
                                            server: HTTPServer) -> None:
    inst = make.institution()
    rows = [instruction(db, inst) for _ in range(3)]
    rows[0].status = "sent"
    rows[1].status = "executed"
    db.commit()
    server.expect_request("/instructions").respond_with_json({}, status=202)
    trustee.deliver_instructions(factory(app), settings(app, server.url_for("/")),
                                 [r.id for r in rows])
    assert [r.headers["Idempotency-Key"] for r in requests_seen(server)] == [str(rows[2].id)]


def test_a_callback_that_beats_the_answer_is_not_overwritten_by_sent(
        app: Flask, db: Session, make: Factory) -> None:
    row = instruction(db, make.institution())
    cfg = settings(app, "http://127.0.0.1:1")
    assert trustee._claim(factory(app), cfg, row.id) is not None
    row.status = "executed"  # the trustee's instruction.executed arrived meanwhile
    db.commit()
    trustee._record(factory(app), cfg, row.id, trustee.Attempt(True, 202, None, False))
    fresh, delivery = reload(db, row)
    assert fresh.status == "executed" and fresh.sent_at is None
    assert delivery is not None and delivery.attempts == 1


def test_without_a_trustee_url_instructions_simply_stay_pending(
        app: Flask, db: Session, make: Factory) -> None:
    row = instruction(db, make.institution())
    trustee.deliver_instructions(factory(app), settings(app, ""), [row.id])
    assert trustee.deliver_pending(factory(app), settings(app, "")) == 0
    fresh, _ = reload(db, row)
    assert fresh.status == "pending" and fresh.attempts == 0


def test_the_lease_outlasts_every_try_of_one_delivery(app: Flask) -> None:
    cfg = changed(app.config["SUPERVISION"], TRUSTEE_TIMEOUT_SECONDS=5.0, TRUSTEE_RETRIES=2)
    # 3 tries, each at most a connect and a read timeout, plus backoff (capped at 10 s).
    assert trustee.lease_seconds(cfg) > 3 * 2 * 5.0 + 2 * 10


def test_a_second_claim_on_a_claimed_instruction_gets_nothing(
        app: Flask, db: Session, make: Factory) -> None:
    """The claim itself (the race between real threads is in test_trustee_concurrency.py)."""
    row = instruction(db, make.institution())
    cfg = settings(app, "http://127.0.0.1:1")
    results = [trustee._claim(factory(app), cfg, row.id) for _ in range(2)]
    assert results[0] is not None and results[1] is None


def test_the_cli_delivers_pending_instructions(app: Flask, db: Session, make: Factory,
                                               server: HTTPServer) -> None:
    row = instruction(db, make.institution())
    server.expect_request("/instructions").respond_with_json({}, status=202)
    app.config["SUPERVISION"] = changed(app.config["SUPERVISION"],
                                        TRUSTEE_API_URL=server.url_for("/"))


    result = app.test_cli_runner().invoke(args=["trustee", "deliver-pending"])
    assert result.exit_code == 0, result.output
    assert "1 instruction(s) accepted" in result.output
    assert reload(db, row)[0].status == "sent"


def test_a_sent_instruction_never_answered_is_sent_again_a_day_later_under_the_same_key(
        app: Flask, db: Session, make: Factory, server: HTTPServer) -> None:
    inst = make.institution()
    stale, recent = instruction(db, inst), instruction(db, inst)
    for row, tried in ((stale, dt.timedelta(hours=25)), (recent, dt.timedelta(hours=1))):
        row.status = "sent"
        db.add(InstructionDelivery(instruction_id=row.id, institution_id=inst.id, attempts=1,
                                   last_attempt_at=utcnow() - tried))
    db.commit()
    server.expect_request("/instructions").respond_with_json({}, status=200)
    assert trustee.deliver_pending(factory(app), settings(app, server.url_for("/"))) == 1
    assert [r.headers["Idempotency-Key"] for r in requests_seen(server)] == [str(stale.id)]
    fresh, delivery = reload(db, stale)
    assert fresh.status == "sent" and delivery is not None and delivery.attempts == 2
    # Tried just now: not again before another day has passed.
    assert trustee.deliver_pending(factory(app), settings(app, server.url_for("/"))) == 0
