"""The audit log (API.md §7): every write, in the same transaction, scoped by district."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import registry
from supervision.access.scope import SYSTEM
from supervision.models import AuditLog

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import institution_body, teacher_body

API = "/api/v1"


def _rows(db: Session, entity: str, entity_id: object) -> list[AuditLog]:
    db.expire_all()
    return list(db.scalars(select(AuditLog).where(
        AuditLog.entity == entity, AuditLog.entity_id == str(entity_id)).order_by(AuditLog.id)))


def test_a_status_change_and_its_reason_appear_in_the_audit_api(client: FlaskClient,
                                                                make: Factory) -> None:
    inst = make.institution()
    headers = make.headers("regulator", name="无锡市教育局")
    resp = client.post(f"{API}/institutions/{inst.id}/status",
                       json={"status": "revoked", "reason": "卷款跑路，吊销办学许可"},
                       headers=headers)
    assert resp.status_code == 200
    audit = client.get(f"{API}/audit?entity=institutions&entity_id={inst.id}", headers=headers)
    assert audit.status_code == 200
    latest = audit.json[0]
    assert latest["action"] == "status_change"
    assert latest["entity"] == "institutions" and latest["entity_id"] == str(inst.id)
    assert latest["changes"]["status"] == ["active", "revoked"]
    assert latest["changes"]["status_reason"] == [None, "卷款跑路，吊销办学许可"]
    assert latest["actor"].startswith("regulator:无锡市教育局")
    assert latest["at"].endswith("+08:00")


def test_every_registry_write_over_http_leaves_an_audit_row(client: FlaskClient,
                                                            make: Factory,
                                                            db: Session) -> None:
    regulator = make.headers("regulator")
    created = client.post(f"{API}/institutions", json=institution_body(), headers=regulator)
    inst_id = created.json["id"]
    client.patch(f"{API}/institutions/{inst_id}", json={"address": "惠山区1号"},
                 headers=regulator)
    teacher = client.post(f"{API}/teachers", json=teacher_body(institution_id=inst_id),
                          headers=regulator)
    actions = [r.action for r in _rows(db, "institutions", inst_id)]
    assert actions == ["create", "update"]
    [teacher_row] = _rows(db, "teachers", teacher.json["id"])
    assert teacher_row.institution_id == inst_id
    assert teacher_row.changes["id_number_masked"] == teacher.json["id_number_masked"]
    assert "id_number_hash" not in teacher_row.changes


def test_an_update_records_only_what_changed_as_old_and_new(db: Session,
                                                            make: Factory) -> None:
    inst = make.institution(address="旧地址")
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        registry.update_institution(db, actor, inst.id, {"address": "新地址",
                                                  "contact_phone": inst.contact_phone})
    last = _rows(db, "institutions", inst.id)[-1]
    assert last.changes == {"address": ["旧地址", "新地址"]}
    assert last.actor.startswith("institution:")


def test_an_audit_row_rolls_back_with_the_change_it_records(db: Session) -> None:
    body = institution_body()
    with pytest.raises(RuntimeError), acting_as(db, "regulator"), db.begin_nested():
        inst = registry.register_institution(db, SYSTEM, body)
        inst_id = inst.id
        assert _rows(db, "institutions", inst_id)  # written with the change...
        raise RuntimeError("the request fails after the flush")
    assert _rows(db, "institutions", inst_id) == []  # ...and gone with it


def test_a_district_regulator_sees_only_its_districts_audit_rows(client: FlaskClient,
                                                                 make: Factory) -> None:
    near = make.institution(district_code="320213")
    far = make.institution(district_code="320282")
    headers = make.headers("regulator", district_code="320213")
    ours = client.get(f"{API}/audit?entity=institutions&entity_id={near.id}", headers=headers)
    theirs = client.get(f"{API}/audit?entity=institutions&entity_id={far.id}", headers=headers)
    assert [r["entity_id"] for r in ours.json] == [str(near.id)]
    assert theirs.status_code == 200 and theirs.json == []
    everything = client.get(f"{API}/audit?page_size=100", headers=headers)
    # By USCC, not id: on SQLite a rolled-back test's ids are reused by the next test.
    assert far.uscc not in {r["changes"].get("uscc") for r in everything.json
                            if r["entity"] == "institutions"}
    city = client.get(f"{API}/audit?entity=institutions&entity_id={far.id}",
                      headers=make.headers("regulator"))
    assert [r["entity_id"] for r in city.json] == [str(far.id)]


@pytest.mark.parametrize("role", ["institution", "parent"])
def test_only_regulators_read_the_audit_log(client: FlaskClient, make: Factory,
                                            role: str) -> None:
    inst = make.institution()
    headers = make.headers(role, institution=inst if role == "institution" else None)
    assert client.get(f"{API}/audit", headers=headers).status_code == 403


def test_the_audit_list_is_paginated(client: FlaskClient, make: Factory) -> None:
    inst = make.institution()
    for n in range(3):
        make.venue(inst, address=f"教学点{n}")
    resp = client.get(f"{API}/audit?entity=venues&page_size=2",
                      headers=make.headers("regulator"))
    assert resp.status_code == 200 and len(resp.json) == 2
    assert '"total": 3' in resp.headers["X-Pagination"]
