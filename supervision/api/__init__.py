"""The HTTP API: flask-smorest Api, the blueprints, the error body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_smorest import Api as _Api
from werkzeug.exceptions import HTTPException

from . import errors
from .error_docs import ErrorResponses, ErrorSchema

SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)


class Api(_Api):
    # Each operation lists its own error statuses (error_docs.py), no catch-all "default".
    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> Any:
        return errors.http_exception_body(error)


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="supervision: 校外培训监管 (锡心教培 trust model)",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api = Api(app, spec_kwargs={"extra_plugins": [ErrorResponses(app)]})
    errors.init_app(app)
    # Register after the Api so our handlers win over its generic HTTPException handler.
    app.register_error_handler(HTTPException, api.handle_http_exception)

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_assets(filename: str) -> Any:
        return send_from_directory(SWAGGER_ASSETS, filename, max_age=86400)

    from . import complaints, compliance, escrow, imports, public, registry, risk, rules, trustee

    for bp in [*registry.blueprints, *compliance.blueprints, *trustee.blueprints,
               *escrow.blueprints, *rules.blueprints, *complaints.blueprints,
               *public.blueprints, *risk.blueprints, *imports.blueprints]:
        api.register_blueprint(bp, url_prefix="/api/v1")
