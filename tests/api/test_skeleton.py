"""The service skeleton: who am I, errors, docs, health."""

from __future__ import annotations

from flask.testing import FlaskClient

from ..support.factories import Factory


def test_me_tells_a_district_regulator_its_role_and_district(client: FlaskClient,
                                                             make: Factory) -> None:
    headers = make.headers("regulator", district_code="320213", name="梁溪区教育局")
    resp = client.get("/api/v1/me", headers=headers)
    assert resp.status_code == 200
    assert resp.json["role"] == "regulator"
    assert resp.json["name"] == "梁溪区教育局"
    assert resp.json["district_code"] == "320213"


def test_a_missing_or_unknown_token_is_401_with_the_error_body(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        resp = client.get("/api/v1/me", headers=headers)
        assert resp.status_code == 401
        assert set(resp.json) >= {"code", "status", "message", "errors"}
        assert resp.json["code"] == 401


def test_an_unknown_path_answers_404_in_the_error_body(client: FlaskClient) -> None:
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.json["status"] == "Not Found"


def test_the_openapi_document_and_local_docs_are_served(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").json["openapi"].startswith("3.")
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert b"/api/docs/assets/swagger-ui-bundle.js" in page.data
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_health_and_readiness_answer(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_regulator_only_endpoint_is_403_for_a_parent(client: FlaskClient,
                                                       make: Factory) -> None:
    resp = client.get("/api/v1/audit", headers=make.headers("parent"))
    assert resp.status_code == 403
