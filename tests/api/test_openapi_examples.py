"""The OpenAPI document's examples are believable: every field has one, each fits its own
documented constraints, and every request example is accepted by the endpoint's own schema
(and the registration examples by the API itself), so /api/docs never shows a made-up
"vE883cf^&L" or 9223372036854776000 again."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.api.trustee import load_event
from supervision.models import Course, Institution, Teacher

from ..support.factories import Factory

METHODS = ("get", "post", "put", "patch", "delete")
# flask-smorest's own schema of the pagination header: no operation refers to it (our
# Blueprint documents X-Pagination as a string with its own example, api/common.py).
FOREIGN_COMPONENTS = {"PaginationMetadata"}
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,),
    "array": (list,), "object": (dict,)}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    return dict(client.get("/api/v1/openapi.json").json)


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def composed(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a property is made of: a $ref, allOf/oneOf members, array items."""
    if "$ref" in schema:
        return [schema]
    parts = [*schema.get("allOf", []), *schema.get("oneOf", [])]
    if schema.get("type") == "array" and "items" in schema:
        parts.append(schema["items"])
    return parts


def without_examples(spec: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Where an example is missing: a property needs its own, unless it is made of objects
    whose properties all have one (a nested schema, a list of them)."""
    if "example" in schema:
        return []
    parts = composed(schema)
    if not parts:
        resolved = resolve(spec, schema)
        if resolved.get("properties"):
            return [m for name, prop in resolved["properties"].items()
                    for m in without_examples(spec, prop, f"{where}.{name}")]
        return [where]
    missing = []
    for part in parts:
        target = resolve(spec, part)
        if not target.get("properties"):
            missing += without_examples(spec, target, where) if target is not part else [where]
            continue
        for name, prop in target["properties"].items():
            missing += without_examples(spec, prop, f"{where}.{name}")
    return missing


def example_of(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The example of a schema, composed from its properties' examples where it has none."""
    if "example" in schema:
        return schema["example"]
    if "$ref" in schema:
        return example_of(spec, resolve(spec, schema))
    if schema.get("allOf"):
        return example_of(spec, schema["allOf"][0])
    if schema.get("type") == "array":
        return [example_of(spec, schema["items"])]
    return {name: example_of(spec, prop) for name, prop in schema["properties"].items()}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS]


def spec_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def documented_arguments(app: Flask) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(spec path, method) → the marshmallow schemas the view loads its arguments with."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        for method in METHODS:
            view = getattr(view_class, method, None)
            arguments = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
            if arguments:
                out[(spec_path(rule.rule), method)] = arguments
    return out


def location(argument: dict[str, Any]) -> str:
    # flask-smorest names it "location" until the document is built, "in" after ("body").
    where = argument.get("location") or argument.get("in") or "json"
    return "json" if where == "body" else str(where)


def fresh(schema: Any) -> ma.Schema:
    if isinstance(schema, type):
        return schema()
    return type(schema)()  # the view's instance may be partial (PATCH): load as a new one


def test_every_field_of_every_schema_has_an_example(spec: dict[str, Any]) -> None:
    missing = []
    for name, schema in spec["components"]["schemas"].items():
        if name in FOREIGN_COMPONENTS:
            continue
        for prop_name, prop in schema.get("properties", {}).items():
            missing += without_examples(spec, prop, f"{name}.{prop_name}")
    for path, method, op in operations(spec):
        where = f"{method} {path}"
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            missing += without_examples(spec, body["schema"], f"{where} body")
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values() if isinstance(response, dict) \
                    else []:
                missing += without_examples(spec, media["schema"], f"{where} {status}")
        for param in op.get("parameters", []):
            schema = param.get("schema", {})
            if param["in"] == "query" and "example" not in param and not (
                    {"example", "default"} & set(schema)):
                missing.append(f"{where} ?{param['name']}")
    assert missing == []


def test_the_pagination_component_left_without_examples_is_used_by_no_operation(
        spec: dict[str, Any]) -> None:
    text = json.dumps(spec["paths"])
    for name in FOREIGN_COMPONENTS:
        assert f"#/components/schemas/{name}\"" not in text


def check_example(spec: dict[str, Any], schema: dict[str, Any], value: Any,
                  where: str) -> list[str]:
    """The example against the property's own documentation: type, enum, pattern, bounds,
    formats (timestamps in Shanghai time, as the API writes them)."""
    schema = resolve(spec, schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null but not nullable"]
    for part in schema.get("allOf", []):
        return check_example(spec, part, value, where)
    kind = schema.get("type")
    if kind is not None and (not isinstance(value, JSON_TYPES[kind])
                             or (kind in ("integer", "number") and isinstance(value, bool))):
        return [f"{where}: {value!r} is not {kind}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in enum")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: {value!r} does not match its pattern")
        if len(value) > schema.get("maxLength", len(value)):
            problems.append(f"{where}: {value!r} is too long")
        if schema.get("format") == "date-time" and not value.endswith("+08:00"):
            problems.append(f"{where}: {value!r} is not Shanghai time")
        if schema.get("format") == "date":
            dt.date.fromisoformat(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and not (
            schema.get("minimum", value) <= value <= schema.get("maximum", value)):
        problems.append(f"{where}: {value!r} is out of bounds")
    if isinstance(value, list):
        for i, item in enumerate(value):
            problems += check_example(spec, schema.get("items", {}), item, f"{where}.{i}")
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            prop = schema["properties"].get(key)
            problems += ([f"{where}.{key}: undocumented"] if prop is None
                         else check_example(spec, prop, item, f"{where}.{key}"))
    return problems


def test_every_example_fits_what_its_own_property_documents(spec: dict[str, Any]) -> None:
    problems = []
    for name, schema in spec["components"]["schemas"].items():
        for prop_name, prop in schema.get("properties", {}).items():
            if "example" in prop:
                problems += check_example(spec, prop, prop["example"], f"{name}.{prop_name}")
    for path, method, op in operations(spec):
        for param in op.get("parameters", []):
            schema = param.get("schema", {})
            if "example" in schema:
                problems += check_example(spec, schema, schema["example"],
                                          f"{method} {path} ?{param['name']}")
    assert problems == []


def test_every_request_body_example_is_accepted_by_the_endpoints_own_schema(
        app: Flask, spec: dict[str, Any]) -> None:
    arguments = documented_arguments(app)
    loaded = []
    for path, method, op in operations(spec):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        schemas = [a["schema"] for a in arguments.get((path, method), [])
                   if location(a) == "json"]
        if schemas:
            [schema] = schemas
            example = example_of(spec, body["schema"])
            try:
                fresh(schema).load(example)
            except ma.ValidationError as exc:
                pytest.fail(f"{method} {path}: {exc.messages} for {example}")
        else:
            # The trustee's events are loaded by the view itself (after the signature): one
            # documented alternative per event type, each through that loader.
            alternatives = body["schema"]["oneOf"]
            assert len(alternatives) == 3
            for alternative in alternatives:
                example = example_of(spec, alternative)
                event, _raw = load_event(json.dumps(example).encode())
                assert event["type"] == example["type"]
        loaded.append(f"{method} {path}")
    assert len(loaded) >= 22  # every body of the API (API.md), none skipped


def as_query_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def test_every_query_example_is_accepted_by_the_endpoints_own_arguments(
        app: Flask, spec: dict[str, Any]) -> None:
    arguments = documented_arguments(app)
    checked = 0
    for path, method, op in operations(spec):
        query = {p["name"]: as_query_text(p["schema"]["example"])
                 for p in op.get("parameters", [])
                 if p["in"] == "query" and "example" in p.get("schema", {})}
        schemas = [a["schema"] for a in arguments.get((path, method), [])
                   if location(a) == "query"]
        if not query:
            assert schemas == [], f"{method} {path} documents no query example"
            continue
        [schema] = schemas
        try:
            loaded = fresh(schema).load(query)
        except ma.ValidationError as exc:
            pytest.fail(f"{method} {path}: {exc.messages} for {query}")
        assert len(loaded) == len(query)
        checked += 1
    assert checked >= 10


def test_the_registration_examples_are_accepted_by_the_api_itself(
        client: FlaskClient, db: Session, make: Factory, spec: dict[str, Any]) -> None:
    """Beyond the schemas: the services check the USCC's and the ID number's check characters,
    the teacher's certificate, the price and the grades."""
    schemas = spec["components"]["schemas"]
    regulator = make.headers("regulator")
    institutions_before = db.scalar(select(func.count()).select_from(Institution))
    institution = client.post("/api/v1/institutions", headers=regulator,
                              json=example_of(spec, schemas["InstitutionIn"]))
    assert institution.status_code == 201, institution.json
    assert db.scalar(select(func.count()).select_from(Institution)) == institutions_before + 1
    iid = institution.json["id"]
    teacher = client.post("/api/v1/teachers", headers=regulator,
                          json={**example_of(spec, schemas["TeacherIn"]), "institution_id": iid})
    assert teacher.status_code == 201, teacher.json
    assert db.get(Teacher, teacher.json["id"]) is not None
    staff = make.headers("institution", institution=db.get(Institution, iid))
    venue = client.post(f"/api/v1/institutions/{iid}/venues", headers=regulator,
                        json=example_of(spec, schemas["VenueIn"]))
    assert venue.status_code == 201, venue.json
    course = client.post("/api/v1/courses", headers=staff,
                         json={**example_of(spec, schemas["CourseIn"]),
                               "venue_id": venue.json["id"]})
    assert course.status_code == 201, course.json
    assert db.get(Course, course.json["id"]) is not None
    # The documented output looks like what the API answers: the same keys.
    assert set(institution.json) == set(schemas["InstitutionOut"]["properties"])
    assert set(teacher.json) == set(schemas["TeacherOut"]["properties"])
