"""Operations endpoints: /healthz, /readyz and /metrics (API.md §8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from supervision import create_app
from supervision.models import Flag
from supervision.notify import enqueue

from ..support.factories import Factory

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse the exposition (a malformed one raises) into {(name, labels): value}."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


@pytest.fixture
def broken_app() -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": UNREACHABLE_DB, "TESTING": True})
    yield app
    app.extensions["supervision.engine"].dispose()


def test_readyz_is_503_when_the_database_is_unreachable_while_healthz_stays_200(
        broken_app: Flask) -> None:
    client = broken_app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200


@pytest.mark.fresh_app
def test_metrics_answer_in_prometheus_text_format_with_requests_by_url_rule(
        app: Flask, client: FlaskClient, make: Factory) -> None:
    app.add_url_rule("/api/v1/_probe/<int:item_id>", "probe", lambda item_id: {"id": item_id})
    for item in (101, 202, 303):
        assert client.get(f"/api/v1/_probe/{item}").status_code == 200
    client.get("/api/v1/me", headers=make.headers("parent"))
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    assert value(text, "flask_http_request_duration_seconds_count", method="GET",
                 status="200", url_rule="/api/v1/_probe/<int:item_id>") == 3
    assert value(text, "flask_http_request_duration_seconds_count", method="GET",
                 status="200", url_rule="/api/v1/me") == 1
    assert "/api/v1/_probe/101" not in text  # one series per rule, not per id
    assert 'url_rule="/metrics"' not in text  # the scrape does not count itself


def test_metrics_report_the_outbox_backlog_and_outstanding_flags_at_scrape_time(
        client: FlaskClient, db: Session) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    assert value(before, "supervision_database_up") == 1
    backlog = value(before, "supervision_outbox_backlog") or 0
    high = value(before, "supervision_flags_outstanding", severity="high") or 0
    enqueue(db, "flag.opened", {"flag_id": 1})
    enqueue(db, "flag.opened", {"flag_id": 2})
    db.add(Flag(rule="TEST_RULE", severity="high", subject_type="test", subject_id="1",
                summary="test", evidence={}))
    db.add(Flag(rule="TEST_RULE", severity="high", subject_type="test", subject_id="2",
                summary="test", evidence={}, status="dismissed"))
    db.flush()
    after = client.get("/metrics").get_data(as_text=True)
    assert value(after, "supervision_outbox_backlog") == backlog + 2
    assert (value(after, "supervision_outbox_oldest_age_seconds") or 0) >= 0
    assert value(after, "supervision_flags_outstanding", severity="high") == high + 1


def test_metrics_still_answer_when_the_database_is_down(broken_app: Flask) -> None:
    resp = broken_app.test_client().get("/metrics")
    assert resp.status_code == 200
    assert value(resp.get_data(as_text=True), "supervision_database_up") == 0
