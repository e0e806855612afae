"""Operations endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import text

from . import observability
from .request import db_session


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Any:
        # Touches nothing: a slow database must not get every worker restarted.
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Any:
        try:
            db_session().execute(text("select 1"))
        except Exception as exc:  # any failure to reach the database means "not ready"
            return jsonify({"status": "unavailable", "error": type(exc).__name__}), 503
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def metrics() -> Any:
        body, content_type = observability.render_metrics(app, request.headers.get("Accept"))
        return Response(body, content_type=content_type)
