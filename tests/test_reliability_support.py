"""Helpers of the reliability and fault tests: is the money still right, did anything change.

`money_problems` reads the books through the services only (trial balance, ledger audit,
escrow status of every enrollment) and lists every broken invariant; `row_counts` is a
fingerprint of every table, to prove a refused request wrote nothing at all.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from supervision import outbound
from supervision.access.scope import SYSTEM
from supervision.escrow import escrow_status, trial_balance, verify_ledger
from supervision.models import Base
from supervision.models.escrow import Consumption, Enrollment, Instruction, LedgerHold, Refund

BUCKETS = ("held_fen", "pending_confirmation_fen", "confirmed_fen", "released_fen",
           "refund_pending_fen", "refunded_fen")
IN_CUSTODY = ("held", "pending_confirmation", "confirmed", "refund_pending", "suspense",
              "suspense_unidentified")


def row_counts(session: Session) -> dict[str, int]:
    """Rows in every table of the models (an update is seen too: it writes an audit row)."""
    return {table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables}


def _sum_by_enrollment(session: Session, model: Any, status: str) -> dict[int, int]:
    rows = session.execute(select(model.enrollment_id, func.sum(model.amount_fen))
                           .where(model.status == status).group_by(model.enrollment_id))
    return {eid: int(total) for eid, total in rows}


def money_problems(session: Session) -> list[str]:
    """Every broken money invariant, read as the system actor through the services:
    the trial balance is zero and covers custody, the stored balances agree with the entries,
    and each enrollment's paid = held + pending + confirmed + released + refund_pending +
    refunded with no bucket negative and no more released than confirmed consumption."""
    previous = session.info.get("actor")
    session.info["actor"] = SYSTEM
    try:
        problems = list(verify_ledger(session))
        trial = trial_balance(session, SYSTEM)
        if not trial.balanced:
            problems.append(f"trial balance off: {trial.debits_fen} != {trial.credits_fen}")
        by_kind = {a["kind"]: a["balance_fen"] for a in trial.accounts}
        custody = by_kind.get("custody", 0) + by_kind.get("custody_unidentified", 0)
        in_custody = sum(by_kind.get(k, 0) for k in IN_CUSTODY)
        if custody != in_custody:
            problems.append(f"custody {custody} != money owed from custody {in_custody}")
        if by_kind.get("paid_out", 0) != by_kind.get("released", 0):
            problems.append("paid out to institutions != released")
        confirmed = _sum_by_enrollment(session, Consumption, "confirmed")
        for eid in session.scalars(select(Enrollment.id).order_by(Enrollment.id)):
            status = escrow_status(session, SYSTEM, eid)
            values = {b: getattr(status, b) for b in BUCKETS}
            if status.paid_fen != sum(values.values()):
                problems.append(f"enrollment {eid}: paid {status.paid_fen} != {values}")
            if min(values.values()) < 0 or status.refundable_fen < 0:
                problems.append(f"enrollment {eid}: a negative bucket {values}")
            if status.released_fen > confirmed.get(eid, 0):
                problems.append(f"enrollment {eid}: released {status.released_fen} > "
                                f"confirmed consumption {confirmed.get(eid, 0)}")
        problems += _holds_match_their_owners(session)
        return problems
    finally:
        session.info["actor"] = previous


def _holds_match_their_owners(session: Session) -> list[str]:
    """Open holds are exactly those of requested refunds and of undecided instructions."""
    by_refund: dict[int, int] = defaultdict(int)
    by_instruction: dict[int, int] = defaultdict(int)
    for kind, refund_id, instruction_id, amount in session.execute(
            select(LedgerHold.kind, LedgerHold.refund_id, LedgerHold.instruction_id,
                   LedgerHold.amount_fen).where(LedgerHold.status == "pending")):
        if kind == "refund_request":
            assert refund_id is not None
            by_refund[refund_id] += amount
        else:
            assert instruction_id is not None
            by_instruction[instruction_id] += amount
    requested = {rid: amount for rid, amount in session.execute(
        select(Refund.id, Refund.amount_fen).where(Refund.status == "requested"))}
    undecided = {iid: amount for iid, amount in session.execute(
        select(Instruction.id, Instruction.amount_fen)
        .where(Instruction.status.in_(("pending", "sent"))))}
    problems = []
    if dict(by_refund) != requested:
        problems.append(f"refund holds {dict(by_refund)} != requested refunds {requested}")
    if dict(by_instruction) != undecided:
        problems.append(f"instruction holds {dict(by_instruction)} != undecided {undecided}")
    return problems


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


def executed_event(instruction_id: int | str, txn: str) -> dict[str, Any]:
    return {"event_id": f"evt-exec-{instruction_id}-{txn}", "type": "instruction.executed",
            "instruction_id": int(instruction_id), "trustee_txn_id": txn,
            "executed_at": "2026-12-03T10:00:00+08:00"}
