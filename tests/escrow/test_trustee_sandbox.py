"""The stand-in trustee (`flask --app wsgi trustee sandbox`), run for real on a free port."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from supervision import clock, outbound
from supervision.access.scope import SYSTEM
from supervision.devtools.trustee_sandbox import SandboxState, create_sandbox
from supervision.escrow import confirm_consumption, create_release_run, record_attendance
from supervision.models import Course
from supervision.models.escrow import Enrollment, Instruction
from supervision.models.trustee import Statement
from supervision.workers.statements import pull_statements
from supervision.workers.trustee import deliver_instructions, deliver_pending

from ..support.databases import fresh_database, live_app, unit
from ..support.factories import Factory
from ..support.servers import free_port, served, wait_for
from ..support.settings import changed
from ..support.trustee import SECRET, enrollment


@pytest.fixture
def callback() -> Iterator[HTTPServer]:
    """Stands in for our server: records the sandbox's events and answers 200."""
    srv = HTTPServer(host="127.0.0.1", threaded=True)
    srv.expect_request("/events", method="POST").respond_with_json({"outcome": "applied"})
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture
def sandbox(callback: HTTPServer) -> Iterator[str]:
    app = create_sandbox(secret=SECRET, callback_url=callback.url_for("/events"), delay=0.2)
    with served(app) as url:
        yield url


def events(callback: HTTPServer) -> list[dict[str, Any]]:
    out = []
    for request, _ in callback.log:
        assert outbound.verify(SECRET, request.headers.get("X-Supervision-Timestamp"),
                               request.headers.get("X-Supervision-Signature"),
                               request.get_data(), window_seconds=300)
        out.append(json.loads(request.get_data()))
    return out


def instruction(n: int = 7, amount: int = 8000) -> dict[str, Any]:
    return {"instruction_id": n, "kind": "release", "amount_fen": amount,
            "account_no": "GLXT-00000001", "payee": "测试培训学校", "memo": "课消拨付 第1批"}


def post(url: str, body: dict[str, Any], *, key: str | None = None,
         secret: str = SECRET) -> requests.Response:
    with requests.Session() as http:
        return outbound.signed_request(http, "POST", f"{url}/instructions", secret=secret,
                                       payload=body, timeout=5,
                                       headers={"Idempotency-Key": key or
                                                str(body["instruction_id"])})


def test_the_sandbox_executes_an_instruction_once_and_calls_back_signed(
        sandbox: str, callback: HTTPServer) -> None:
    assert post(sandbox, instruction()).status_code == 202
    assert post(sandbox, instruction()).status_code == 200  # the same key: accepted once
    assert wait_for(lambda: len(callback.log) >= 1)
    (event,) = events(callback)
    assert event["type"] == "instruction.executed" and event["instruction_id"] == 7
    assert event["trustee_txn_id"].startswith("SBX")
    assert dt.datetime.fromisoformat(event["executed_at"]).utcoffset() is not None
    assert not wait_for(lambda: len(callback.log) > 1, timeout=0.6)  # and only once


@pytest.mark.parametrize("change, status", [
    ({"secret": "wrong"}, 401), ({"key": "8"}, 400), ({"body": {"amount_fen": 1}}, 409),
    ({"body": {"extra": 1}}, 422)])
def test_the_sandbox_refuses_what_a_trustee_would_refuse(
        sandbox: str, callback: HTTPServer, change: dict[str, Any], status: int) -> None:
    assert post(sandbox, instruction(n=9)).status_code == 202
    body = {**instruction(n=9), **change.get("body", {})}
    resp = post(sandbox, body, key=change.get("key"), secret=change.get("secret", SECRET))
    assert resp.status_code == status


def test_deposits_and_payouts_appear_on_the_statement_it_serves(
        sandbox: str, callback: HTTPServer) -> None:
    with requests.Session() as http:
        deposit = http.post(f"{sandbox}/deposits", json={
            "payment_reference": "SVREF1", "amount_fen": 40000, "account_no": "GLXT-00000001"},
            timeout=5).json()
        assert deposit["server_status"] == 200
        post(sandbox, instruction(amount=8000))
        assert wait_for(lambda: len(callback.log) >= 2)
        today = clock.today().isoformat()
        resp = outbound.signed_request(http, "GET",
                                       f"{sandbox}/statements/GLXT-00000001?date={today}",
                                       secret=SECRET, timeout=5)
        unsigned = http.get(f"{sandbox}/statements/GLXT-00000001?date={today}", timeout=5)
    assert unsigned.status_code == 401
    statement = resp.json()
    assert statement["opening_balance_fen"] == 0 and statement["closing_balance_fen"] == 32000
    assert [(ln["direction"], ln["amount_fen"]) for ln in statement["lines"]] == [
        ("credit", 40000), ("debit", 8000)]
    kinds = [e["type"] for e in events(callback)]
    assert kinds == ["deposit.received", "instruction.executed"]
    assert events(callback)[0]["trustee_txn_id"] == deposit["trustee_txn_id"]


def test_fail_next_makes_the_next_instruction_fail(sandbox: str, callback: HTTPServer) -> None:
    requests.post(f"{sandbox}/fail-next", json={"count": 1}, timeout=5)
    post(sandbox, instruction(n=11))
    post(sandbox, instruction(n=12))
    assert wait_for(lambda: len(callback.log) >= 2)
    by_id = {e["instruction_id"]: e["type"] for e in events(callback)}
    assert by_id == {11: "instruction.failed", 12: "instruction.executed"}


def test_the_cli_command_is_registered_with_its_options(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["trustee", "sandbox", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "8765" in result.output
    assert "--callback-url" in result.output


@pytest.fixture
def live_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(database_url, tmp_path) as url:
        yield url


def test_the_whole_money_cycle_runs_against_the_sandbox(live_url: str) -> None:
    """Deposit → attendance → confirmation → release → the trustee executes and calls back →
    the day's statement is pulled and reconciles to the fen, with the real server and sandbox
    both listening on local ports."""
    with live_app(live_url) as app:
        settings = app.config["SUPERVISION"]
        with served(app) as server_url:
            trustee_app = create_sandbox(
                secret=SECRET, callback_url=f"{server_url}/api/v1/trustee/events", delay=0.2)
            with served(trustee_app) as sandbox_url:
                settings = changed(settings, TRUSTEE_API_URL=sandbox_url)
                app.config["SUPERVISION"] = settings
                e, account = _enrolled(app)
                deposit = requests.post(f"{sandbox_url}/deposits", timeout=10, json={
                    "payment_reference": e.payment_reference, "amount_fen": e.amount_fen,
                    "account_no": account}).json()
                assert deposit["server_response"]["outcome"] == "applied"
                instruction_id = _release(app, e)
                deliver_instructions(app.extensions["supervision.sessionmaker"], settings,
                                     [instruction_id])
                assert wait_for(lambda: _status(app, instruction_id) == "executed")
                today = clock.today()
                assert pull_statements(app.extensions["supervision.sessionmaker"], settings,
                                       today) == 1
                with unit(app) as session:
                    report = session.scalars(select(Statement)).one().report
    assert report["matched"] == 2
    assert report["unmatched_statement_lines"] == [] == report["unmatched_ledger_entries"]
    assert report["ledger_custody_fen"] == report["statement_closing_fen"] == 32000
    assert report["difference_fen"] == 0


def _enrolled(app: Flask) -> tuple[Enrollment, str]:
    with unit(app) as session:
        make = Factory(session)
        inst = make.institution()
        return enrollment(session, make, inst), inst.supervised_account_no


def _release(app: Flask, e: Enrollment) -> int:
    with unit(app) as session:
        make = Factory(session)
        course = session.get(Course, e.course_id)
        assert course is not None
        teacher = make.teacher(course_institution(session, course))
        # The sandbox paid a moment ago: a class that began as the money arrived is the
        # earliest one it may pay for (SESSION_BEFORE_ENROLLMENT).
        paid = session.get(Enrollment, e.id)
        assert paid is not None and paid.paid_at is not None
        cls = make.session_of(course, teacher, starts_at=paid.paid_at, minutes=90)
        (c,) = record_attendance(session, SYSTEM, session_id=cls.id, enrollment_ids=[e.id],
                                 class_hours=2, as_of=clock.local_now())
        confirm_consumption(session, SYSTEM, c.id, as_of=clock.local_now())
        run = create_release_run(session, SYSTEM)
        return int(session.scalars(select(Instruction.id).where(
            Instruction.release_run_id == run.id)).one())


def course_institution(session: Any, course: Course) -> Any:
    from supervision.models import Institution

    return session.get(Institution, course.institution_id)


def _status(app: Flask, instruction_id: int) -> str:
    with unit(app) as session:
        row = session.get(Instruction, instruction_id)
        return row.status if row is not None else "missing"


def test_events_the_server_did_not_take_are_retried_until_it_does() -> None:
    port = free_port()
    state = SandboxState(secret=SECRET, callback_url=f"http://127.0.0.1:{port}/events")
    state.http = outbound.make_session(retries=0)
    event = {"event_id": "evt-1", "type": "deposit.received"}
    assert state.send(event)[0] is None  # nobody listening yet
    assert state.undelivered == [event]
    server = HTTPServer(host="127.0.0.1", port=port)
    server.expect_request("/events").respond_with_json({"outcome": "applied"})
    server.start()
    try:
        state.retry_undelivered()
        assert state.undelivered == [] and state.delivered == [event]
        assert len(server.log) == 1
    finally:
        server.clear()
        server.stop()


def test_an_instruction_whose_answers_timed_out_is_retried_and_executed_once(
        app: Flask, db: Any, make: Factory, callback: HTTPServer) -> None:
    """The trustee got it every time but we never heard back: the retry job sends it again
    under the same Idempotency-Key, and the trustee executes it once."""
    trustee_app = create_sandbox(secret=SECRET, callback_url=callback.url_for("/events"),
                                 delay=0.1)
    answers_lost = {"left": 3}  # the first try and its two retries

    def slow_network(environ: Any, start_response: Any) -> Any:
        response = trustee_app(environ, start_response)  # the trustee has processed it
        if answers_lost["left"] > 0:
            answers_lost["left"] -= 1
            time.sleep(1.0)  # ...but the answer arrives after our timeout
        return response

    inst = make.institution()
    row = Instruction(kind="release", institution_id=inst.id, amount_fen=5000,
                      account_no=inst.supervised_account_no, payee=inst.name, memo="m",
                      status="pending", attempts=0)
    db.add(row)
    db.commit()
    factory = app.extensions["supervision.sessionmaker"]
    with served(slow_network) as url:
        cfg = changed(app.config["SUPERVISION"], TRUSTEE_API_URL=url,
                      TRUSTEE_TIMEOUT_SECONDS=0.3, TRUSTEE_BACKOFF_SECONDS=0.05)

        deliver_instructions(factory, cfg, [row.id])
        db.expire_all()
        assert db.get(Instruction, row.id).status == "pending"
        assert deliver_pending(factory, cfg) == 1
        db.expire_all()
        assert db.get(Instruction, row.id).status == "sent"
        assert wait_for(lambda: len(callback.log) >= 1)
        assert not wait_for(lambda: len(callback.log) > 1, timeout=0.8)
    (event,) = events(callback)
    assert event["type"] == "instruction.executed" and event["instruction_id"] == row.id
    assert list(trustee_app.extensions["sandbox"].instructions) == [str(row.id)]
