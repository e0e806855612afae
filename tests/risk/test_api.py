"""API.md §12 over HTTP: the ranked list, one institution's score and history, runs; scope."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.models import AuditLog, Institution
from supervision.models.risk import RiskRun
from supervision.risk import score_institutions
from tests.support.factories import Factory

from .planting import AS_OF, DAY, Planter

LIANGXI, YIXING = "320213", "320282"


@pytest.fixture
def plant(db: Session, make: Factory) -> Planter:
    return Planter(db, make)


def scored_city(db: Session, plant: Planter) -> dict[str, int]:
    """Three institutions in two districts, scored 10 (梁溪), 25 (梁溪) and 0 (宜兴)."""
    low = plant.institution(district_code=LIANGXI, name="梁溪低分机构")
    higher = plant.institution(district_code=LIANGXI, name="梁溪较高机构")
    other = plant.institution(district_code=YIXING, name="宜兴机构")
    plant.complaints(low, 5)
    plant.refunds(higher, 6)
    score_institutions(db, SYSTEM, as_of=AS_OF)
    return {"low": low.id, "higher": higher.id, "other": other.id}


def test_a_city_regulator_sees_every_score_highest_first_with_the_contract_fields(
        client: FlaskClient, db: Session, make: Factory, plant: Planter) -> None:
    ids = scored_city(db, plant)
    resp = client.get("/api/v1/risk/institutions", headers=make.headers("regulator"))
    assert resp.status_code == 200
    assert [(r["institution_id"], r["score"]) for r in resp.json] == [
        (ids["higher"], 25), (ids["low"], 10), (ids["other"], 0)]
    first = resp.json[0]
    assert set(first) == {"institution_id", "name", "score", "level", "factors", "computed_at"}
    assert first["name"] == "梁溪较高机构" and first["level"] == "low"
    assert set(first["factors"][0]) == {"code", "value", "contribution", "explanation"}
    assert sum(f["contribution"] for f in first["factors"]) == first["score"]


def test_the_list_filters_by_district_and_level_and_pages(
        client: FlaskClient, db: Session, make: Factory, plant: Planter) -> None:
    ids = scored_city(db, plant)
    city = make.headers("regulator")
    resp = client.get(f"/api/v1/risk/institutions?district_code={YIXING}", headers=city)
    assert [r["institution_id"] for r in resp.json] == [ids["other"]]
    assert client.get("/api/v1/risk/institutions?level=high", headers=city).json == []
    page = client.get("/api/v1/risk/institutions?page=2&page_size=2", headers=city)
    assert [r["institution_id"] for r in page.json] == [ids["other"]]
    assert '"total": 3' in page.headers["X-Pagination"]
    assert client.get("/api/v1/risk/institutions?level=severe",
                      headers=city).status_code == 422


def test_a_district_regulator_sees_only_its_district(
        client: FlaskClient, db: Session, make: Factory, plant: Planter) -> None:
    ids = scored_city(db, plant)
    resp = client.get("/api/v1/risk/institutions",
                      headers=make.headers("regulator", district_code=YIXING))
    assert [r["institution_id"] for r in resp.json] == [ids["other"]]
    # Asking for another district's list is no way round the scope.
    resp = client.get(f"/api/v1/risk/institutions?district_code={LIANGXI}",
                      headers=make.headers("regulator", district_code=YIXING))
    assert resp.status_code == 200 and resp.json == []
    item = client.get(f"/api/v1/institutions/{ids['low']}/risk",
                      headers=make.headers("regulator", district_code=YIXING))
    assert item.status_code == 404


def test_an_institution_reads_its_own_score_only_and_not_the_list(
        client: FlaskClient, db: Session, make: Factory, plant: Planter) -> None:
    ids = scored_city(db, plant)
    own = db.get(Institution, ids["low"])
    headers = make.headers("institution", institution=own)
    resp = client.get(f"/api/v1/institutions/{ids['low']}/risk", headers=headers)
    assert resp.status_code == 200 and resp.json["score"] == 10
    assert client.get(f"/api/v1/institutions/{ids['higher']}/risk",
                      headers=headers).status_code == 404
    assert client.get("/api/v1/risk/institutions", headers=headers).status_code == 403


def test_parents_may_not_read_risk_at_all(client: FlaskClient, db: Session, make: Factory,
                                         plant: Planter) -> None:
    ids = scored_city(db, plant)
    parent = make.headers("parent")
    assert client.get("/api/v1/risk/institutions", headers=parent).status_code == 403
    assert client.get(f"/api/v1/institutions/{ids['low']}/risk",
                      headers=parent).status_code == 403
    assert client.post("/api/v1/risk/runs", headers=parent).status_code == 403


def test_the_history_holds_the_last_90_days_oldest_first(
        client: FlaskClient, db: Session, make: Factory, plant: Planter) -> None:
    inst = plant.institution()
    for days_back in (120, 90, 89, 30, 1, 0):
        score_institutions(db, SYSTEM, as_of=AS_OF - dt.timedelta(days=days_back))
    resp = client.get(f"/api/v1/institutions/{inst.id}/risk", headers=make.headers("regulator"))
    assert resp.status_code == 200
    assert [h["date"] for h in resp.json["history"]] == [
        (DAY - dt.timedelta(days=d)).isoformat() for d in (89, 30, 1, 0)]
    assert resp.json["history"][-1] == {"date": DAY.isoformat(), "score": 0, "level": "low"}
    assert resp.json["institution_id"] == inst.id and "factors" in resp.json


def test_an_institution_never_scored_is_not_found(client: FlaskClient, make: Factory) -> None:
    inst = make.institution()
    resp = client.get(f"/api/v1/institutions/{inst.id}/risk", headers=make.headers("regulator"))
    assert resp.status_code == 404


def test_a_city_regulator_runs_the_score_and_a_district_regulator_may_not(
        client: FlaskClient, db: Session, make: Factory, plant: Planter) -> None:
    plant.institution()
    district = make.headers("regulator", district_code=LIANGXI)
    audit_before = db.scalar(select(func.count()).select_from(AuditLog))
    refused = client.post("/api/v1/risk/runs", headers=district)
    assert refused.status_code == 403
    assert db.scalar(select(func.count()).select_from(RiskRun)) == 0
    assert db.scalar(select(func.count()).select_from(AuditLog)) == audit_before
    resp = client.post("/api/v1/risk/runs", headers=make.headers("regulator"))
    assert resp.status_code == 201
    assert set(resp.json) == {"id", "computed_at", "institutions_scored"}
    assert resp.json["institutions_scored"] == 1
    assert db.get(RiskRun, resp.json["id"]) is not None
