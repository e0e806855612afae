"""supervision: off-campus tutoring supervision (registries, escrow ledger, compliance)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask.typing import ResponseReturnValue

from . import db
from .access import audit
from .config import PROJECT_DIR, load_settings

log = logging.getLogger(__name__)


class SupervisionFlask(Flask):
    def dispatch_request(self) -> ResponseReturnValue:
        """Each request commits once, here, after the view returned normally.

        Anything raised skips the commit; teardown then closes the session, rolling back.
        """
        from .web.request import commit_request_session

        rv = super().dispatch_request()
        commit_request_session()
        return rv


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = load_settings(overrides)
    app = SupervisionFlask(__name__, instance_path=str(PROJECT_DIR / "instance"))
    app.config["SUPERVISION"] = settings
    app.config["MAX_CONTENT_LENGTH"] = int(settings["MAX_CONTENT_LENGTH"])
    app.config["TESTING"] = bool(settings.get("TESTING", False))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    engine = db.make_engine(settings["DATABASE_URL"], pool_size=int(settings["DB_POOL_SIZE"]))
    factory = db.make_sessionmaker(engine)
    audit.install(factory)
    app.extensions["supervision.engine"] = engine
    app.extensions["supervision.sessionmaker"] = factory

    from . import api, cli
    from .web import observability, probes, security
    from .web.request import close_request_session

    app.teardown_appcontext(close_request_session)
    observability.init_app(app)  # first: request ids and logs for every later refusal
    security.init_app(app)
    api.init_app(app)
    probes.init_app(app)
    cli.init_app(app)
    from . import console

    console.init_app(app)  # the regulator's web console under /console/
    return app
