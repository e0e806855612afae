"""Operations endpoints: liveness, readiness."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text

from .api.context import db_session


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
