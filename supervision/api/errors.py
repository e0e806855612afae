"""Every error leaves as one body: {"code", "status", "message", "errors", ["rule"]}.

Domain exceptions are mapped to HTTP here and nowhere else.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from .. import errors as domain

log = logging.getLogger(__name__)

STATUS_OF: list[tuple[type[domain.DomainError], int]] = [
    (domain.NotFound, 404),
    (domain.Unauthenticated, 401),
    (domain.Forbidden, 403),
    (domain.Conflict, 409),
    (domain.Invalid, 422),
]


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location and marshmallow by field: make them flat and dotted.

    {"json": {"uscc": [...], "sessions": {"0": {"ends_at": [...]}}}} becomes
    {"uscc": [...], "sessions.0.ends_at": [...]}.
    """
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if not prefix and key in {"json", "query", "view_args", "headers", "form", "files"}:
                name = ""
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat.setdefault(prefix or "_schema", []).extend(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            flat.update(flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        flat.setdefault(prefix or "_schema", []).append(str(messages))
    return flat


def body(code: int, message: str, errors: dict[str, list[str]] | None = None,
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase,
                           "message": message, "errors": errors or {}}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def http_exception_body(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = flatten(data.get("errors") or data.get("messages") or {})
    message = data.get("message") or error.description or HTTPStatus(code).phrase
    if code == 422 and errors and "message" not in data:
        message = "validation failed"
    elif code == 400 and errors and "message" not in data:
        message = "malformed request: " + "; ".join(m for ms in errors.values() for m in ms)
    # Keep werkzeug's own headers (Allow on a 405, as RFC 9110 requires), not its HTML type.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return body(code, message, errors), code, headers


def _domain_error(error: domain.DomainError) -> tuple[Response, int]:
    code = next((status for cls, status in STATUS_OF if isinstance(error, cls)), 422)
    payload = body(code, error.message, error.errors, rule=error.rule, **error.extra)
    response = jsonify(payload)
    if code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response, code


def _integrity_error(error: IntegrityError) -> tuple[Response, int]:
    # Unique keys are checked by the services first; reaching here means a concurrent writer
    # got there between our check and our insert, which is a conflict, not a server fault.
    log.info("integrity error mapped to 409: %s", error.orig)
    return jsonify(body(409, "conflict with the current state of the resource")), 409


def _unexpected(error: Exception) -> tuple[Response, int]:
    log.exception("unhandled error", exc_info=error)
    return jsonify(body(500, "internal server error")), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(domain.DomainError, _domain_error)
    app.register_error_handler(IntegrityError, _integrity_error)
    app.register_error_handler(Exception, _unexpected)
