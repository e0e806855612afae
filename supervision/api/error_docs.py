"""The error statuses of every operation, documented once for all (API.md §1).

flask-smorest documents a catch-all `default` error response, which tells a client (or a
fuzzer) nothing and hides an undocumented status. Instead every operation lists the statuses
it really answers, from what the code of the operation says:

- 401 always: a bearer token (or, for the trustee's events, a signature) is checked first;
- 414 always: gunicorn refuses a request line over 8190 bytes (gunicorn.conf.py);
- 403 when `@requires` leaves out a role (the role may not call it at all);
- 404 when the path or the body names an object (unknown or out of scope);
- 400 and 413 with a request body (malformed JSON, too large), 413 on any write;
- 409 and 422 on writes (conflicts, idempotency keys, business rules); 422 on reads with query
  or non-integer path parameters;
- 429 where the rate limit applies (everything but the trustee's signed events).
A view answering something else documents it itself with `@bp.alt_response`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

ROLES = frozenset({"regulator", "institution", "parent"})
WRITES = frozenset({"post", "put", "patch", "delete"})
METHODS = WRITES | {"get", "head", "options"}
NOT_RATE_LIMITED = frozenset({"/api/v1/trustee/events"})


class ErrorSchema(ma.Schema):
    """The one error body (API.md §1)."""

    class Meta:
        ordered = True

    code = ma.fields.Integer(required=True, metadata={"description": "the HTTP status",
                                                      "example": 422})
    status = ma.fields.String(required=True, metadata={"description": "its reason phrase",
                                                       "example": "Unprocessable Entity"})
    message = ma.fields.String(required=True, metadata={"example": "validation failed"})
    errors = ma.fields.Dict(keys=ma.fields.String(),
                            values=ma.fields.List(ma.fields.String()), required=True,
                            metadata={"description": "field name → messages, flat and dotted",
                                      "example": {"uscc": ["the check character is wrong"]}})
    rule = ma.fields.String(metadata={"description": "the RULES.md code of a business rule "
                                                     "that refused the request",
                                      "example": "PREPAY_OVER_HOURS"})


def _view_function(app: Flask, rule: Rule, method: str) -> Any:
    view = app.view_functions.get(rule.endpoint)
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, method, None) if view_class is not None else view


def _names_objects_in_body(view: Any) -> bool:
    """Whether the body carries ids of other objects (course_id, enrollment_ids...)."""
    arguments = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    for argument in arguments:
        schema = argument.get("schema")
        if argument.get("location", "json") != "json" or schema is None:
            continue
        fields = (schema() if isinstance(schema, type) else schema).fields
        for name, field in fields.items():
            inner = field.inner if isinstance(field, ma.fields.List) else field
            if name.endswith(("_id", "_ids")) and isinstance(inner, ma.fields.Integer):
                return True
    return False


def error_statuses(app: Flask, rule: Rule, method: str, operation: dict[str, Any]) -> set[int]:
    statuses = {401, 414}
    view = _view_function(app, rule, method)
    roles = getattr(view, "required_roles", None)
    if roles is not None and ROLES - set(roles):
        statuses.add(403)
    if rule.arguments or _names_objects_in_body(view):
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if method in WRITES:
        statuses |= {409, 413, 422}
    elif any(not isinstance(c, IntegerConverter) for c in rule._converters.values()):
        statuses.add(422)
    if rule.rule not in NOT_RATE_LIMITED:
        statuses.add(429)
    return statuses


class ErrorResponses(BasePlugin):
    """apispec plugin: runs on every operation as flask-smorest registers it."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            if method not in METHODS or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(self.app, rule, method, operation)):
                # flask-smorest registers one response per status (by its name) with the
                # error schema; a view's own documentation of a status wins.
                if status not in responses and str(status) not in responses:
                    responses[str(status)] = HTTPStatus(status).name
