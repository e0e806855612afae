"""Real parallel requests against one enrollment, with real commits (PostgreSQL only).

On a fresh database of the test server, the app runs with its own engine and pool, and 16+
threads call the HTTP API at once. Afterwards every accepted operation must be booked exactly
once, every refused one not at all, and the books must balance. (SQLite serialises writers
with BEGIN IMMEDIATE, so there is nothing to race there.)
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.principals import create_principal
from supervision.access.scope import SYSTEM
from supervision.escrow import apply_deposit, ledger, verify_ledger
from supervision.models.escrow import Consumption, Enrollment, LedgerEntry, LedgerHold, Refund

from ..support.databases import fresh_database, live_app, unit
from ..support.factories import Factory

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
WORKERS = 16
OPS_PER_WORKER = 130  # 2,080 operations in the hammering test


@pytest.fixture
def live(database_url: str) -> Iterator[Flask]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a concurrency property: PostgreSQL only (SQLite serialises writers)")
    with fresh_database(database_url) as url, \
            live_app(url, DB_POOL_SIZE=WORKERS + 4, TRUSTEE_API_URL="") as app:
        yield app


class Scene:
    """One institution, one course (100 fen an hour unless said), sessions that have
    started, a parent and the institution's staff, with their tokens."""

    def __init__(self, app: Flask, sessions: int, price: int = 100) -> None:
        self.app = app
        with unit(app) as db:
            make = Factory(db)
            inst = make.institution()
            teacher = make.teacher(inst)
            start = clock.local_now() - dt.timedelta(days=1)
            course = make.course(inst, price_per_class_hour_fen=price)
            self.course_id = course.id
            self.session_ids = [make.session_of(course, teacher, starts_at=start,
                                                minutes=45).id for _ in range(sessions)]
            parent, parent_token = create_principal(db, role="parent", name="家长")
            _, staff_token = create_principal(db, role="institution", name="前台",
                                              institution_id=inst.id)
            _, reg_token = create_principal(db, role="regulator", name="教育局")
        self.parent_id = parent.id
        self.parent = {"Authorization": f"Bearer {parent_token}"}
        self.staff = {"Authorization": f"Bearer {staff_token}"}
        self.regulator = {"Authorization": f"Bearer {reg_token}"}

    def paid_enrollment(self, hours: int = 60) -> int:
        """Paid in full: 6000 fen at the default price."""
        client = self.app.test_client()
        resp = client.post("/api/v1/enrollments", headers=self.parent, json={
            "course_id": self.course_id, "student_name": f"学生{uuid.uuid4().hex[:6]}",
            "student_grade": 7, "class_hours": hours})
        assert resp.status_code == 201, resp.json
        with unit(self.app) as db:
            outcome = apply_deposit(db, SYSTEM, event_id=uuid.uuid4().hex,
                                    payment_reference=resp.json["payment_reference"],
                                    amount_fen=resp.json["amount_fen"],
                                    trustee_txn_id=uuid.uuid4().hex,
                                    # Before the sessions (a day ago) it pays for.
                                    received_at=clock.local_now() - dt.timedelta(days=2))
        assert outcome == "applied"
        return int(resp.json["id"])


def post(app: Flask, url: str, headers: dict[str, str], body: Any) -> Callable[[], Any]:
    """A request to make later, in another thread, with a client of its own."""
    return functools.partial(app.test_client().post, url, headers=headers, json=body)


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Start every call at the same instant, each in its own thread."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_books_right(app: Flask, enrollment_ids: list[int]) -> None:
    with unit(app) as db:
        assert verify_ledger(db) == []
        accounts = ledger.enrollment_accounts(db, enrollment_ids)
        for eid in enrollment_ids:
            enrollment = db.get(Enrollment, eid)
            assert enrollment is not None
            balances = [accounts[eid][k].balance for k in ledger.BUCKETS]
            assert sum(balances) == enrollment.amount_fen
            assert min(balances) >= 0
            assert all(a.available >= 0 for a in accounts[eid].values())


# --- racing pairs ----------------------------------------------------------------------------

@pytest.mark.postgres
def test_two_refunds_of_one_enrollment_racing_never_both_win(live: Flask) -> None:
    scene = Scene(live, sessions=0)
    outcomes: Counter[tuple[int, ...]] = Counter()
    enrollments = []
    for _ in range(20):
        eid = scene.paid_enrollment()  # 6000 fen
        enrollments.append(eid)
        results = race(*[post(live, f"/api/v1/enrollments/{eid}/refunds", scene.parent,
                              {"reason": "x", "amount_fen": 4000}) for _ in range(2)])
        codes = tuple(sorted(r.status_code for r in results))
        outcomes[codes] += 1
        assert codes == (201, 422), [r.json for r in results]
        refused = next(r for r in results if r.status_code == 422)
        assert refused.json["rule"] == "INSUFFICIENT_ESCROW"
    with unit(live) as db:
        assert db.scalar(select(func.count()).select_from(Refund)) == 20
    assert_books_right(live, enrollments)
    print(f"\ntwo refunds racing, 20 rounds: {dict(outcomes)}")


@pytest.mark.postgres
def test_attendance_racing_a_refund_of_everything_lets_exactly_one_win(live: Flask) -> None:
    scene = Scene(live, sessions=20)
    winners: Counter[str] = Counter()
    enrollments = []
    for session_id in scene.session_ids:
        eid = scene.paid_enrollment()
        enrollments.append(eid)
        attend, refund = race(
            post(live, f"/api/v1/sessions/{session_id}/attendance", scene.staff,
                 {"enrollment_ids": [eid], "class_hours": 1}),
            post(live, f"/api/v1/enrollments/{eid}/refunds", scene.parent,
                 {"reason": "x", "amount_fen": 6000}))
        codes = (attend.status_code, refund.status_code)
        assert codes in ((201, 422), (422, 201)), (attend.json, refund.json)
        winners["attendance" if codes[0] == 201 else "refund"] += 1
    assert_books_right(live, enrollments)
    print(f"\nattendance racing a refund, 20 rounds: winners {dict(winners)}")


@pytest.mark.postgres
def test_one_idempotency_key_sent_eight_times_at_once_books_once(live: Flask) -> None:
    scene = Scene(live, sessions=1)
    eid = scene.paid_enrollment()
    headers = {**scene.staff, "Idempotency-Key": "same-key"}
    url = f"/api/v1/sessions/{scene.session_ids[0]}/attendance"
    results = race(*[post(live, url, headers, {"enrollment_ids": [eid]}) for _ in range(8)])
    assert {r.status_code for r in results} == {201}
    assert len({str(r.json) for r in results}) == 1
    with unit(live) as db:
        assert db.scalar(select(func.count()).select_from(Consumption)) == 1
    assert_books_right(live, [eid])


# --- the hammer ------------------------------------------------------------------------------

class Hammer:
    """Random refund requests, rejections, approvals, attendance and confirmations, all on one
    enrollment, from many threads; every answer is kept for the audit afterwards."""

    def __init__(self, app: Flask, scene: Scene, enrollment_id: int) -> None:
        self.app, self.scene, self.eid = app, scene, enrollment_id
        self.lock = threading.Lock()
        self.log: list[tuple[str, int, int, Any]] = []  # (op, target, status, body)
        self.refunds: list[int] = []
        self.consumptions: list[int] = []

    def record(self, op: str, target: int, resp: Any) -> None:
        with self.lock:
            self.log.append((op, target, resp.status_code, resp.json))
            if resp.status_code == 201 and op == "refund":
                self.refunds.append(resp.json["id"])
            if resp.status_code == 201 and op == "attend":
                self.consumptions += [c["id"] for c in resp.json["consumptions"]]

    def pick(self, items: list[int], rng: random.Random) -> int | None:
        with self.lock:
            return rng.choice(items) if items else None

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        client = self.app.test_client()
        s = self.scene
        for _ in range(OPS_PER_WORKER):
            roll = rng.random()
            if roll < 0.35:
                sid = rng.choice(s.session_ids)
                self.record("attend", sid, client.post(
                    f"/api/v1/sessions/{sid}/attendance", headers=s.staff,
                    json={"enrollment_ids": [self.eid], "class_hours": 1}))
            elif roll < 0.65:
                self.record("refund", self.eid, client.post(
                    f"/api/v1/enrollments/{self.eid}/refunds", headers=s.parent,
                    json={"reason": "x", "amount_fen": rng.randint(1, 20000)}))
            elif roll < 0.87 and (rid := self.pick(self.refunds, rng)) is not None:
                self.record("reject", rid, client.post(
                    f"/api/v1/refunds/{rid}/reject", headers=s.staff, json={"reason": "no"}))
            elif roll < 0.90 and (rid := self.pick(self.refunds, rng)) is not None:
                self.record("approve", rid, client.post(f"/api/v1/refunds/{rid}/approve",
                                                        headers=s.staff))
            elif (cid := self.pick(self.consumptions, rng)) is not None:
                self.record("confirm", cid, client.post(
                    f"/api/v1/consumptions/{cid}/confirm", headers=s.parent))


@pytest.mark.postgres
@pytest.mark.slow
def test_sixteen_workers_hammering_one_enrollment_book_each_accepted_operation_once(
        live: Flask) -> None:
    scene = Scene(live, sessions=150, price=8000)
    eid = scene.paid_enrollment(hours=60)  # 480000 fen, 60 one-hour consumptions at most
    hammer = Hammer(live, scene, eid)
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(hammer.worker, range(WORKERS)))

    log = hammer.log
    assert len(log) >= 2000
    assert all(status < 500 for _, _, status, _ in log), [x for x in log if x[2] >= 500][:3]
    expected = {"attend": {201, 409, 422}, "refund": {201, 422}, "reject": {200, 409},
                "approve": {200, 409}, "confirm": {200, 409}}
    for op, _, status, _ in log:
        assert status in expected[op], (op, status)
    accepted = defaultdict(list)
    for op, target, status, body in log:
        if status in (200, 201):
            accepted[op].append((target, body))
    with unit(live) as db:
        check_attendance(db, log, accepted["attend"])
        check_confirmations(db, accepted["confirm"])
        check_refunds(db, accepted)
    assert_books_right(live, [eid])
    counts = Counter((op, status) for op, _, status, _ in log)
    print(f"\nhammer: {len(log)} operations by {WORKERS} workers: "
          + ", ".join(f"{op} {status}: {n}" for (op, status), n in sorted(counts.items())))


def entry_count(db: Session, ref_type: str, ref_id: int, kind: str) -> int:
    return int(db.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.ref_type == ref_type, LedgerEntry.ref_id == ref_id,
        LedgerEntry.kind == kind)) or 0)


def check_attendance(db: Session, log: list[Any], accepted: list[Any]) -> None:
    consumptions = {c.id: c for c in db.scalars(select(Consumption))}
    accepted_ids = [body["consumptions"][0]["id"] for _, body in accepted]
    assert sorted(accepted_ids) == sorted(consumptions)  # every accepted one, nothing else
    for cid in accepted_ids:
        assert entry_count(db, "consumption", cid, "consumption") == 2
    per_session = Counter(target for op, target, status, _ in log
                          if op == "attend" and status == 201)
    assert all(n == 1 for n in per_session.values())
    assert sum(c.class_hours for c in consumptions.values()) == db.scalar(
        select(Enrollment.consumed_hours))


def check_confirmations(db: Session, accepted: list[Any]) -> None:
    confirmed = set(db.scalars(select(Consumption.id).where(Consumption.status == "confirmed")))
    targets = [target for target, _ in accepted]
    assert len(targets) == len(set(targets))  # never confirmed twice
    assert set(targets) == confirmed
    for cid in targets:
        assert entry_count(db, "consumption", cid, "confirmation") == 2


def check_refunds(db: Session, accepted: dict[str, list[Any]]) -> None:
    refunds = {r.id: r for r in db.scalars(select(Refund))}
    assert sorted(body["id"] for _, body in accepted["refund"]) == sorted(refunds)
    rejected = [target for target, _ in accepted["reject"]]
    approved = [target for target, _ in accepted["approve"]]
    assert len(set(rejected) | set(approved)) == len(rejected) + len(approved)  # once each
    for rid, refund in refunds.items():
        holds = db.scalars(select(LedgerHold).where(
            LedgerHold.refund_id == rid, LedgerHold.kind == "refund_request")).all()
        assert len(holds) == 1
        expected = ("voided" if rid in rejected else "posted" if rid in approved
                    else "pending")
        assert holds[0].status == expected
        assert refund.status == {"voided": "rejected", "posted": "instructed",
                                 "pending": "requested"}[expected]
        assert entry_count(db, "refund", rid, "refund_approval") == (
            2 if rid in approved else 0)
