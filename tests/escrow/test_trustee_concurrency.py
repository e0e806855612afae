"""Races with real commits on a fresh database: the same trustee event delivered 100 times at
once is booked once; two deliverers of one instruction send it once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from supervision.escrow import verify_ledger
from supervision.models import Flag
from supervision.models.escrow import Deposit, Enrollment, Instruction
from supervision.models.trustee import TrusteeEvent
from supervision.workers import trustee

from ..support.databases import fresh_database, live_app, unit
from ..support.factories import Factory
from ..support.trustee import deposit_event, enrollment, entries_with_txn, signed_post

WORKERS = 100


@pytest.fixture
def live_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(database_url, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a race between connections means something on PostgreSQL only")


def paid_enrollment_setup(app: Flask) -> tuple[int, str, int]:
    with unit(app) as session:
        make = Factory(session)
        e = enrollment(session, make, make.institution())
        return e.id, e.payment_reference, e.amount_fen


def hammer(app: Flask, events: list[dict[str, Any]]) -> list[tuple[int, str | None]]:
    """Each event posted by its own thread, all released at the same instant."""
    barrier = threading.Barrier(len(events))
    results: list[tuple[int, str | None]] = [(0, None)] * len(events)

    def worker(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        resp = signed_post(client, events[i])
        results[i] = (resp.status_code, (resp.json or {}).get("outcome"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(events))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_the_same_deposit_event_100_times_at_once_is_booked_exactly_once(
        postgres_only: None, live_url: str) -> None:
    with live_app(live_url) as app:
        enrollment_id, reference, amount = paid_enrollment_setup(app)
        event = deposit_event(reference, amount)
        results = hammer(app, [event] * WORKERS)
        assert Counter(status for status, _ in results) == {200: WORKERS}
        assert Counter(outcome for _, outcome in results) == {"applied": 1,
                                                              "duplicate": WORKERS - 1}
        with unit(app) as session:
            assert entries_with_txn(session, event["trustee_txn_id"]) == 2
            assert session.scalar(select(func.count()).select_from(TrusteeEvent)) == 1
            assert session.scalar(select(func.count()).select_from(Deposit)) == 1
            paid = session.get(Enrollment, enrollment_id)
            assert paid is not None and paid.status == "active"


def test_one_transfer_under_100_event_ids_at_once_is_booked_exactly_once(
        postgres_only: None, live_url: str) -> None:
    with live_app(live_url) as app:
        _, reference, amount = paid_enrollment_setup(app)
        txn = "TX-ONE-TRANSFER"
        results = hammer(app, [deposit_event(reference, amount, txn=txn)
                               for _ in range(WORKERS)])
        # The ledger's UNIQUE trustee_txn_id settles it: the losers of the race are refused
        # (409, rolled back, retried by the trustee later) or answered with the first
        # booking's outcome, booking nothing.
        statuses = Counter(status for status, _ in results)
        assert set(statuses) <= {200, 409} and statuses[200] >= 1
        assert {outcome for status, outcome in results if status == 200} == {"applied"}
        with unit(app) as session:
            assert entries_with_txn(session, txn) == 2
            assert session.scalar(select(func.count()).select_from(Deposit)) == 1


def test_one_reuse_of_a_transfer_id_under_many_event_ids_at_once_is_held_in_suspense_once(
        postgres_only: None, live_url: str) -> None:
    with live_app(live_url) as app:
        _, reference, amount = paid_enrollment_setup(app)
        txn = "TX-REUSED-AT-ONCE"
        signed_post(app.test_client(), deposit_event(reference, amount, txn=txn))
        # Another receipt under the same transfer id, delivered by many workers at once: its
        # own key's UNIQUE settles the race as the transfer id's does for a true duplicate.
        results = hammer(app, [deposit_event(reference, amount + 1, txn=txn)
                               for _ in range(WORKERS // 4)])
        statuses = Counter(status for status, _ in results)
        assert set(statuses) <= {200, 409} and statuses[200] >= 1
        assert {outcome for status, outcome in results if status == 200} == {"suspense"}
        with unit(app) as session:
            assert session.scalar(select(func.count()).select_from(Deposit)) == 2
            assert session.scalar(select(func.count()).select_from(Flag)) == 1
            assert verify_ledger(session) == []


def test_two_deliverers_racing_for_one_instruction_send_it_once(live_url: str) -> None:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.expect_request("/instructions").respond_with_json({}, status=202)
    server.start()
    try:
        with live_app(live_url, TRUSTEE_API_URL=server.url_for("/")) as app:
            with unit(app) as session:
                inst = Factory(session).institution()
                row = Instruction(kind="release", institution_id=inst.id, amount_fen=100,
                                  account_no=inst.supervised_account_no, payee=inst.name,
                                  memo="race", status="pending", attempts=0)
                session.add(row)
                session.flush()
                instruction_id = row.id
            factory = app.extensions["supervision.sessionmaker"]
            settings = app.config["SUPERVISION"]
            barrier = threading.Barrier(8)

            def deliver() -> None:
                barrier.wait()
                trustee.deliver_instructions(factory, settings, [instruction_id])

            threads = [threading.Thread(target=deliver) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(server.log) == 1
            with unit(app) as session:
                sent = session.get(Instruction, instruction_id)
                assert sent is not None and sent.status == "sent" and sent.attempts == 1
    finally:
        server.clear()
        server.stop()
