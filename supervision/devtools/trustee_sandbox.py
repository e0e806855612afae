"""A stand-in trustee for demos and tests: `flask --app wsgi trustee sandbox [--port N]`.

It plays the bank's side of API.md §6 on one machine, keeping everything in memory:
- POST /instructions (signed, Idempotency-Key): accepted once per key (202; the same key again
  200, or 409 with another body), executed after a short delay by POSTing a signed
  `instruction.executed` (or `instruction.failed`, see /fail-next) to the callback URL;
- GET /statements/<account_no>?date=YYYY-MM-DD (signed): the day's statement of what it has
  seen on that account (deposits credited, executed instructions debited);
- POST /deposits {"payment_reference", "amount_fen", "account_no"} (unsigned, for the demo): a
  parent's payment arriving in a supervised account; sends `deposit.received` at once and
  answers with what the server said;
- POST /fail-next {"count"}: the next `count` instructions fail instead of executing;
- GET /: what it holds.
Events the server did not take (down, 5xx) are retried every few seconds until it does.

It is a separate little application, not part of the service: it imports Flask freely.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from .. import clock, outbound

log = logging.getLogger(__name__)
DEFAULT_CALLBACK = "http://127.0.0.1:5000/api/v1/trustee/events"


@dataclass
class Line:
    date: dt.date
    trustee_txn_id: str
    direction: str
    amount_fen: int
    reference: str


@dataclass
class SandboxState:
    secret: str
    callback_url: str
    delay: float = 1.0
    window_seconds: int = 300
    lock: threading.Lock = field(default_factory=threading.Lock)
    instructions: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[str, list[Line]] = field(default_factory=dict)
    undelivered: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    http: requests.Session = field(default_factory=lambda: outbound.make_session(3, 0.3))

    def book(self, account_no: str, direction: str, amount_fen: int, reference: str) -> str:
        txn = "SBX" + uuid.uuid4().hex[:20].upper()
        line = Line(clock.today(), txn, direction, amount_fen, reference)
        with self.lock:
            self.lines.setdefault(account_no, []).append(line)
        return txn

    def send(self, event: dict[str, Any]) -> tuple[int | None, Any]:
        """Deliver one event; kept for the retry loop unless the server answered 200."""
        try:
            resp = outbound.signed_request(self.http, "POST", self.callback_url,
                                           secret=self.secret, payload=event, timeout=5.0)
            answer: Any = resp.json() if resp.content else None
            status: int | None = resp.status_code
        except (requests.RequestException, ValueError) as exc:
            status, answer = None, str(exc)
        # A 4xx is an answer (a bad event is not retried forever), except 401: a secret or a
        # clock being fixed on the server's side. Down, timed out and 5xx are retried.
        retry = status is None or status >= 500 or status == 401
        with self.lock:
            (self.undelivered if retry else self.delivered).append(event)
        log.info("sandbox: %s %s → %s %s", event["type"], event["event_id"], status, answer)
        return status, answer

    def retry_undelivered(self) -> None:
        with self.lock:
            pending, self.undelivered = self.undelivered, []
        for event in pending:
            self.send(event)

    def statement(self, account_no: str, day: dt.date) -> dict[str, Any]:
        with self.lock:
            lines = list(self.lines.get(account_no, []))

        def signed(ln: Line) -> int:
            return ln.amount_fen if ln.direction == "credit" else -ln.amount_fen

        opening = sum(signed(ln) for ln in lines if ln.date < day)
        todays = [ln for ln in lines if ln.date == day]
        return {"account_no": account_no, "date": day.isoformat(),
                "opening_balance_fen": opening,
                "closing_balance_fen": opening + sum(signed(ln) for ln in todays),
                "lines": [{"trustee_txn_id": ln.trustee_txn_id, "direction": ln.direction,
                           "amount_fen": ln.amount_fen, "value_date": ln.date.isoformat(),
                           "reference": ln.reference} for ln in todays]}


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": "evt-" + uuid.uuid4().hex, "type": kind, **fields}


def _now_iso() -> str:
    return clock.local_now().isoformat(timespec="seconds")


def _execute(state: SandboxState, key: str) -> None:
    with state.lock:
        record = state.instructions[key]
        fail = state.fail_next > 0
        state.fail_next -= 1 if fail else 0
    body = record["body"]
    if fail:
        record["status"] = "failed"
        state.send(_event("instruction.failed", instruction_id=body["instruction_id"],
                          reason="sandbox: simulated failure"))
        return
    txn = state.book(str(body["account_no"]), "debit", int(body["amount_fen"]),
                     f"{body['kind']} {body['instruction_id']}")
    record.update(status="executed", trustee_txn_id=txn)
    state.send(_event("instruction.executed", instruction_id=body["instruction_id"],
                      trustee_txn_id=txn, executed_at=_now_iso()))


def _error(status: int, message: str) -> Any:
    return jsonify({"error": message}), status


def _signed_ok(state: SandboxState) -> bool:
    return outbound.verify(state.secret, request.headers.get("X-Supervision-Timestamp"),
                           request.headers.get("X-Supervision-Signature"),
                           request.get_data(cache=True), window_seconds=state.window_seconds)


def create_sandbox(*, secret: str, callback_url: str = DEFAULT_CALLBACK,
                   delay: float = 1.0) -> Flask:
    state = SandboxState(secret=secret, callback_url=callback_url, delay=delay)
    app = Flask("trustee_sandbox")
    app.extensions["sandbox"] = state
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.post("/instructions")
    def instructions() -> Any:
        if not _signed_ok(state):
            return _error(401, "bad signature")
        key = request.headers.get("Idempotency-Key", "")
        body = request.get_json(silent=True)
        fields = {"instruction_id", "kind", "amount_fen", "account_no", "payee", "memo"}
        if not isinstance(body, dict) or set(body) != fields:
            return _error(422, "body must have exactly " + ", ".join(sorted(fields)))
        if key != str(body["instruction_id"]):
            return _error(400, "Idempotency-Key must be the instruction id")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with state.lock:
            seen = state.instructions.get(key)
            if seen is None:
                state.instructions[key] = {"body": body, "hash": digest, "status": "accepted"}
        if seen is not None:
            if seen["hash"] != digest:
                return _error(409, "Idempotency-Key reused with another body")
            return jsonify({"status": "already_accepted", "instruction_id": key}), 200
        timer = threading.Timer(state.delay, _execute, args=(state, key))
        timer.daemon = True
        timer.start()
        return jsonify({"status": "accepted", "instruction_id": key}), 202

    @app.get("/statements/<account_no>")
    def statements(account_no: str) -> Any:
        if not _signed_ok(state):
            return _error(401, "bad signature")
        try:
            day = dt.date.fromisoformat(request.args.get("date", ""))
        except ValueError:
            return _error(422, "date=YYYY-MM-DD required")
        return jsonify(state.statement(account_no, day))

    @app.post("/deposits")
    def deposits() -> Any:
        body = request.get_json(silent=True) or {}
        try:
            reference, account = str(body["payment_reference"]), str(body["account_no"])
            amount = int(body["amount_fen"])
        except (KeyError, TypeError, ValueError):
            return _error(422, "payment_reference, amount_fen and account_no required")
        txn = state.book(account, "credit", amount, reference)
        event = _event("deposit.received", payment_reference=reference, amount_fen=amount,
                       trustee_txn_id=txn, received_at=_now_iso())
        status, answer = state.send(event)
        return jsonify({"event_id": event["event_id"], "trustee_txn_id": txn,
                        "server_status": status, "server_response": answer}), 200

    @app.post("/fail-next")
    def fail_next() -> Any:
        count = (request.get_json(silent=True) or {}).get("count", 1)
        with state.lock:
            state.fail_next = int(count)
        return jsonify({"fail_next": state.fail_next})

    @app.get("/")
    def overview() -> Any:
        with state.lock:
            return jsonify({
                "callback_url": state.callback_url,
                "instructions": {k: {"status": v["status"], **v["body"]}
                                 for k, v in state.instructions.items()},
                "accounts": {a: len(ls) for a, ls in state.lines.items()},
                "undelivered_events": len(state.undelivered), "fail_next": state.fail_next})

    return app


def serve(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for `app` (not started); the caller runs serve_forever()."""
    return make_server(host, port, app, threaded=True)


def run(*, host: str, port: int, secret: str, callback_url: str, delay: float,
        retry_every: float = 5.0) -> None:
    """Run in the foreground until interrupted, retrying undelivered events meanwhile."""
    app = create_sandbox(secret=secret, callback_url=callback_url, delay=delay)
    state: SandboxState = app.extensions["sandbox"]
    stop = threading.Event()

    def retry_loop() -> None:
        while not stop.wait(retry_every):
            state.retry_undelivered()

    threading.Thread(target=retry_loop, name="sandbox-retry", daemon=True).start()
    server = serve(app, host, port)
    try:
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()
