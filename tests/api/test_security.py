"""Security headers, the body-size limit and the production secrets check."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from supervision import create_app
from supervision.web.security import PAGE_CSP, content_security_policy

from ..support.factories import Factory

ERROR_BODY_KEYS = {"code", "status", "message", "errors"}


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_api_responses_carry_the_security_headers_and_are_never_cached(
        client: FlaskClient, make: Factory) -> None:
    for resp in (client.get("/api/v1/me", headers=make.headers("regulator")),
                 client.get("/api/v1/me")):  # an error (401) too
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["Cache-Control"] == "no-store"
        csp = csp_directives(resp.headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]


def test_the_docs_page_may_run_exactly_its_own_inline_script(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    csp = csp_directives(page.headers["Content-Security-Policy"])
    inline = re.findall(r"<script>(.*?)</script>", page.get_data(as_text=True), re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert csp["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert csp["default-src"] == ["'self'"]  # its assets are local (/api/docs/assets/)
    assert csp["frame-ancestors"] == ["'none'"]
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert "no-store" not in asset.headers.get("Cache-Control", "")


def test_console_pages_get_a_local_assets_only_policy() -> None:
    csp = csp_directives(content_security_policy("/console/flags", Response("<p>x</p>")))
    assert csp == csp_directives(PAGE_CSP)
    assert csp["script-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]


def test_a_10_mb_body_is_refused_with_413_in_the_error_body_before_anything_runs(
        client: FlaskClient, make: Factory) -> None:
    headers = make.headers("regulator")
    for path in ("/api/v1/institutions", "/api/v1/me", "/api/v1/trustee/events"):
        resp = client.post(path, data=b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}',
                           headers=headers, content_type="application/json")
        assert resp.status_code == 413, path
        assert set(resp.json) >= ERROR_BODY_KEYS
        assert resp.json["code"] == 413
        assert resp.json["status"] == "Request Entity Too Large"
        assert resp.headers["X-Request-Id"]


def test_a_body_under_the_limit_is_not_refused_for_its_size(client: FlaskClient) -> None:
    resp = client.post("/api/v1/me", data=b"{}" + b" " * 1_000_000,
                       content_type="application/json")
    assert resp.status_code != 413


@pytest.fixture
def quiet_settings(database_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": database_url, "TESTING": False}


def test_production_refuses_to_start_with_the_demo_secrets(
        quiet_settings: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError) as err:
        create_app({**quiet_settings, "ENV": "production", "NOTIFY_SECRET": "n" * 32})
    assert "SUPERVISION_ID_HASH_KEY" in str(err.value)
    assert "SUPERVISION_TRUSTEE_SECRET" in str(err.value)
    assert "SUPERVISION_NOTIFY_SECRET" not in str(err.value)


def test_production_starts_once_every_secret_is_set(quiet_settings: dict[str, Any]) -> None:
    app = create_app({**quiet_settings, "ENV": "production", "SECRET_KEY": "k" * 32,
                      "ID_HASH_KEY": "i" * 32, "TRUSTEE_SECRET": "t" * 32,
                      "NOTIFY_SECRET": "n" * 32})
    app.extensions["supervision.engine"].dispose()


def test_outside_production_the_demo_secrets_only_warn(
        quiet_settings: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="supervision.web.security"):
        app: Flask = create_app(quiet_settings)
    app.extensions["supervision.engine"].dispose()
    warning = next(r for r in caplog.records if r.name == "supervision.web.security")
    assert "SUPERVISION_NOTIFY_SECRET" in warning.getMessage()
