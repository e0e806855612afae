"""Structured logs: one JSON object per line, the request id, and no secrets or ID numbers."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from supervision.identifiers import fake_id_number
from supervision.web.observability import JsonFormatter, configure_logging, scrub

from ..support.databases import create_schema
from ..support.factories import Factory
from ..support.servers import prod_server


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line our handler wrote; a line that is not one JSON object fails the test."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def access_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if line["logger"] == "supervision.request"]


def test_each_request_writes_one_json_access_line_with_its_context(
        client: FlaskClient, make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    headers = make.headers("parent", name="家长甲")
    capsys.readouterr()
    resp = client.get("/api/v1/me", headers={**headers, "X-Request-Id": "req-42.a"})
    assert resp.status_code == 200
    [line] = access_lines(capsys.readouterr().err)
    assert line["request_id"] == "req-42.a"
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/me"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["principal_role"] == "parent"
    assert line["principal_id"] == resp.json["parent_id"]
    assert line["time"].endswith("+00:00")


def test_a_sane_request_id_is_echoed_and_a_missing_one_generated(client: FlaskClient) -> None:
    given = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a:9"})
    assert given.headers["X-Request-Id"] == "lb-7f3a:9"
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert len(first) == 32 and first != second


@pytest.mark.parametrize("bad", ['x" injected', "a" * 129, "with space", "-leading", "行"])
def test_an_insane_request_id_is_replaced_not_echoed(client: FlaskClient, bad: str) -> None:
    resp = client.get("/healthz", headers={"X-Request-Id": bad.encode().decode("latin-1")})
    assert resp.headers["X-Request-Id"] != bad
    assert len(resp.headers["X-Request-Id"]) == 32


@pytest.mark.fresh_app
def test_the_path_is_the_url_rule_so_ids_do_not_appear(
        app: Flask, client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    app.add_url_rule("/api/v1/_probe/<int:item_id>", "probe", lambda item_id: {"id": item_id})
    capsys.readouterr()
    assert client.get("/api/v1/_probe/918273").status_code == 200
    [line] = access_lines(capsys.readouterr().err)
    assert line["path"] == "/api/v1/_probe/<int:item_id>"
    assert "918273" not in json.dumps(line)


@pytest.mark.fresh_app
def test_tokens_and_id_numbers_never_reach_the_log(
        app: Flask, client: FlaskClient, make: Factory,
        capsys: pytest.CaptureFixture[str]) -> None:
    id_number = fake_id_number(random.Random(7))
    token = make.token("regulator")

    def explode() -> Any:
        logging.getLogger("supervision.test").warning(
            "teacher %s presented Authorization: Bearer %s", id_number, token)
        raise ValueError(f"cannot register {id_number}")

    app.add_url_rule("/api/v1/_explode", "explode", explode, methods=["POST"])
    capsys.readouterr()
    auth = {"Authorization": f"Bearer {token}"}
    client.get(f"/api/v1/me?id_number={id_number}",
               headers={**auth, "X-Request-Id": id_number})
    resp = client.post("/api/v1/_explode", headers=auth, json={"id_number": id_number})
    assert resp.status_code == 500
    err = capsys.readouterr().err
    lines = json_lines(err)
    assert any(line.get("exc") for line in lines), "the 500 was logged with its traceback"
    assert any("3" in line["message"] and "****" in line["message"] for line in lines)
    assert id_number not in err
    assert token not in err


def test_scrub_masks_resident_id_numbers_and_bearer_tokens_only() -> None:
    assert scrub("id 32021319900101123X end") == "id 3202**********123X end"
    assert scrub("Authorization: Bearer abc.DEF-123_x") == "Authorization: Bearer [redacted]"
    # A 17-digit teacher's certificate, a 19-digit number and an 18-digit run inside a longer
    # token are not ID numbers: leave them readable.
    for text in ("cert 20263200311000123", "n 1234567890123456789", "ref A320213199001011234"):
        assert scrub(text) == text


def serve(app: Any, requests_to_answer: int) -> tuple[str, threading.Thread, Any]:
    """werkzeug's development server (what `flask run` and scripts/run use), in a thread."""
    server = make_server("127.0.0.1", 0, app)

    def answer() -> None:
        for _ in range(requests_to_answer):
            server.handle_request()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.port}", thread, server


def test_the_development_server_adds_no_second_line_and_no_colours(
        app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    base, thread, server = serve(app, 2)
    capsys.readouterr()
    try:
        assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).status_code == 200
        assert requests.get(f"{base}/no/such/page", timeout=10).status_code == 404
        thread.join(10)
    finally:
        server.server_close()
    err = capsys.readouterr().err
    assert "\x1b[" not in err and "\\u001b[" not in err  # werkzeug paints a 404 yellow
    assert [line["status"] for line in access_lines(err)] == [200, 404]
    assert [line for line in json_lines(err) if line["logger"] == "werkzeug"] == []


def test_the_development_server_still_logs_requests_of_an_app_without_an_access_log(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The sandbox trustee runs beside the service in one process and has no access log."""
    other = Flask("sandbox")
    base, thread, server = serve(other, 1)
    capsys.readouterr()
    try:
        assert requests.get(f"{base}/statements/x", timeout=10).status_code == 404
        thread.join(10)
    finally:
        server.server_close()
    err = capsys.readouterr().err
    [line] = [line for line in json_lines(err) if line["logger"] == "werkzeug"]
    assert '"GET /statements/x HTTP/1.1" 404' in line["message"]
    assert "\x1b[" not in err and "\\u001b[" not in err


def test_werkzeugs_own_plain_text_handler_is_taken_off_so_nothing_is_written_twice() -> None:
    dev_server = logging.getLogger("werkzeug")
    before = list(dev_server.handlers)
    dev_server.addHandler(logging.StreamHandler())  # what werkzeug does if it logs first
    try:
        configure_logging("INFO")
        assert [h for h in dev_server.handlers if not isinstance(h.formatter, JsonFormatter)] \
            == []
    finally:
        for handler in list(dev_server.handlers):
            dev_server.removeHandler(handler)
        for handler in before:
            dev_server.addHandler(handler)


@pytest.mark.slow
@pytest.mark.other_processes
def test_gunicorn_writes_one_json_access_line_per_request_and_nothing_else_per_request(
        tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    create_schema(url)
    with prod_server(url, tmp_path, SUPERVISION_WEB_CONCURRENCY="1") as server:
        log, base = server.log, server.base
        started = len(log.read_text().splitlines())
        assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).status_code == 200
        assert requests.get(f"{base}/no/such/page", timeout=10).status_code == 404
        time.sleep(0.5)
    text = "\n".join(log.read_text().splitlines()[started:])
    assert "\x1b[" not in text and "\\u001b[" not in text
    during = [line for line in json_lines(text) if "request_id" in line or "GET" in line["message"]]
    assert [(line["logger"], line["status"]) for line in during] == [
        ("supervision.request", 200), ("supervision.request", 404)]
