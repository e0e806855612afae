"""Abuse resistance: what an attacker found as a 500 is a 4xx with the error body, and nothing
is written (PITFALLS.md "Hostile input"). Rate limits and the sign-in throttle are in
test_security_ratelimit.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision.web.security import MAX_JSON_DEPTH, json_too_deep

from ..support.console import csrf_of
from ..support.escrow_world import World, world
from ..support.factories import Factory
from ..support.money_checks import row_counts
from ..support.registry_bodies import course_body, institution_body, teacher_body
from ..support.trustee import EVENTS, deposit_event, signed_post

ERROR_KEYS = {"code", "status", "message", "errors"}


def assert_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    body: dict[str, Any] = resp.json
    assert set(body) >= ERROR_KEYS
    assert body["code"] == status
    return body


def post_raw(client: FlaskClient, path: str, raw: bytes, **headers: str) -> Any:
    return client.post(path, data=raw, content_type="application/json", headers=headers)


# --- the trustee's timestamp header ---------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["²", "١٧٦٤٧٢٠٠٠٠", "9" * 5000, "0x1f", "-1",
                                       "", "1764720000.5"])
def test_a_timestamp_that_is_not_a_few_ascii_digits_is_401_and_does_nothing(
        client: FlaskClient, db: Session, timestamp: str) -> None:
    before = row_counts(db)
    body = json.dumps(deposit_event("SVNOSUCHREF", 100)).encode()
    resp = client.post(EVENTS, data=body, content_type="application/json", headers={
        "X-Supervision-Timestamp": timestamp, "X-Supervision-Signature": "sha256=" + "0" * 64})
    assert_error(resp, 401)
    assert row_counts(db) == before


def test_a_signature_with_non_ascii_characters_is_401_not_a_server_error(
        client: FlaskClient, db: Session) -> None:
    before = row_counts(db)
    resp = client.post(EVENTS, data=b"{}", content_type="application/json", headers={
        "X-Supervision-Timestamp": "1764720000", "X-Supervision-Signature": "sha256=é"})
    assert_error(resp, 401)
    assert row_counts(db) == before


# --- JSON nested too deep --------------------------------------------------------------------


def test_the_depth_scan_counts_brackets_outside_strings_only() -> None:
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_too_deep(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert json_too_deep(b"[" * 5000)  # unbalanced: json recurses before it sees the end
    assert not json_too_deep(json.dumps(["[" * 500, "{" * 500]).encode())
    # Closing brackets inside a string do not hide real depth; escaped quotes do not end one.
    assert json_too_deep(b'["' + b"]" * 100 + b'\\"",' + b"[" * 70 + b"]" * 71)
    assert not json_too_deep(b'{"a": "\\\\", "b": [[]]}')


@pytest.mark.parametrize("raw", [b"[" * 1500 + b"]" * 1500, b'{"a":' * 1500 + b"1" + b"}" * 1500,
                                 b"[" * 100_000])
def test_json_nested_a_thousand_deep_is_400_on_the_api_and_writes_nothing(
        client: FlaskClient, db: Session, make: Factory, raw: bytes) -> None:
    headers = make.headers("regulator")
    before = row_counts(db)
    body = assert_error(post_raw(client, "/api/v1/institutions", raw, **headers), 400)
    assert "nested deeper" in body["message"]
    # Also before authentication, and on the trustee's signed events.
    assert_error(post_raw(client, "/api/v1/enrollments", raw), 400)
    assert_error(signed_post(client, None, raw=raw), 400)
    assert row_counts(db) == before


def test_json_nested_a_thousand_deep_on_a_console_post_is_a_400_page(
        client: FlaskClient, db: Session) -> None:
    before = row_counts(db)
    deep = b"[" * 1500 + b"]" * 1500
    for path in ("/console/signin", "/console/flags/1/actions", "/console/calendar/days"):
        resp = post_raw(client, path, deep)
        assert resp.status_code == 400
        assert resp.mimetype == "text/html"
        assert "请求无效" in resp.get_data(as_text=True)
    # JSON that is not an object made Flask-WTF fail outside every error handler too.
    assert post_raw(client, "/console/signin", b"[1]").status_code == 400
    assert row_counts(db) == before


# --- the sign-in redirect ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/console/\r\nSet-Cookie:x", "/console/\nx", "/console/\x00",
                                    "/console/\\\\evil.example", "/console/ x",
                                    "/console/\u202egnp.exe", "//evil.example/console/",
                                    "https://evil.example/console/"])
def test_a_next_with_control_characters_or_another_site_falls_back_to_the_console_home(
        client: FlaskClient, make: Factory, target: str) -> None:
    token = make.token("regulator")
    csrf = csrf_of(client.get("/console/signin").get_data(as_text=True))
    resp = client.post("/console/signin",
                       data={"csrf_token": csrf, "token": token, "next": target})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/console/flags"
    assert "x" not in resp.headers.getlist("Set-Cookie")


def test_a_plain_console_path_is_still_where_signing_in_leads(
        client: FlaskClient, make: Factory) -> None:
    token = make.token("regulator")
    csrf = csrf_of(client.get("/console/signin").get_data(as_text=True))
    resp = client.post("/console/signin", data={"csrf_token": csrf, "token": token,
                                                "next": "/console/institutions?page=2"})
    assert resp.headers["Location"] == "/console/institutions?page=2"


# --- lone surrogates ---------------------------------------------------------------------------


def test_a_lone_surrogate_in_any_string_is_422_naming_the_field_and_writes_nothing(
        client: FlaskClient, db: Session, make: Factory) -> None:
    regulator = make.headers("regulator")
    before = row_counts(db)
    body = json.dumps(institution_body(name="PLACEHOLDER")).encode()
    # As an escape, and as the raw bytes Python's json also decodes (surrogatepass).
    for surrogate in (b"\\ud800", b"\xed\xa0\x80", b"\\udfff"):
        raw = body.replace(b"PLACEHOLDER", b"x" + surrogate + b"y")
        errors = assert_error(post_raw(client, "/api/v1/institutions", raw, **regulator),
                              422)["errors"]
        assert list(errors) == ["name"]
    # In a key, and deep in a list.
    errors = assert_error(post_raw(client, "/api/v1/institutions", b'{"\\ud800": 1}',
                                   **regulator), 422)["errors"]
    assert list(errors) == ["\ufffd"]
    raw = json.dumps(institution_body(licensed_modes=["offline", "X"])).encode()
    raw = raw.replace(b'"X"', b'"\\udc00"')
    errors = assert_error(post_raw(client, "/api/v1/institutions", raw, **regulator),
                          422)["errors"]
    assert list(errors) == ["licensed_modes.1"]
    assert row_counts(db) == before


def test_a_lone_surrogate_beside_an_idempotency_key_is_422_not_a_hashing_error(
        client: FlaskClient, db: Session, make: Factory) -> None:
    w: World = world(db, make)
    before = row_counts(db)
    raw = json.dumps({"course_id": w.course.id, "student_name": "X", "student_grade": 7,
                      "class_hours": 10}).encode().replace(b'"X"', b'"\\ud800"')
    resp = post_raw(client, "/api/v1/enrollments", raw, **w.parent.headers,
                    **{"Idempotency-Key": "abuse-surrogate-1"})
    assert assert_error(resp, 422)["errors"] == {
        "student_name": ["not valid Unicode (a lone surrogate)"]}
    assert row_counts(db) == before


def test_a_valid_surrogate_pair_is_an_ordinary_character(
        client: FlaskClient, db: Session, make: Factory) -> None:
    resp = client.post("/api/v1/institutions", headers=make.headers("regulator"),
                       data=json.dumps(institution_body(name="锡心😀学堂")).encode(),
                       content_type="application/json")
    assert resp.status_code == 201, resp.json
    assert resp.json["name"] == "锡心😀学堂"


# --- characters that spoof what an officer reads ---------------------------------------------

SPOOFING = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200d", "\u200f", "\ufeff",
            "\u2060", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize("char", SPOOFING, ids=[f"U+{ord(c):04X}" for c in SPOOFING])
def test_bidi_zero_width_and_control_characters_in_names_are_422_naming_the_field(
        client: FlaskClient, db: Session, make: Factory, char: str) -> None:
    inst = make.institution()
    institution, regulator = make.headers("institution", institution=inst), \
        make.headers("regulator")
    w: World = world(db, make)
    before = row_counts(db)
    cases = [
        ("/api/v1/institutions", regulator, institution_body(name=f"锡心{char}学堂"), "name"),
        ("/api/v1/teachers", institution, teacher_body(name=f"李{char}老师"), "name"),
        ("/api/v1/courses", institution, course_body(name=f"初一{char}数学"), "name"),
        ("/api/v1/enrollments", w.parent.headers,
         {"course_id": w.course.id, "student_name": f"小{char}明", "student_grade": 7,
          "class_hours": 10}, "student_name"),
        (f"/api/v1/institutions/{inst.id}/status", regulator,
         {"status": "suspended", "reason": f"整改{char}期间"}, "reason"),
    ]
    for path, headers, body, field in cases:
        resp = client.post(path, headers=headers, json=body)
        errors = assert_error(resp, 422)["errors"]
        assert field in errors, (path, errors)
    assert row_counts(db) == before


def test_names_are_one_line_while_free_text_reasons_may_have_line_breaks(
        client: FlaskClient, db: Session, make: Factory) -> None:
    regulator = make.headers("regulator")
    before = row_counts(db)
    for name in ("锡心\n学堂", "锡心\t学堂", "锡心\r学堂", "锡心\u2028学堂"):
        resp = client.post("/api/v1/institutions", headers=regulator,
                           json=institution_body(name=name))
        assert assert_error(resp, 422)["errors"] == {
            "name": ["must be one line: no tabs or line breaks"]}
    assert row_counts(db) == before
    inst = make.institution()
    resp = client.post(f"/api/v1/institutions/{inst.id}/status", headers=regulator,
                       json={"status": "suspended", "reason": "一、无证办学；\n二、\t超范围招生。"})
    assert resp.status_code == 200, resp.json


def test_raw_utf8_in_a_query_string_means_the_same_as_its_percent_encoding(
        client: FlaskClient, make: Factory) -> None:
    make.institution(name="锡心学堂培训中心")
    # curl sends `?q=锡心` unencoded; the WSGI server hands it over decoded as Latin-1.
    # (gunicorn); werkzeug's development server encodes that text once more as UTF-8.
    raw = "q=" + "锡心".encode().decode("latin-1")
    twice = raw.encode().decode("latin-1")
    encoded = client.get("/api/v1/public/institutions", query_string={"q": "锡心"})
    assert encoded.status_code == 200 and [i["name"] for i in encoded.json] == ["锡心学堂培训中心"]
    for query in (raw, twice):
        unencoded = client.get("/api/v1/public/institutions",
                               environ_overrides={"QUERY_STRING": query})
        assert unencoded.status_code == 200, unencoded.json
        assert unencoded.json == encoded.json
    latin = client.get("/api/v1/public/institutions",
                       environ_overrides={"QUERY_STRING": "q=" + "é".encode().decode("latin-1")})
    assert latin.status_code == 200 and latin.json == []  # é stays é, matching nothing
