"""Reviewing flags over HTTP: the state machine of API.md §5, responses, lists and scoping."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.scope import SYSTEM
from supervision.api.compliance import today
from supervision.compliance.flags import raise_flag
from supervision.compliance.workflow import STATUSES, TRANSITIONS
from supervision.models import AuditLog, Flag, FlagEvent, Institution, OutboxMessage

from ..support.factories import Factory

FUTURE = (clock.today() + dt.timedelta(days=30)).isoformat()
EXPECTED = {  # API.md §5, written out again so the table in the code is checked, not copied
    ("acknowledge", "open"): "acknowledged",
    ("order_rectification", "open"): "rectification_ordered",
    ("order_rectification", "acknowledged"): "rectification_ordered",
    ("resolve", "acknowledged"): "resolved",
    ("resolve", "rectification_submitted"): "resolved",
    ("dismiss", "open"): "dismissed",
    ("dismiss", "acknowledged"): "dismissed",
    ("dismiss", "rectification_ordered"): "dismissed",
    ("dismiss", "rectification_submitted"): "dismissed",
    ("reopen", "resolved"): "open",
    ("reopen", "dismissed"): "open",
    ("reopen", "cleared"): "open",
}


def flag_of(db: Session, institution: Institution | None, *, status: str = "open",
            rule: str = "LATE_END_OFFLINE", subject_id: str = "1", severity: str = "medium",
            due_on: dt.date | None = None) -> Flag:
    flag = raise_flag(db, SYSTEM, rule=rule, severity=severity,
                      institution_id=institution.id if institution else None,
                      subject_type="session", subject_id=subject_id,
                      summary="20:45结束，晚于20:30", evidence={"ends_at_local": "20:45"})
    flag.status = status
    flag.due_on = due_on or (clock.today() + dt.timedelta(days=3)
                             if status in ("rectification_ordered",
                                           "rectification_submitted") else None)
    db.flush()
    return flag


def body_for(action: str) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action, "note": "已核实"}
    if action == "order_rectification":
        body["due_on"] = FUTURE
    return body


@pytest.fixture
def regulator(make: Factory) -> dict[str, str]:
    return make.headers("regulator", name="无锡市教育局")


@pytest.mark.parametrize("action", list(TRANSITIONS))
@pytest.mark.parametrize("status", STATUSES)
def test_every_action_from_every_status_follows_the_table(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str],
        action: str, status: str) -> None:
    flag = flag_of(db, make.institution(), status=status)
    resp = client.post(f"/api/v1/flags/{flag.id}/actions", headers=regulator,
                       json=body_for(action))
    target = EXPECTED.get((action, status))
    db.expire_all()
    if target is None:
        assert resp.status_code == 409, resp.json
        assert resp.json["code"] == 409
        assert db.get(Flag, flag.id).status == status  # type: ignore[union-attr]
    else:
        assert resp.status_code == 200, resp.json
        assert resp.json["status"] == target
        assert resp.json["history"][-1]["action"] == action
        assert db.get(Flag, flag.id).status == target  # type: ignore[union-attr]


def test_the_code_table_is_exactly_the_contracts() -> None:
    pairs = {(a, s): target for a, (sources, target) in TRANSITIONS.items() for s in sources}
    assert pairs == EXPECTED


def test_a_transition_is_written_to_history_audit_and_outbox(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    flag = flag_of(db, make.institution())
    resp = client.post(f"/api/v1/flags/{flag.id}/actions", headers=regulator,
                       json={"action": "order_rectification", "note": "限期整改",
                             "due_on": FUTURE})
    assert resp.status_code == 200
    assert resp.json["due_on"] == FUTURE and resp.json["overdue"] is False
    last = resp.json["history"][-1]
    assert last["from_status"] == "open" and last["to_status"] == "rectification_ordered"
    assert last["note"] == "限期整改" and last["actor"].startswith("regulator:无锡市教育局")
    audit = db.scalars(select(AuditLog).where(AuditLog.entity == "flags",
                                              AuditLog.entity_id == str(flag.id),
                                              AuditLog.action == "flag.order_rectification"))
    assert audit.one().changes["status"] == ["open", "rectification_ordered"]
    message = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "flag.action")).one()
    assert message.payload["action"] == "order_rectification"
    assert message.payload["due_on"] == FUTURE


def test_dismissing_without_a_note_is_422_and_changes_nothing(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    flag = flag_of(db, make.institution())
    for body in ({"action": "dismiss"}, {"action": "dismiss", "note": "   "},
                 {"action": "dismiss", "note": None}):
        resp = client.post(f"/api/v1/flags/{flag.id}/actions", headers=regulator, json=body)
        assert resp.status_code == 422
        assert "note" in resp.json["errors"]
    db.expire_all()
    assert db.get(Flag, flag.id).status == "open"  # type: ignore[union-attr]
    assert db.scalars(select(FlagEvent).where(FlagEvent.flag_id == flag.id,
                                              FlagEvent.action == "dismiss")).all() == []


def test_ordering_rectification_needs_a_due_date_not_in_the_past(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    flag = flag_of(db, make.institution())
    url = f"/api/v1/flags/{flag.id}/actions"
    missing = client.post(url, headers=regulator, json={"action": "order_rectification"})
    assert missing.status_code == 422 and "due_on" in missing.json["errors"]
    past = (today() - dt.timedelta(days=1)).isoformat()
    late = client.post(url, headers=regulator,
                       json={"action": "order_rectification", "due_on": past})
    assert late.status_code == 422 and "due_on" in late.json["errors"]
    stray = client.post(url, headers=regulator, json={"action": "acknowledge", "due_on": FUTURE})
    assert stray.status_code == 422 and "due_on" in stray.json["errors"]


@pytest.mark.parametrize("body", [
    {"action": "close"}, {"action": "acknowledge", "status": "resolved"}, {},
    {"action": "acknowledge", "note": "x" * 2001},
])
def test_a_malformed_action_is_422(client: FlaskClient, make: Factory, db: Session,
                                   regulator: dict[str, str], body: dict[str, Any]) -> None:
    flag = flag_of(db, make.institution())
    resp = client.post(f"/api/v1/flags/{flag.id}/actions", headers=regulator, json=body)
    assert resp.status_code == 422


def test_the_institution_responds_to_an_order_and_the_regulator_resolves(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    school = make.institution()
    own = make.headers("institution", institution=school)
    flag = flag_of(db, school)
    client.post(f"/api/v1/flags/{flag.id}/actions", headers=regulator,
                json=body_for("order_rectification"))
    resp = client.post(f"/api/v1/flags/{flag.id}/responses", headers=own,
                       json={"note": "已将课程结束时间调整为20:00"})
    assert resp.status_code == 201
    assert resp.json["status"] == "rectification_submitted"
    assert resp.json["history"][-1]["action"] == "respond"
    assert resp.json["history"][-1]["actor"].startswith("institution:")
    done = client.post(f"/api/v1/flags/{flag.id}/actions", headers=regulator,
                       json={"action": "resolve", "note": "核查属实"})
    assert done.status_code == 200 and done.json["status"] == "resolved"
    actions = [h["action"] for h in done.json["history"]]
    assert actions == ["detected", "order_rectification", "respond", "resolve"]


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "rectification_ordered"])
def test_a_response_is_409_unless_rectification_was_ordered(
        client: FlaskClient, make: Factory, db: Session, status: str) -> None:
    school = make.institution()
    flag = flag_of(db, school, status=status)
    resp = client.post(f"/api/v1/flags/{flag.id}/responses",
                       headers=make.headers("institution", institution=school),
                       json={"note": "已整改"})
    assert resp.status_code == 409


def test_a_response_without_a_note_is_422(client: FlaskClient, make: Factory,
                                          db: Session) -> None:
    school = make.institution()
    flag = flag_of(db, school, status="rectification_ordered")
    resp = client.post(f"/api/v1/flags/{flag.id}/responses",
                       headers=make.headers("institution", institution=school), json={})
    assert resp.status_code == 422 and "note" in resp.json["errors"]


def test_only_regulators_act_and_only_institutions_respond(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    school = make.institution()
    flag = flag_of(db, school, status="rectification_ordered")
    own = make.headers("institution", institution=school)
    assert client.post(f"/api/v1/flags/{flag.id}/actions", headers=own,
                       json=body_for("dismiss")).status_code == 403
    assert client.post(f"/api/v1/flags/{flag.id}/responses", headers=regulator,
                       json={"note": "x"}).status_code == 403


def test_parents_may_not_see_flags_at_all(client: FlaskClient, make: Factory,
                                          db: Session) -> None:
    flag = flag_of(db, make.institution())
    parent = make.headers("parent")
    assert client.get("/api/v1/flags", headers=parent).status_code == 403
    assert client.get(f"/api/v1/flags/{flag.id}", headers=parent).status_code == 403
    assert client.post(f"/api/v1/flags/{flag.id}/responses", headers=parent,
                       json={"note": "x"}).status_code == 403


def test_a_district_regulator_sees_only_its_districts_flags(
        client: FlaskClient, make: Factory, db: Session) -> None:
    liangxi, binhu = make.institution(district_code="320213"), make.institution(
        district_code="320211")
    mine, theirs = flag_of(db, liangxi, subject_id="1"), flag_of(db, binhu, subject_id="2")
    system = flag_of(db, None, rule="CALENDAR_DATA_MISSING", subject_id="2027")
    district = make.headers("regulator", district_code="320213")
    listed = client.get("/api/v1/flags", headers=district)
    assert [f["id"] for f in listed.json] == [mine.id]
    assert client.get(f"/api/v1/flags/{theirs.id}", headers=district).status_code == 404
    assert client.get(f"/api/v1/flags/{system.id}", headers=district).status_code == 404
    assert client.post(f"/api/v1/flags/{theirs.id}/actions", headers=district,
                       json=body_for("acknowledge")).status_code == 404
    city = make.headers("regulator")
    assert {f["id"] for f in client.get("/api/v1/flags", headers=city).json} >= {
        mine.id, theirs.id, system.id}


def test_an_institution_sees_only_its_own_flags(client: FlaskClient, make: Factory,
                                                db: Session) -> None:
    school, other = make.institution(), make.institution()
    mine, theirs = flag_of(db, school, subject_id="1"), flag_of(db, other, subject_id="2",
                                                                status="rectification_ordered")
    own = make.headers("institution", institution=school)
    assert [f["id"] for f in client.get("/api/v1/flags", headers=own).json] == [mine.id]
    assert client.get(f"/api/v1/flags/{theirs.id}", headers=own).status_code == 404
    assert client.post(f"/api/v1/flags/{theirs.id}/responses", headers=own,
                       json={"note": "x"}).status_code == 404
    assert client.get(f"/api/v1/flags/{mine.id}", headers=own).status_code == 200


def test_a_flag_reads_with_every_field_of_the_contract(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    flag = flag_of(db, make.institution())
    resp = client.get(f"/api/v1/flags/{flag.id}", headers=regulator)
    assert resp.status_code == 200
    assert set(resp.json) >= {"id", "rule", "severity", "status", "institution_id",
                              "subject_type", "subject_id", "summary", "evidence",
                              "first_detected_at", "last_detected_at", "due_on", "overdue",
                              "history"}
    assert resp.json["title"] == "线下培训结束时间晚于20:30"
    assert resp.json["first_detected_at"].endswith("+08:00")
    assert resp.json["history"] == [{"at": resp.json["history"][0]["at"],
                                     "actor": "system:system", "action": "detected",
                                     "note": None, "from_status": None, "to_status": "open"}]
    assert client.get("/api/v1/flags/999999999", headers=regulator).status_code == 404


def test_flags_filter_by_status_severity_rule_district_and_institution(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    a, b = make.institution(district_code="320213"), make.institution(district_code="320211")
    f1 = flag_of(db, a, subject_id="1", severity="critical", rule="STAFF_BLACKLISTED")
    f2 = flag_of(db, a, subject_id="2", status="acknowledged")
    f3 = flag_of(db, b, subject_id="3")

    def ids(query: str) -> list[int]:
        resp = client.get(f"/api/v1/flags?{query}", headers=regulator)
        assert resp.status_code == 200, resp.json
        return [f["id"] for f in resp.json if f["id"] in {f1.id, f2.id, f3.id}]

    assert ids("") == [f1.id, f3.id, f2.id]  # critical first, then most recently detected
    assert ids("status=acknowledged") == [f2.id]
    assert ids("severity=critical") == [f1.id]
    assert ids("rule=LATE_END_OFFLINE") == sorted([f2.id, f3.id], reverse=True)
    assert set(ids("district_code=320211")) == {f3.id}
    assert set(ids(f"institution_id={a.id}")) == {f1.id, f2.id}
    assert client.get("/api/v1/flags?status=closed", headers=regulator).status_code == 422
    assert client.get("/api/v1/flags?page_size=101", headers=regulator).status_code == 422
    paged = client.get(f"/api/v1/flags?institution_id={a.id}&page_size=1", headers=regulator)
    assert len(paged.json) == 1 and json.loads(paged.headers["X-Pagination"])["total"] == 2


def test_overdue_means_rectification_ordered_and_due_before_today_in_shanghai(
        client: FlaskClient, make: Factory, db: Session, regulator: dict[str, str]) -> None:
    school = make.institution()
    yesterday, now = today() - dt.timedelta(days=1), today()
    late = flag_of(db, school, subject_id="1", status="rectification_ordered", due_on=yesterday)
    due_today = flag_of(db, school, subject_id="2", status="rectification_ordered", due_on=now)
    submitted = flag_of(db, school, subject_id="3", status="rectification_submitted",
                        due_on=yesterday)
    got = {f["id"]: f["overdue"] for f in client.get(
        f"/api/v1/flags?institution_id={school.id}", headers=regulator).json}
    assert got == {late.id: True, due_today.id: False, submitted.id: False}
    overdue = client.get(f"/api/v1/flags?institution_id={school.id}&overdue=true",
                         headers=regulator)
    assert [f["id"] for f in overdue.json] == [late.id]
    not_overdue = client.get(f"/api/v1/flags?institution_id={school.id}&overdue=false",
                             headers=regulator)
    assert {f["id"] for f in not_overdue.json} == {due_today.id, submitted.id}
