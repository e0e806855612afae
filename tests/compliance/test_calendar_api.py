"""The calendar over HTTP: regulators read it, city-wide regulators edit it."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.models import AuditLog

from ..support.factories import Factory


@pytest.fixture
def regulator(make: Factory) -> dict[str, str]:
    return make.headers("regulator", name="无锡市教育局")


def test_days_of_a_range_carry_kind_name_and_source(client: FlaskClient,
                                                   regulator: dict[str, str]) -> None:
    resp = client.get("/api/v1/calendar/days?from=2026-09-30&to=2026-10-10", headers=regulator)
    assert resp.status_code == 200
    days = {d["date"]: d for d in resp.json}
    assert len(days) == 11
    assert days["2026-10-01"] == {"date": "2026-10-01", "kind": "holiday",
                                  "name": "National Day", "source": "package"}
    assert days["2026-10-10"]["kind"] == "workday"
    assert json.loads(resp.headers["X-Pagination"])["total"] == 11


def test_days_of_an_unknown_year_say_fallback_and_keep_its_statutory_holidays(
        client: FlaskClient, regulator: dict[str, str]) -> None:
    resp = client.get("/api/v1/calendar/days?from=2027-01-01&to=2027-01-03", headers=regulator)
    assert resp.status_code == 200
    assert resp.json == [
        {"date": "2027-01-01", "kind": "holiday", "name": "New Year's Day", "source": "fallback"},
        {"date": "2027-01-02", "kind": "weekend", "name": None, "source": "fallback"},
        {"date": "2027-01-03", "kind": "weekend", "name": None, "source": "fallback"}]


def test_a_long_range_is_paginated(client: FlaskClient, regulator: dict[str, str]) -> None:
    resp = client.get("/api/v1/calendar/days?from=2026-01-01&to=2026-12-31&page=2&page_size=100",
                      headers=regulator)
    assert resp.status_code == 200
    assert resp.json[0]["date"] == "2026-04-11"
    assert json.loads(resp.headers["X-Pagination"])["total"] == 365


@pytest.mark.parametrize("query", [
    "from=2026-01-01&to=2027-01-02",  # 367 days
    "from=2026-02-01&to=2026-01-01",
    "from=2026-01-01",
    "from=20260101&to=2026-01-02",
    "from=2026-02-30&to=2026-03-02",
    "from=9999-12-31&to=9999-12-31",
])
def test_a_bad_range_is_422(client: FlaskClient, regulator: dict[str, str],
                            query: str) -> None:
    resp = client.get(f"/api/v1/calendar/days?{query}", headers=regulator)
    assert resp.status_code == 422
    assert resp.json["code"] == 422 and resp.json["errors"]


def test_a_regulator_loads_next_years_holiday_and_deletes_it(
        client: FlaskClient, regulator: dict[str, str], db: Session) -> None:
    resp = client.put("/api/v1/calendar/days/2027-02-06", headers=regulator,
                      json={"kind": "holiday", "name": "春节"})
    assert resp.status_code == 200
    assert resp.json == {"date": "2027-02-06", "kind": "holiday", "name": "春节",
                         "source": "override"}
    got = client.get("/api/v1/calendar/days?from=2027-02-06&to=2027-02-06", headers=regulator)
    assert got.json[0]["name"] == "春节"
    audit = db.scalars(select(AuditLog).where(AuditLog.entity == "calendar_overrides")).all()
    assert [a.action for a in audit] == ["create"]
    assert audit[0].actor.startswith("regulator:无锡市教育局")

    assert client.delete("/api/v1/calendar/days/2027-02-06", headers=regulator).status_code == 204
    again = client.get("/api/v1/calendar/days?from=2027-02-06&to=2027-02-06", headers=regulator)
    # Back to the day the law fixes (初一 2027), without the regulator's name for it.
    assert again.json[0] == {"date": "2027-02-06", "kind": "holiday",
                             "name": "Spring Festival", "source": "fallback"}
    assert client.delete("/api/v1/calendar/days/2027-02-06",
                         headers=regulator).status_code == 404


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/calendar/days/2027-02-06", {"kind": "holiday"}),
    ("/api/v1/calendar/days/2027-02-06", {"kind": "weekend", "name": "x"}),
    ("/api/v1/calendar/days/2027-02-06", {"kind": "holiday", "name": "春节", "source": "x"}),
    ("/api/v1/calendar/days/not-a-date", {"kind": "holiday", "name": "春节"}),
    ("/api/v1/calendar/days/2027-02-30", {"kind": "holiday", "name": "春节"}),
    ("/api/v1/calendar/days/9999-12-31", {"kind": "holiday", "name": "春节"}),
])
def test_a_bad_override_is_422(client: FlaskClient, regulator: dict[str, str], path: str,
                               body: dict[str, str]) -> None:
    resp = client.put(path, headers=regulator, json=body)
    assert resp.status_code == 422
    assert resp.json["errors"]


def test_school_years_list_config_defaults_and_a_put_replaces_one(
        client: FlaskClient, regulator: dict[str, str]) -> None:
    listed = client.get("/api/v1/calendar/school-years", headers=regulator)
    assert listed.status_code == 200
    by_name = {sy["name"]: sy for sy in listed.json}
    assert by_name["2026-2027"]["winter_vacation"] == {"start": "2027-01-23", "end": "2027-02-21"}
    assert by_name["2026-2027"]["source"] == "config"

    body = {"winter_vacation": {"start": "2028-01-22", "end": "2028-02-20"},
            "summer_vacation": {"start": "2028-07-01", "end": "2028-08-31"}}
    resp = client.put("/api/v1/calendar/school-years/2027-2028", headers=regulator, json=body)
    assert resp.status_code == 200
    assert resp.json == {"name": "2027-2028", **body, "source": "table"}
    one = client.get("/api/v1/calendar/school-years/2027-2028", headers=regulator)
    assert one.json["summer_vacation"]["start"] == "2028-07-01"
    assert client.get("/api/v1/calendar/school-years/2030-2031",
                      headers=regulator).status_code == 404


def test_a_school_year_outside_its_own_year_is_422(client: FlaskClient,
                                                   regulator: dict[str, str]) -> None:
    body = {"winter_vacation": {"start": "2027-01-22", "end": "2027-02-20"},
            "summer_vacation": {"start": "2027-07-01", "end": "2027-08-31"}}
    resp = client.put("/api/v1/calendar/school-years/2027-2028", headers=regulator, json=body)
    assert resp.status_code == 422
    assert "winter_vacation" in resp.json["errors"]
    bad_name = client.put("/api/v1/calendar/school-years/2027", headers=regulator, json=body)
    assert bad_name.status_code == 422 and "name" in bad_name.json["errors"]
    assert client.get("/api/v1/calendar/school-years/%00x", headers=regulator).status_code == 422


@pytest.mark.parametrize("role", ["institution", "parent"])
def test_only_regulators_may_see_the_calendar(client: FlaskClient, make: Factory,
                                              role: str) -> None:
    kw = {"institution": make.institution()} if role == "institution" else {}
    headers = make.headers(role, **kw)
    assert client.get("/api/v1/calendar/days?from=2026-10-01&to=2026-10-02",
                      headers=headers).status_code == 403
    assert client.put("/api/v1/calendar/days/2027-01-01", headers=headers,
                      json={"kind": "holiday", "name": "元旦"}).status_code == 403
    assert client.get("/api/v1/calendar/school-years", headers=headers).status_code == 403


def test_a_district_regulator_reads_but_may_not_change_the_citys_calendar(
        client: FlaskClient, make: Factory) -> None:
    district = make.headers("regulator", district_code="320213")
    assert client.get("/api/v1/calendar/days?from=2026-10-01&to=2026-10-02",
                      headers=district).status_code == 200
    assert client.put("/api/v1/calendar/days/2027-01-01", headers=district,
                      json={"kind": "holiday", "name": "元旦"}).status_code == 403
    assert client.delete("/api/v1/calendar/days/2027-01-01", headers=district).status_code == 403
    body = {"winter_vacation": {"start": "2028-01-22", "end": "2028-02-20"},
            "summer_vacation": {"start": "2028-07-01", "end": "2028-08-31"}}
    assert client.put("/api/v1/calendar/school-years/2027-2028", headers=district,
                      json=body).status_code == 403
