"""Institutions and venues (API.md §3): services first, then each endpoint over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import registry
from supervision.errors import Conflict, Invalid, NotFound
from supervision.models import AuditLog, Flag, Institution, Venue

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import audit_count, count, institution_body, new_uscc

API = "/api/v1"


def _body_without_check_char(body: dict[str, object]) -> str:
    uscc = str(body["uscc"])
    wrong = "0" if uscc[-1] != "0" else "1"
    return uscc[:-1] + wrong


# --- services ------------------------------------------------------------------------------

def test_registering_normalises_the_uscc_and_the_modes_and_starts_active(db: Session) -> None:
    body = institution_body(licensed_modes=["online", "offline"])
    body["uscc"] = str(body["uscc"]).lower()
    with acting_as(db, "regulator") as actor:
        inst = registry.register_institution(db, actor, body)
    assert inst.uscc == str(body["uscc"]).upper()
    assert inst.licensed_modes == ["offline", "online"]
    assert inst.status == "active"


def test_a_wrong_uscc_check_character_is_refused_naming_uscc(db: Session) -> None:
    body = institution_body()
    body["uscc"] = _body_without_check_char(body)
    with acting_as(db, "regulator") as actor, pytest.raises(Invalid) as caught:
        registry.register_institution(db, actor, body)
    assert set(caught.value.errors) == {"uscc"}


def test_a_second_institution_with_the_same_uscc_is_a_conflict(db: Session) -> None:
    body = institution_body()
    with acting_as(db, "regulator") as actor:
        registry.register_institution(db, actor, body)
        with pytest.raises(Conflict):
            registry.register_institution(db, actor, institution_body(uscc=body["uscc"]))


@pytest.mark.parametrize("modes", [[], ["offline", "offline"], ["offline", "radio"]])
def test_licensed_modes_must_be_a_non_empty_set_of_known_modes(db: Session,
                                                              modes: list[str]) -> None:
    with acting_as(db, "regulator") as actor, pytest.raises(Invalid) as caught:
        registry.register_institution(db, actor, institution_body(licensed_modes=modes))
    assert "licensed_modes" in caught.value.errors


def test_a_district_regulator_registers_only_in_its_own_district(db: Session) -> None:
    with acting_as(db, "regulator",
                   district_code="320205") as actor, pytest.raises(Invalid) as caught:
        registry.register_institution(db, actor, institution_body(district_code="320213"))
    assert "district_code" in caught.value.errors


def test_compliance_problems_are_recorded_not_refused(db: Session) -> None:
    # An unconverted for-profit subject institution with an expired licence: the engine's
    # business to flag, not the registry's to refuse.
    body = institution_body(uscc=new_uscc(nonprofit=False), nonprofit_registration_no=None,
                            license_valid_until=dt.date(2020, 1, 1))
    with acting_as(db, "regulator") as actor:
        inst = registry.register_institution(db, actor, body)
    assert inst.id is not None and inst.nonprofit_registration_no is None


def test_an_institution_may_change_only_its_address_and_phone(db: Session,
                                                              make: Factory) -> None:
    inst = make.institution()
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        registry.update_institution(db, actor, inst.id, {"address": "新地址1号"})
        with pytest.raises(Invalid) as caught:
            registry.update_institution(db, actor, inst.id, {"license_no": "X", "address": "b"})
    assert set(caught.value.errors) == {"license_no"}
    assert inst.address == "新地址1号"


def test_a_regulator_changing_the_uscc_has_it_checked_again(db: Session,
                                                           make: Factory) -> None:
    one, other = make.institution(), make.institution()
    with acting_as(db, "regulator") as actor:
        registry.update_institution(db, actor, one.id, {"uscc": one.uscc})  # its own: no conflict
        with pytest.raises(Conflict):
            registry.update_institution(db, actor, one.id, {"uscc": other.uscc})
        with pytest.raises(Invalid):
            registry.update_institution(db, actor, one.id, {"uscc": one.uscc[:-1] + "?"})


def test_a_status_change_keeps_its_reason_and_is_audited_as_such(db: Session,
                                                                 make: Factory) -> None:
    inst = make.institution()
    with acting_as(db, "regulator") as actor:
        registry.change_institution_status(db, actor, inst.id, status="suspended",
                                           reason="无证经营")
    row = db.scalars(select(AuditLog).where(AuditLog.entity == "institutions",
                                            AuditLog.entity_id == str(inst.id))
                     .order_by(AuditLog.id.desc())).first()
    assert row is not None and row.action == "status_change"
    assert row.changes["status"] == ["active", "suspended"]
    assert row.changes["status_reason"] == [None, "无证经营"]
    assert "audit_action" not in db.info


def test_setting_the_same_status_again_is_a_conflict(db: Session, make: Factory) -> None:
    inst = make.institution(status="suspended")
    with acting_as(db, "regulator") as actor, pytest.raises(Conflict):
        registry.change_institution_status(db, actor, inst.id, status="suspended", reason="again")


def test_the_public_profile_counts_only_flags_still_open(db: Session, make: Factory) -> None:
    inst = make.institution(status="revoked")
    statuses = [("critical", "open"), ("critical", "rectification_submitted"),
                ("high", "acknowledged"), ("medium", "rectification_ordered"),
                ("low", "resolved"), ("low", "dismissed"), ("high", "cleared")]
    for n, (severity, status) in enumerate(statuses):
        db.add(Flag(rule=f"R{n}", severity=severity, status=status, institution_id=inst.id,
                    subject_type="institution", subject_id=str(inst.id), summary="x",
                    evidence={}))
    db.flush()
    profile = registry.public_profile(db, inst.id)
    assert profile.open_flag_count == {"critical": 2, "high": 1, "medium": 1, "low": 0}
    assert profile.blacklisted is True


def test_the_list_filters_by_district_category_status_and_name(db: Session,
                                                               make: Factory) -> None:
    a = make.institution(name="梁溪100%学堂", district_code="320213", category="subject")
    b = make.institution(name="滨湖艺术", district_code="320211", category="non_subject",
                         status="suspended")

    with acting_as(db, "regulator") as actor:
        assert {i.id for i in db.scalars(registry.institutions_query(
            db, actor, district_code="320211"))} >= {b.id}
        assert a.id not in {i.id for i in db.scalars(registry.institutions_query(
            db, actor, category="non_subject"))}
        assert [i.id for i in db.scalars(registry.institutions_query(db, actor,
                                                                     q="100%"))] == [a.id]
        assert [i.id for i in db.scalars(registry.institutions_query(db, actor,
                                                                     q="0%学"))] == [a.id]
        assert b.id in {i.id for i in db.scalars(registry.institutions_query(
            db, actor, status="suspended"))}
    with acting_as(db, "regulator", district_code="320213") as actor:
        seen = {i.id for i in db.scalars(registry.institutions_query(db, actor))}
    assert a.id in seen and b.id not in seen


def test_a_venue_is_added_only_to_an_institution_in_scope(db: Session, make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    with acting_as(db, "institution", institution_id=mine.id) as actor:
        venue = registry.add_venue(db, actor, mine.id, address="教学点A", capacity=40)
        with pytest.raises(NotFound):
            registry.add_venue(db, actor, theirs.id, address="教学点B", capacity=40)
    assert venue.institution_id == mine.id


# --- HTTP ----------------------------------------------------------------------------------

def test_post_institution_answers_201_with_id_status_and_created_at(client: FlaskClient,
                                                                    make: Factory) -> None:
    body = institution_body()
    resp = client.post(f"{API}/institutions", json=body, headers=make.headers("regulator"))
    assert resp.status_code == 201, resp.json
    assert resp.json["status"] == "active"
    assert isinstance(resp.json["id"], int)
    assert resp.json["created_at"].endswith("+08:00")
    assert {k: resp.json[k] for k in body} == body


@pytest.mark.parametrize("change, field", [
    ({"uscc": "91320200MA1XXXXXX0"}, "uscc"),
    ({"uscc": "9132"}, "uscc"),
    ({"district_code": "110101"}, "district_code"),
    ({"category": "tutoring"}, "category"),
    ({"licensed_modes": []}, "licensed_modes"),
    ({"licensed_modes": ["offline", "tv"]}, "licensed_modes.1"),
    ({"escrow_mode": "cash"}, "escrow_mode"),
    ({"license_valid_until": "20290630"}, "license_valid_until"),
    ({"license_valid_until": "2029-02-30"}, "license_valid_until"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({"address": "x" * 301}, "address"),
])
def test_post_institution_refuses_each_bad_field_and_writes_nothing(
        client: FlaskClient, make: Factory, db: Session, change: dict[str, object],
        field: str) -> None:
    headers = make.headers("regulator")
    before = (count(db, Institution), audit_count(db))
    resp = client.post(f"{API}/institutions", json=institution_body(**change), headers=headers)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]
    assert (count(db, Institution), audit_count(db)) == before


def test_post_institution_with_a_missing_field_is_422(client: FlaskClient,
                                                      make: Factory) -> None:
    body = institution_body()
    del body["supervised_account_no"]
    resp = client.post(f"{API}/institutions", json=body, headers=make.headers("regulator"))
    assert resp.status_code == 422
    assert "supervised_account_no" in resp.json["errors"]


def test_a_duplicate_uscc_over_http_is_409_and_writes_nothing(client: FlaskClient,
                                                              make: Factory,
                                                              db: Session) -> None:
    existing = make.institution()
    headers = make.headers("regulator")
    before = (count(db, Institution), audit_count(db))
    resp = client.post(f"{API}/institutions", json=institution_body(uscc=existing.uscc),
                       headers=headers)
    assert resp.status_code == 409
    assert "uscc" in resp.json["errors"]
    assert (count(db, Institution), audit_count(db)) == before


def test_a_duplicate_that_slips_past_the_check_is_still_409(
        client: FlaskClient, make: Factory, db: Session,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two registrations racing past the lookup: the unique index settles it, as a 409.
    existing = make.institution()
    monkeypatch.setattr("supervision.registry.institutions._ensure_uscc_free",
                        lambda *_args: None)
    headers = make.headers("regulator")
    before = count(db, Institution)
    resp = client.post(f"{API}/institutions", json=institution_body(uscc=existing.uscc),
                       headers=headers)
    assert resp.status_code == 409
    assert count(db, Institution) == before
    again = client.post(f"{API}/institutions", json=institution_body(), headers=headers)
    assert again.status_code == 201  # the failed request left nothing half-done behind


@pytest.mark.parametrize("role", ["institution", "parent"])
def test_only_regulators_register_institutions(client: FlaskClient, make: Factory,
                                               db: Session, role: str) -> None:
    inst = make.institution()
    headers = make.headers(role, institution=inst if role == "institution" else None)
    before = count(db, Institution)
    resp = client.post(f"{API}/institutions", json=institution_body(), headers=headers)
    assert resp.status_code == 403
    assert count(db, Institution) == before


def test_the_list_is_paginated_and_filtered(client: FlaskClient, make: Factory) -> None:
    for _ in range(3):
        make.institution(district_code="320282")
    headers = make.headers("regulator")
    resp = client.get(f"{API}/institutions?district_code=320282&page_size=2", headers=headers)
    assert resp.status_code == 200
    assert len(resp.json) == 2
    assert all(i["district_code"] == "320282" for i in resp.json)
    assert '"total": 3' in resp.headers["X-Pagination"]


def test_an_institution_lists_only_itself(client: FlaskClient, make: Factory) -> None:
    me, _other = make.institution(), make.institution()
    resp = client.get(f"{API}/institutions", headers=make.headers("institution", institution=me))
    assert [i["id"] for i in resp.json] == [me.id]


def test_parents_may_not_list_institutions(client: FlaskClient, make: Factory) -> None:
    assert client.get(f"{API}/institutions", headers=make.headers("parent")).status_code == 403


def test_get_by_id_for_the_institution_itself_and_404_for_another(client: FlaskClient,
                                                                  make: Factory) -> None:
    me, other = make.institution(), make.institution()
    headers = make.headers("institution", institution=me)
    assert client.get(f"{API}/institutions/{me.id}", headers=headers).json["id"] == me.id
    assert client.get(f"{API}/institutions/{other.id}", headers=headers).status_code == 404
    assert client.get(f"{API}/institutions/{10**30}", headers=headers).status_code == 404


def test_patch_by_the_institution_changes_its_address(client: FlaskClient,
                                                      make: Factory) -> None:
    me = make.institution()
    resp = client.patch(f"{API}/institutions/{me.id}", json={"address": "滨湖区蠡湖大道1号"},
                        headers=make.headers("institution", institution=me))
    assert resp.status_code == 200
    assert resp.json["address"] == "滨湖区蠡湖大道1号"


def test_patch_by_the_institution_of_another_field_is_422_naming_it(client: FlaskClient,
                                                                    make: Factory,
                                                                    db: Session) -> None:
    me = make.institution()
    headers = make.headers("institution", institution=me)
    before = audit_count(db)
    resp = client.patch(f"{API}/institutions/{me.id}",
                        json={"address": "新地址", "escrow_mode": "risk_reserve"},
                        headers=headers)
    assert resp.status_code == 422
    assert list(resp.json["errors"]) == ["escrow_mode"]
    assert audit_count(db) == before


def test_patch_by_a_regulator_rechecks_the_uscc(client: FlaskClient, make: Factory) -> None:
    one, other = make.institution(), make.institution()
    headers = make.headers("regulator")
    taken = client.patch(f"{API}/institutions/{one.id}", json={"uscc": other.uscc},
                         headers=headers)
    assert taken.status_code == 409
    bad = client.patch(f"{API}/institutions/{one.id}", json={"uscc": "91320200MA1XXXXXX0"},
                       headers=headers)
    assert bad.status_code == 422 and "uscc" in bad.json["errors"]
    ok = client.patch(f"{API}/institutions/{one.id}",
                      json={"license_valid_until": "2031-01-31", "category": "non_subject"},
                      headers=headers)
    assert ok.status_code == 200
    assert ok.json["license_valid_until"] == "2031-01-31"
    assert ok.json["category"] == "non_subject"


def test_patch_cannot_set_server_owned_fields(client: FlaskClient, make: Factory) -> None:
    inst = make.institution()
    resp = client.patch(f"{API}/institutions/{inst.id}", json={"status": "revoked"},
                        headers=make.headers("regulator"))
    assert resp.status_code == 422
    assert "status" in resp.json["errors"]


def test_status_change_answers_200_and_needs_a_reason(client: FlaskClient, make: Factory,
                                                      db: Session) -> None:
    inst = make.institution()
    headers = make.headers("regulator")
    before = audit_count(db)
    missing = client.post(f"{API}/institutions/{inst.id}/status", json={"status": "suspended"},
                          headers=headers)
    assert missing.status_code == 422 and "reason" in missing.json["errors"]
    blank = client.post(f"{API}/institutions/{inst.id}/status",
                        json={"status": "suspended", "reason": "  "}, headers=headers)
    assert blank.status_code == 422
    assert audit_count(db) == before
    ok = client.post(f"{API}/institutions/{inst.id}/status",
                     json={"status": "suspended", "reason": "超范围经营"}, headers=headers)
    assert ok.status_code == 200
    assert ok.json["status"] == "suspended"
    again = client.post(f"{API}/institutions/{inst.id}/status",
                        json={"status": "suspended", "reason": "超范围经营"}, headers=headers)
    assert again.status_code == 409


def test_status_change_is_regulator_only(client: FlaskClient, make: Factory) -> None:
    me = make.institution()
    resp = client.post(f"{API}/institutions/{me.id}/status",
                       json={"status": "active", "reason": "我们整改好了"},
                       headers=make.headers("institution", institution=me))
    assert resp.status_code == 403


def test_the_public_profile_shows_nothing_but_the_public_fields(client: FlaskClient,
                                                                make: Factory) -> None:
    inst = make.institution(status="revoked")
    resp = client.get(f"{API}/institutions/{inst.id}/public", headers=make.headers("parent"))
    assert resp.status_code == 200
    assert set(resp.json) == {"name", "district_code", "category", "licensed_modes",
                              "status", "escrow_mode", "blacklisted", "open_flag_count"}
    assert resp.json["blacklisted"] is True
    assert resp.json["open_flag_count"] == {"critical": 0, "high": 0, "medium": 0, "low": 0}
    assert inst.uscc not in resp.get_data(as_text=True)
    missing = client.get(f"{API}/institutions/{inst.id + 10**6}/public",
                         headers=make.headers("parent"))
    assert missing.status_code == 404


def test_venues_are_added_and_listed_by_the_institution(client: FlaskClient, make: Factory,
                                                        db: Session) -> None:
    me = make.institution()
    headers = make.headers("institution", institution=me)
    resp = client.post(f"{API}/institutions/{me.id}/venues",
                       json={"address": "梁溪区解放南路2号三楼", "capacity": 60}, headers=headers)
    assert resp.status_code == 201
    assert resp.json["institution_id"] == me.id and resp.json["capacity"] == 60
    listed = client.get(f"{API}/institutions/{me.id}/venues", headers=headers)
    assert [v["id"] for v in listed.json] == [resp.json["id"]]
    before = count(db, Venue)
    for bad in ({"address": "x", "capacity": 0}, {"address": "x", "capacity": "60"},
                {"address": "", "capacity": 5}, {"capacity": 5}):
        refused = client.post(f"{API}/institutions/{me.id}/venues", json=bad, headers=headers)
        assert refused.status_code == 422, bad
    assert count(db, Venue) == before


def test_parents_may_not_see_venues(client: FlaskClient, make: Factory) -> None:
    inst = make.institution()
    resp = client.get(f"{API}/institutions/{inst.id}/venues", headers=make.headers("parent"))
    assert resp.status_code == 403
