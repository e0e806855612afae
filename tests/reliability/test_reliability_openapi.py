"""The OpenAPI document tells the truth about errors (what scripts/schemathesis checks at
length, here in the suite): every operation lists the statuses it really answers, with the
one error body, no catch-all `default`; the documented timestamp is the accepted one; and
gunicorn's own refusals (a request line too long) come in that body too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ..support.databases import create_schema
from ..support.escrow_world import world
from ..support.factories import Factory
from ..support.servers import prod_server

METHODS = ("get", "post", "put", "patch", "delete")
TYPES = {"integer": int, "string": str, "object": dict}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS]


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    return dict(client.get("/api/v1/openapi.json").json)


def test_no_operation_hides_its_errors_behind_a_default_response(spec: dict[str, Any]) -> None:
    assert [f"{m} {p}" for p, m, op in operations(spec) if "default" in op["responses"]] == []


def test_every_operation_documents_401_and_414_and_every_write_409_413_and_422(
        spec: dict[str, Any]) -> None:
    missing = []
    for path, method, op in operations(spec):
        needed = {"401", "414"} | ({"409", "413", "422"} if method != "get" else set())
        needed |= {"404"} if "{" in path else set()
        needed |= {"400"} if "requestBody" in op else set()
        needed |= set() if path.endswith("/trustee/events") else {"429"}
        if needed - set(op["responses"]):
            missing.append(f"{method} {path}: {sorted(needed - set(op['responses']))}")
    assert missing == []


def test_403_is_documented_exactly_where_a_role_is_left_out(spec: dict[str, Any]) -> None:
    ops = {f"{m} {p}": op["responses"] for p, m, op in operations(spec)}
    assert "403" in ops["post /api/v1/institutions"]  # regulators only
    assert "403" in ops["post /api/v1/enrollments"]  # parents only
    assert "403" not in ops["get /api/v1/me"]  # every role
    assert "403" not in ops["get /api/v1/enrollments/{enrollment_id}/escrow"]
    assert "403" not in ops["post /api/v1/trustee/events"]  # signed, no roles
    assert "429" not in ops["post /api/v1/trustee/events"]  # never rate limited


def _conforms(body: Any, schema: dict[str, Any]) -> list[str]:
    problems = [f"missing {k}" for k in schema["required"] if k not in body]
    for key, value in body.items():
        prop = schema["properties"].get(key)
        if prop is None:
            problems.append(f"undocumented {key}")
        elif not isinstance(value, TYPES[prop["type"]]):
            problems.append(f"{key} is not {prop['type']}")
    return problems


def test_real_401_403_404_409_and_422_bodies_match_the_documented_error_schema(
        client: FlaskClient, db: Session, make: Factory, spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["Error"]
    assert schema["additionalProperties"] is False
    w = world(db, make)
    enrollment = w.enroll(client, hours=10)
    answers = {
        401: client.get("/api/v1/me"),
        403: client.post("/api/v1/institutions", headers=w.parent.headers, json={}),
        404: client.get("/api/v1/enrollments/999999", headers=w.parent.headers),
        409: client.post(f"/api/v1/institutions/{w.institution.id}/status",
                         headers=w.regulator.headers,
                         json={"status": "active", "reason": "已经是正常状态"}),
        422: client.post("/api/v1/enrollments", headers=w.parent.headers, json={
            "course_id": w.course.id, "student_name": "小明", "student_grade": 7,
            "class_hours": 61}),
    }
    for status, resp in answers.items():
        assert resp.status_code == status, (status, resp.json)
        assert _conforms(resp.json, schema) == [], (status, resp.json)
    assert answers[422].json["rule"] == "PREPAY_OVER_HOURS"
    assert enrollment["status"] == "awaiting_payment"


@pytest.mark.parametrize("value,accepted", [
    ("2026-12-07T19:00:00+08:00", True), ("2026-12-07T11:00:00Z", True),
    ("2026-12-07T19:00:00.250+08:00", True), ("2026-12-07T19:00+08:00", False),
    ("2026-12-07 19:00:00+08:00", False), ("20261207T190000+0800", False),
    ("2026-12-07T19:00:00+08", False), ("2026-12-07T19:00:00", False),
    ("0001-01-01T00:00:00+08:00", False), ("9999-12-31T23:59:59+00:00", False),
])
def test_the_documented_timestamp_pattern_is_exactly_what_the_api_accepts(
        client: FlaskClient, db: Session, make: Factory, spec: dict[str, Any], value: str,
        accepted: bool) -> None:
    pattern = spec["components"]["schemas"]["SessionIn"]["properties"]["starts_at"]["pattern"]
    assert bool(re.match(pattern, value)) is accepted
    w = world(db, make)
    resp = client.get("/api/v1/sessions", query_string={"from": value},
                      headers=w.staff.headers)
    assert resp.status_code == (200 if accepted else 422), resp.json


@pytest.mark.slow
@pytest.mark.other_processes
def test_gunicorn_refuses_a_request_line_over_8190_bytes_with_the_error_body(
        tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    create_schema(url)
    with prod_server(url, tmp_path, SUPERVISION_WEB_CONCURRENCY="1") as server:
        base = server.base
        # Past gunicorn's default (4094) but within ours: the app answers (401, no token).
        passed = requests.get(f"{base}/api/v1/flags?q={'x' * 6000}", timeout=10)
        assert passed.status_code == 401, passed.text[:200]
        refused = requests.get(f"{base}/api/v1/flags?q={'x' * 9000}", timeout=10)
        assert refused.status_code == 414
        assert refused.headers["Content-Type"] == "application/json"
        body = refused.json()
        assert body["code"] == 414 and body["errors"] == {} and body["message"]
