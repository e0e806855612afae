"""The trustee's side of the tests: signed events, money put through the ledger, and a
recording trustee that keeps its promise."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from supervision import outbound
from supervision.access.scope import SYSTEM
from supervision.clock import SHANGHAI
from supervision.escrow import (
    confirm_consumption,
    create_enrollment,
    create_release_run,
    record_attendance,
)
from supervision.escrow.trustee import TRUSTEE, handle_event
from supervision.models import Institution
from supervision.models.escrow import Enrollment, Instruction, LedgerEntry

from .factories import Factory
from .parties import acting, parent_actor

SECRET = "dev-only-trustee-secret"  # config/defaults.toml
EVENTS = "/api/v1/trustee/events"


def signed_post(client: FlaskClient, payload: Any, *, secret: str = SECRET,
                timestamp: float | None = None, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = outbound.signed_headers(secret, body, now=timestamp)
    return client.post(EVENTS, data=body, headers=headers)


def accepting_trustee(httpserver: HTTPServer) -> dict[str, Any]:
    """Settings under which a real local HTTP server plays the trustee and accepts every
    instruction (202): instructions are really delivered, once."""
    httpserver.expect_request("/instructions", method="POST").respond_with_data("", status=202)
    return {"TRUSTEE_API_URL": httpserver.url_for("/").rstrip("/"), "TRUSTEE_RETRIES": 0}


def deposit_event(reference: str, amount_fen: int, *, event_id: str | None = None,
                  txn: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or f"evt-{uuid.uuid4().hex}", "type": "deposit.received",
            "payment_reference": reference, "amount_fen": amount_fen,
            "trustee_txn_id": txn or f"TX{uuid.uuid4().hex[:16]}",
            "received_at": "2026-12-01T10:00:00+08:00"}


def executed_event(instruction_id: int | str, *, txn: str | None = None,
                   at: str = "2026-12-03T10:00:00+08:00",
                   event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or f"evt-{uuid.uuid4().hex}", "type": "instruction.executed",
            "instruction_id": int(instruction_id),
            "trustee_txn_id": txn or f"TX{uuid.uuid4().hex[:16]}", "executed_at": at}


def paid_report(key: str) -> dict[str, Any]:
    """The RecordingTrustee's report that it paid the instruction of Idempotency-Key `key`:
    the same event each time it is sent again."""
    txn = f"TX-PAID-{key}"
    return executed_event(key, txn=txn, event_id=f"evt-exec-{key}-{txn}")


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


# --- a trustee that keeps its promise --------------------------------------------------------

class RecordingTrustee:
    """The trustee side of POST {url}/instructions, for pytest-httpserver.

    Like a real custodian it executes each Idempotency-Key once however often it arrives,
    and it records everything it was sent, so a test can tell what our side did: every try
    (`received`), every body per key (`bodies`: a retry must repeat the first exactly) and
    every payment made (`executed`). `mode` says how it answers:
      ok           202 at once
      accept       202 without paying yet (it will report back, say a failure)
      fail_before  500 without executing (down in a way that still answers)
      fail_after   executes, then 500 (it did the work but says it failed)
      hang_before  waits `delay` s before executing (the caller times out first)
      hang_after   executes, then waits `delay` s before 202 (the answer is lost)
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode = "ok"
        self.delay = 0.0
        self.lock = threading.Lock()
        self.received: list[str] = []
        self.bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.executed: dict[str, dict[str, Any]] = {}
        self.unsigned = 0

    def handler(self, request: Request) -> Response:
        raw = request.get_data()
        if not outbound.verify(self.secret, request.headers.get("X-Supervision-Timestamp"),
                               request.headers.get("X-Supervision-Signature"), raw,
                               window_seconds=300):
            with self.lock:
                self.unsigned += 1
            return Response('{"error": "bad signature"}', status=401,
                            content_type="application/json")
        key = request.headers.get("Idempotency-Key", "")
        body = json.loads(raw)
        with self.lock:
            self.received.append(key)
            self.bodies[key].append(body)
            mode, delay = self.mode, self.delay
        if mode == "fail_before":
            return Response('{"error": "busy"}', status=500, content_type="application/json")
        if mode == "hang_before":
            time.sleep(delay)
            return Response(status=503)
        if mode == "accept":
            return Response(status=202)
        with self.lock:
            self.executed.setdefault(key, body)
        if mode == "fail_after":
            return Response('{"error": "oops"}', status=500, content_type="application/json")
        if mode == "hang_after":
            time.sleep(delay)
        return Response(json.dumps({"status": "accepted", "instruction_id": key}), status=202,
                        content_type="application/json")

    def executed_fen(self) -> int:
        with self.lock:
            return sum(int(b["amount_fen"]) for b in self.executed.values())

    def promise_problems(self) -> list[str]:
        """What our side did that a trustee could not make safe: a key whose retries differ
        from its first body, a key that is not the instruction id it carries, one
        instruction id under two keys."""
        problems = []
        with self.lock:
            if self.unsigned:
                problems.append(f"{self.unsigned} unsigned request(s)")
            for key, bodies in self.bodies.items():
                if any(b != bodies[0] for b in bodies):
                    problems.append(f"key {key}: the retries changed the body: {bodies}")
                if str(bodies[0]["instruction_id"]) != key:
                    problems.append(f"key {key} carries instruction {bodies[0]['instruction_id']}")
        return problems
