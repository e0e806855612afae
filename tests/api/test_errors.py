"""One error body for every failure, and bad input refused cleanly on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision.models import ClassSession, Course, Institution, Teacher

from ..support.factories import Factory
from ..support.registry_bodies import (
    audit_count,
    count,
    course_body,
    institution_body,
    session_items,
    teacher_body,
)

API = "/api/v1"


def assert_error_body(resp: TestResponse, code: int) -> dict[str, Any]:
    """The body API.md §1 promises for every error: exported for other test modules."""
    assert resp.status_code == code, resp.get_data(as_text=True)
    assert resp.is_json
    body = resp.json
    assert isinstance(body, dict)
    assert {"code", "status", "message", "errors"} <= set(body)
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], dict)
    for key, messages in body["errors"].items():
        assert isinstance(key, str)
        assert isinstance(messages, list) and all(isinstance(m, str) for m in messages)
    return body


def test_malformed_json_is_400_with_the_error_body(client: FlaskClient, make: Factory) -> None:
    resp = client.post(f"{API}/institutions", data='{"name": "未闭合',
                       content_type="application/json", headers=make.headers("regulator"))
    body = assert_error_body(resp, 400)
    assert body["status"] == "Bad Request"
    assert "Invalid JSON body" in body["message"]


def test_missing_credentials_are_401_with_the_error_body(client: FlaskClient) -> None:
    resp = client.post(f"{API}/institutions", json=institution_body())
    assert_error_body(resp, 401)
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_a_role_that_may_not_call_is_403_with_the_error_body(client: FlaskClient,
                                                             make: Factory) -> None:
    resp = client.post(f"{API}/institutions", json=institution_body(),
                       headers=make.headers("parent"))
    assert_error_body(resp, 403)


def test_an_unknown_id_is_404_with_the_error_body(client: FlaskClient, make: Factory) -> None:
    resp = client.get(f"{API}/institutions/987654321", headers=make.headers("regulator"))
    assert_error_body(resp, 404)


def test_a_conflict_is_409_with_the_error_body(client: FlaskClient, make: Factory) -> None:
    inst = make.institution()
    resp = client.post(f"{API}/institutions", json=institution_body(uscc=inst.uscc),
                       headers=make.headers("regulator"))
    assert_error_body(resp, 409)


def test_a_validation_error_is_422_with_flat_field_names(client: FlaskClient,
                                                         make: Factory) -> None:
    body = institution_body(uscc="91320200MA1XXXXXX0", licensed_modes=["offline", "tv"])
    resp = client.post(f"{API}/institutions", json=body, headers=make.headers("regulator"))
    errors = assert_error_body(resp, 422)["errors"]
    assert "json" not in errors
    assert "licensed_modes.1" in errors
    # The schema's checks run first; the service's (the check character) on the next try.
    body["licensed_modes"] = ["offline"]
    again = client.post(f"{API}/institutions", json=body, headers=make.headers("regulator"))
    assert list(assert_error_body(again, 422)["errors"]) == ["uscc"]


@pytest.mark.parametrize("extra", [{"status": "revoked"}, {"id": 5},
                                   {"created_at": "2026-01-01T00:00:00+08:00"}])
def test_server_owned_fields_in_a_body_are_422_and_nothing_is_written(
        client: FlaskClient, make: Factory, db: Session, extra: dict[str, Any]) -> None:
    headers = make.headers("regulator")
    before = (count(db, Institution), audit_count(db))
    resp = client.post(f"{API}/institutions", json=institution_body(**extra), headers=headers)
    assert set(extra) <= set(assert_error_body(resp, 422)["errors"])
    assert (count(db, Institution), audit_count(db)) == before


def test_a_naive_timestamp_is_422(client: FlaskClient, make: Factory, db: Session) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    items = session_items(teacher.id, 1)
    items[0]["starts_at"] = "2026-12-07T18:00:00"
    items[0]["ends_at"] = "2026-12-07T19:30:00"
    headers = make.headers("institution", institution=inst)
    resp = client.post(f"{API}/courses/{course.id}/sessions", json={"sessions": items},
                       headers=headers)
    errors = assert_error_body(resp, 422)["errors"]
    assert {"sessions.0.starts_at", "sessions.0.ends_at"} <= set(errors)
    assert count(db, ClassSession) == 0


def test_page_size_over_one_hundred_is_422(client: FlaskClient, make: Factory) -> None:
    resp = client.get(f"{API}/institutions?page_size=101", headers=make.headers("regulator"))
    assert "page_size" in assert_error_body(resp, 422)["errors"]
    ok = client.get(f"{API}/institutions?page_size=100", headers=make.headers("regulator"))
    assert ok.status_code == 200


@pytest.mark.parametrize("where", ["name", "address"])
def test_a_nul_byte_in_a_body_string_is_422(client: FlaskClient, make: Factory, db: Session,
                                            where: str) -> None:
    headers = make.headers("regulator")
    before = count(db, Institution)
    resp = client.post(f"{API}/institutions", json=institution_body(**{where: "学校\x00名"}),
                       headers=headers)
    assert where in assert_error_body(resp, 422)["errors"]
    assert count(db, Institution) == before


def test_a_nul_byte_in_a_nested_string_or_a_query_is_422(client: FlaskClient,
                                                         make: Factory) -> None:
    headers = make.headers("regulator")
    nested = client.post(f"{API}/rosters/blacklist",
                         json={"id_numbers": ["32021319850304\x00234"], "reason": "x"},
                         headers=headers)
    assert "id_numbers.0" in assert_error_body(nested, 422)["errors"]
    query = client.get(f"{API}/institutions?q=%00", headers=headers)
    assert "q" in assert_error_body(query, 422)["errors"]
    audit = client.get(f"{API}/audit?entity_id=%00", headers=headers)
    assert_error_body(audit, 422)


@pytest.mark.parametrize("path, body_of, field", [
    ("/institutions/{inst}/venues", lambda: {"address": "x", "capacity": 10**30}, "capacity"),
    ("/institutions/{inst}/venues", lambda: {"address": "x", "capacity": 2**31}, "capacity"),
    ("/courses", lambda: course_body(price_per_class_hour_fen=10**30),
     "price_per_class_hour_fen"),
    ("/courses", lambda: course_body(class_size=10**30), "class_size"),
    ("/teachers", lambda: teacher_body(institution_id=10**30), "institution_id"),
])
def test_a_huge_integer_is_422(client: FlaskClient, make: Factory, path: str,
                               body_of: Any, field: str) -> None:
    inst = make.institution()
    resp = client.post(f"{API}{path.format(inst=inst.id)}", json=body_of(),
                       headers=make.headers("institution", institution=inst))
    assert field in assert_error_body(resp, 422)["errors"]


def test_a_huge_id_in_a_path_or_query_is_not_a_server_error(client: FlaskClient,
                                                            make: Factory) -> None:
    headers = make.headers("regulator")
    assert_error_body(client.get(f"{API}/institutions/{10**30}", headers=headers), 404)
    assert_error_body(client.get(f"{API}/institutions/{10**30}/public", headers=headers), 404)
    assert_error_body(client.get(f"{API}/teachers?institution_id={10**30}", headers=headers),
                      422)


def test_negative_money_is_422(client: FlaskClient, make: Factory, db: Session) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    resp = client.post(f"{API}/courses", json=course_body(price_per_class_hour_fen=-1),
                       headers=headers)
    assert "price_per_class_hour_fen" in assert_error_body(resp, 422)["errors"]
    assert count(db, Course) == 0


@pytest.mark.parametrize("change, field", [
    ({"name": 123}, "name"),
    ({"licensed_modes": "offline"}, "licensed_modes"),
    ({"license_valid_until": 20290630}, "license_valid_until"),
    ({"contact_phone": ["0510"]}, "contact_phone"),
    ({"nonprofit_registration_no": {"no": 1}}, "nonprofit_registration_no"),
])
def test_wrong_json_types_are_422(client: FlaskClient, make: Factory, change: dict[str, Any],
                                  field: str) -> None:
    resp = client.post(f"{API}/institutions", json=institution_body(**change),
                       headers=make.headers("regulator"))
    assert field in assert_error_body(resp, 422)["errors"]


@pytest.mark.parametrize("payload", [[1, 2], "text", 42, None])
def test_a_body_that_is_not_an_object_is_4xx_with_the_error_body(client: FlaskClient,
                                                                 make: Factory,
                                                                 payload: Any) -> None:
    resp = client.post(f"{API}/institutions", json=payload, headers=make.headers("regulator"))
    assert resp.status_code in (400, 422)
    assert_error_body(resp, resp.status_code)


def test_a_teacher_with_wrong_types_is_422(client: FlaskClient, make: Factory,
                                           db: Session) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    resp = client.post(f"{API}/teachers", json=teacher_body(hired_on=True, name=["a"]),
                       headers=headers)
    assert {"hired_on", "name"} <= set(assert_error_body(resp, 422)["errors"])
    assert count(db, Teacher) == 0


def test_a_body_too_large_is_413_with_the_error_body(client: FlaskClient,
                                                     make: Factory) -> None:
    body = institution_body(name="x" * (3 * 1024 * 1024))
    resp = client.post(f"{API}/institutions", json=body, headers=make.headers("regulator"))
    assert_error_body(resp, 413)


def test_a_wrong_method_is_405_with_the_error_body(client: FlaskClient,
                                                   make: Factory) -> None:
    resp = client.delete(f"{API}/institutions", headers=make.headers("regulator"))
    assert_error_body(resp, 405)


def test_a_405_names_the_allowed_methods(client: FlaskClient, make: Factory) -> None:
    resp = client.delete(f"{API}/institutions", headers=make.headers("regulator"))
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_a_page_far_past_the_end_is_an_empty_list_not_an_overflow(client: FlaskClient,
                                                                  make: Factory) -> None:
    make.institution()
    resp = client.get(f"{API}/institutions?page={10**17}", headers=make.headers("regulator"))
    assert resp.status_code == 200 and resp.json == []


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:00:00-08:00",
                                   "1899-12-31T23:59:59+08:00"])
def test_a_timestamp_outside_1900_to_9998_is_422(client: FlaskClient, make: Factory,
                                                 stamp: str) -> None:
    resp = client.get(f"{API}/sessions", query_string={"from": stamp},
                      headers=make.headers("parent"))
    assert "from" in assert_error_body(resp, 422)["errors"]


def test_an_old_timestamp_is_returned_with_a_whole_minute_offset(client: FlaskClient,
                                                                 make: Factory) -> None:
    # Asia/Shanghai's local mean time before 1901 is +08:05:43, which is no RFC 3339 offset.
    inst = make.institution()
    items = session_items(make.teacher(inst).id, 1,
                          start=dt.datetime(1900, 6, 1, 9, tzinfo=dt.UTC))
    resp = client.post(f"{API}/courses/{make.course(inst).id}/sessions",
                       json={"sessions": items},
                       headers=make.headers("institution", institution=inst))
    assert resp.status_code == 201
    assert resp.json[0]["starts_at"] == "1900-06-01T17:00:00+08:00"


def test_a_patch_without_a_body_changes_nothing(client: FlaskClient, make: Factory,
                                                db: Session) -> None:
    inst = make.institution()
    headers = make.headers("regulator")
    before = audit_count(db)
    resp = client.patch(f"{API}/institutions/{inst.id}", headers=headers)
    assert resp.status_code == 200 and resp.json["name"] == inst.name
    assert audit_count(db) == before
