"""The read replica for real (issue 14, QUALITY.md "a writer reads its own write at once"): a
streaming standby started by scripts/replica, routed to by the views that opt in.

`X-Served-By` says which server answered each request; the standby refuses every write with an
error, so a routed page that answers 200 from it wrote nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text
from werkzeug.test import TestResponse

from supervision import clock
from supervision.db import make_engine
from supervision.devtools.demo import seed_demo
from supervision.models import Tip
from supervision.web.replica import HEADER, opted_in

from ..support.console import Browser, csrf_of
from ..support.databases import live_app, unit
from ..support.escrow_world import world
from ..support.factories import Factory
from ..support.servers import wait_for
from ..support.trustee import deposit_event, signed_post
from .conftest import Gate, Pair, router_of, tuned

pytestmark = pytest.mark.replica

PRICE, HOURS = 4000, 10  # the factory's course: ¥40 a class hour; ten hours paid
_batches = itertools.count(1)


@dataclass
class Family:
    parent: dict[str, str]
    staff: dict[str, str]
    course_id: int
    class_id: int


def arranged(app: Flask) -> Family:
    """A parent, an institution's staff, a course and a class given three hours ago (committed)."""
    with unit(app) as session:
        make = Factory(session)
        # Each test's institution is new in the module's database: other registry numbers.
        make.rng, make.seq = random.Random(), itertools.count(next(_batches) * 1000)
        w = world(session, make)
        cls = w.past_session()
        return Family(w.parent.headers, w.staff.headers, w.course.id, cls.id)


def enrolled(client: FlaskClient, family: Family) -> dict[str, Any]:
    resp = client.post("/api/v1/enrollments", headers=family.parent, json={
        "course_id": family.course_id, "student_name": "小明", "student_grade": 7,
        "class_hours": HOURS})
    assert resp.status_code == 201, resp.json
    assert resp.headers[HEADER] == "primary"  # a write is never routed
    return dict(resp.json)


def paid(client: FlaskClient, enrollment: dict[str, Any]) -> None:
    """The trustee's deposit notice, through the API (paid yesterday, before the class)."""
    event = deposit_event(enrollment["payment_reference"], enrollment["amount_fen"])
    event["received_at"] = (clock.local_now() - dt.timedelta(days=1)).isoformat()
    resp = signed_post(client, event)
    assert resp.status_code == 200 and resp.json["outcome"] == "applied", resp.json


def escrow(client: FlaskClient, headers: dict[str, str], enrollment_id: int) -> TestResponse:
    return client.get(f"/api/v1/enrollments/{enrollment_id}/escrow", headers=headers)


@pytest.fixture
def replica_admin(pair: Pair) -> Iterator[Engine]:
    engine = make_engine(pair.replica_url).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def test_a_parents_escrow_read_is_served_by_the_replica_and_is_right(
        replica_app: Flask) -> None:
    client = replica_app.test_client()
    family = arranged(replica_app)
    e = enrolled(client, family)
    paid(client, e)
    resp = escrow(client, family.parent, e["id"])
    assert resp.status_code == 200
    assert resp.headers[HEADER] == "replica"
    assert resp.json["held_fen"] == resp.json["paid_fen"] == PRICE * HOURS


def test_a_write_is_visible_to_its_author_at_once_even_while_the_replica_replays_nothing(
        replica_app: Flask, replica_admin: Engine) -> None:
    client = replica_app.test_client()
    family = arranged(replica_app)
    e = enrolled(client, family)
    paid(client, e)
    with replica_admin.connect() as admin:
        admin.execute(text("SELECT pg_wal_replay_pause()"))
        try:
            # The institution posts attendance, and reads the enrollment's money at once.
            posted = client.post(f"/api/v1/sessions/{family.class_id}/attendance",
                                 headers=family.staff,
                                 json={"enrollment_ids": [e["id"]], "class_hours": 2})
            assert posted.status_code == 201, posted.json
            assert posted.headers[HEADER] == "primary"
            after = escrow(client, family.staff, e["id"])
            assert after.status_code == 200 and after.headers[HEADER] == "primary"
            assert after.json["pending_confirmation_fen"] == 2 * PRICE
            assert after.json["held_fen"] == (HOURS - 2) * PRICE
            # A parent enrolls again: the new enrollment exists on the primary only, and its
            # author reads it without a 404.
            again = enrolled(client, family)
            assert admin.scalar(text("SELECT count(*) FROM enrollments WHERE id = :id"),
                                {"id": again["id"]}) == 0
            fresh = escrow(client, family.parent, again["id"])
            assert fresh.status_code == 200 and fresh.headers[HEADER] == "primary"
            assert fresh.json["paid_fen"] == 0
        finally:
            admin.execute(text("SELECT pg_wal_replay_resume()"))
    # Replay resumed: the same read goes back to the replica, with the same answer.
    assert wait_for(lambda: escrow(client, family.staff, e["id"]).headers[HEADER] == "replica")
    assert escrow(client, family.staff, e["id"]).json == after.json


def test_a_replica_going_away_is_skipped_for_the_primary_without_an_error(
        pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate(pair.replica_url)
    gate.open()
    with live_app(pair.primary_url, DATABASE_REPLICA_URL=gate.url) as app:
        router = tuned(router_of(app))
        router.failure_skip_seconds = 0.5
        client = app.test_client()
        try:
            family = arranged(app)
            e = enrolled(client, family)
            paid(client, e)
            assert escrow(client, family.parent, e["id"]).headers[HEADER] == "replica"
            gate.shut()  # its connections cut, new ones refused
            caplog.set_level(logging.INFO, logger="supervision.web.replica")
            for _ in range(3):
                resp = escrow(client, family.parent, e["id"])
                assert resp.status_code == 200 and resp.headers[HEADER] == "primary"
                assert resp.json["held_fen"] == PRICE * HOURS
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1  # rate-limited: one while it stays away
            assert "read replica cannot be used" in warnings[0].getMessage()
            gate.open()
            assert wait_for(
                lambda: escrow(client, family.parent, e["id"]).headers[HEADER] == "replica")
            assert any("answers again" in r.getMessage() for r in caplog.records)
        finally:
            gate.shut()
            router.dispose()


@pytest.fixture(scope="module")
def demo(pair: Pair) -> None:
    with live_app(pair.primary_url) as app, unit(app) as session:
        seed_demo(session)


def test_every_view_that_opts_in_reads_from_the_replica_and_writes_nothing(
        demo: None, replica_app: Flask) -> None:
    """Every page and API read that opted in, signed in as the demo's people: each answers 200
    from the replica, which would have refused any write with an error. POSTs to the same
    views stay on the primary."""
    api = replica_app.test_client()
    zhang = {"Authorization": "Bearer demo-parent-zhang"}
    mine = api.get("/api/v1/enrollments", headers=zhang)
    assert mine.status_code == 200 and mine.json, mine.json
    e = mine.json[0]
    with unit(replica_app) as session:
        tip = session.scalars(select(Tip.reference)).first()
    assert tip is not None

    console = Browser(replica_app.test_client())
    assert console.sign_in("demo-regulator-wuxi").status_code == 302
    phone = replica_app.test_client()
    csrf = csrf_of(phone.get("/parent/signin").get_data(as_text=True))
    assert phone.post("/parent/signin", data={"csrf_token": csrf, "token": "demo-parent-zhang",
                                              "next": ""}).status_code == 302
    public = replica_app.test_client()

    enrollment, course, institution = e["id"], e["course_id"], e["institution_id"]
    visits: dict[str, tuple[FlaskClient, str, dict[str, str]]] = {
        "escrow_enrollments.Enrollments": (api, "/api/v1/enrollments", zhang),
        "escrow_enrollments.EnrollmentOne": (api, f"/api/v1/enrollments/{enrollment}", zhang),
        "escrow_enrollments.EnrollmentEscrow": (
            api, f"/api/v1/enrollments/{enrollment}/escrow", zhang),
        "escrow_consumptions.Consumptions": (api, "/api/v1/consumptions", zhang),
        "public.PublicInstitutions": (api, "/api/v1/public/institutions?q=锡心", {}),
        "public.PublicInstitution": (api, f"/api/v1/public/institutions/{institution}", {}),
        "console.institutions": (console.client, "/console/institutions", {}),
        "console.queue": (console.client, "/console/flags", {}),
        "console.complaints_queue": (console.client, "/console/complaints", {}),
        "console.tips_queue": (console.client, "/console/tips", {}),
        "console.risk_page": (console.client, "/console/risk", {}),
        "parent.enrollments": (phone, "/parent/enrollments", {}),
        "parent.enrollment": (phone, f"/parent/enrollments/{enrollment}", {}),
        "parent.enroll": (phone, f"/parent/courses/{course}/enroll", {}),
        "parent.complaint": (phone, f"/parent/enrollments/{enrollment}/complaint", {}),
        "parent.review": (phone, f"/parent/enrollments/{enrollment}/review", {}),
        "lookup.search": (public, "/public/?q=锡心", {}),
        "lookup.institution": (public, f"/public/institutions/{institution}", {}),
        "lookup.tip_check": (public, f"/public/tips/check?reference={tip}", {}),
    }
    routed = {rule.endpoint for rule in replica_app.url_map.iter_rules()
              if opted_in(replica_app, rule.endpoint)}
    assert routed == set(visits), "a view that opts in needs a visit here"
    answers = {}
    for endpoint, (client, url, headers) in visits.items():
        resp = client.get(url, headers=headers)
        answers[endpoint] = (resp.status_code, resp.headers.get(HEADER))
        head = client.head(url, headers=headers)
        assert (head.status_code, head.headers.get(HEADER)) == answers[endpoint], endpoint
    assert answers == dict.fromkeys(visits, (200, "replica"))

    # Views that did not opt in, and POSTs to views that did, read and write on the primary.
    assert console.get("/console/dashboard").headers[HEADER] == "primary"
    posted = api.post("/api/v1/enrollments", headers=zhang, json={
        "course_id": course, "student_name": "小红", "student_grade": 7, "class_hours": 2})
    assert posted.status_code == 201 and posted.headers[HEADER] == "primary"
