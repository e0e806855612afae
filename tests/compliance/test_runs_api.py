"""Compliance runs over HTTP and the command line, and against the real rulebook."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.scope import SYSTEM
from supervision.compliance import runs
from supervision.compliance.model import Finding
from supervision.models import Flag

from ..support.factories import SHANGHAI, Factory

AS_OF = dt.datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def regulator(make: Factory) -> dict[str, str]:
    return make.headers("regulator", name="无锡市教育局")


@pytest.fixture
def findings(monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    found: list[Finding] = [Finding("LICENSE_EXPIRING", "low", None, "institution", "1",
                                    "办学许可证即将到期", {})]
    monkeypatch.setattr(runs, "evaluate_all", lambda session, window: iter(list(found)))
    return found


def test_a_regulator_starts_a_run_and_reads_it_back(client: FlaskClient,
                                                    regulator: dict[str, str],
                                                    findings: list[Finding]) -> None:
    resp = client.post("/api/v1/compliance/runs", headers=regulator,
                       json={"as_of": AS_OF.isoformat(), "horizon_days": 14,
                             "lookback_days": 1})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert set(body) >= {"id", "as_of", "started_at", "finished_at", "sessions_scanned",
                         "flags_opened", "flags_cleared", "flags_open"}
    assert body["as_of"] == "2026-12-02T09:00:00+08:00"
    assert body["window_start"] == "2026-12-01T09:00:00+08:00"
    assert body["window_end"] == "2026-12-16T09:00:00+08:00"
    assert (body["flags_opened"], body["flags_cleared"], body["flags_open"]) == (1, 0, 1)
    assert body["by_rule"] == [{"rule": "LICENSE_EXPIRING", "title": "办学许可证即将到期",
                                "count": 1}]
    assert body["triggered_by"].startswith("regulator:无锡市教育局")
    again = client.get(f"/api/v1/compliance/runs/{body['id']}", headers=regulator)
    assert again.status_code == 200 and again.json == body
    assert client.get("/api/v1/compliance/runs", headers=regulator).json[0]["id"] == body["id"]


def test_a_run_without_a_body_uses_now_and_the_default_window(
        client: FlaskClient, regulator: dict[str, str], findings: list[Finding]) -> None:
    resp = client.post("/api/v1/compliance/runs", headers=regulator, json={})
    assert resp.status_code == 201
    assert (resp.json["horizon_days"], resp.json["lookback_days"]) == (30, 7)
    as_of = dt.datetime.fromisoformat(resp.json["as_of"])
    assert abs((as_of - clock.now()).total_seconds()) < 60


@pytest.mark.parametrize("body", [
    {"as_of": "2026-12-02T09:00:00"},  # no offset
    {"as_of": "9999-12-31T23:00:00+08:00"},
    {"horizon_days": -1}, {"lookback_days": 400}, {"horizon_days": "30"},
    {"as_of": "2026-12-02T09:00:00+08:00", "flags_open": 0},
])
def test_a_bad_run_request_is_422(client: FlaskClient, regulator: dict[str, str],
                                  findings: list[Finding], body: dict[str, Any]) -> None:
    resp = client.post("/api/v1/compliance/runs", headers=regulator, json=body)
    assert resp.status_code == 422
    assert resp.json["errors"]


def test_only_regulators_run_the_engine(client: FlaskClient, make: Factory,
                                        regulator: dict[str, str],
                                        findings: list[Finding]) -> None:
    school = make.institution()
    for headers in (make.headers("institution", institution=school), make.headers("parent")):
        assert client.post("/api/v1/compliance/runs", headers=headers,
                           json={}).status_code == 403
        assert client.get("/api/v1/compliance/runs/1", headers=headers).status_code == 403
    assert client.get("/api/v1/compliance/runs/987654", headers=regulator).status_code == 404


def test_the_command_runs_once_and_prints_a_summary(runner: FlaskCliRunner, db: Session,
                                                    findings: list[Finding]) -> None:
    result = runner.invoke(args=["compliance", "run", "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    assert "as_of 2026-12-02T09:00:00+08:00" in result.output
    assert "新开 flags_opened=1" in result.output
    assert "办学许可证即将到期" in result.output
    assert db.scalars(select(Flag)).one().rule == "LICENSE_EXPIRING"
    naive = runner.invoke(args=["compliance", "run", "--as-of", "2026-12-02T09:00:00"])
    assert naive.exit_code != 0 and "offset" in naive.output


def test_the_real_rulebook_flags_a_weekend_class_and_clears_it_once_moved(
        db: Session, make: Factory) -> None:
    school = make.institution()
    course = make.course(school)  # subject-type maths for grades 7-8
    saturday = make.session_of(course, make.teacher(school),
                               starts_at=dt.datetime(2026, 12, 5, 9, 0, tzinfo=SHANGHAI))
    first = runs.run_compliance(db, SYSTEM, as_of=AS_OF)
    weekend = db.scalars(select(Flag).where(Flag.rule == "SUBJECT_ON_WEEKEND")).one()
    assert (weekend.subject_type, weekend.subject_id) == ("session", str(saturday.id))
    assert weekend.severity == "high" and weekend.institution_id == school.id
    assert first.sessions_scanned == 1 and first.by_rule["SUBJECT_ON_WEEKEND"] == 1

    again = runs.run_compliance(db, SYSTEM, as_of=AS_OF + dt.timedelta(hours=1))
    assert again.flags_opened == 0

    moved = dt.datetime(2026, 12, 9, 18, 0, tzinfo=SHANGHAI)  # a Wednesday evening
    saturday.starts_at, saturday.ends_at = moved, moved + dt.timedelta(minutes=90)
    db.flush()
    fixed = runs.run_compliance(db, SYSTEM, as_of=AS_OF + dt.timedelta(hours=2))
    assert fixed.flags_cleared >= 1
    db.refresh(weekend)
    assert weekend.status == "cleared"
