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
        """Each request's unit of work ends here, once: committed after the view returned
        normally, its after-commit work run before the response leaves (the trustee has the
        instruction when the caller hears of it); rolled back when the view raised, so error
        handlers start from a clean session.
        """
        from .web.request import finish_request

        try:
            rv = super().dispatch_request()
        except BaseException as exc:
            finish_request(None, exc)
            raise
        return finish_request(rv)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = load_settings(overrides)
    app = SupervisionFlask(__name__, instance_path=str(PROJECT_DIR / "instance"))
    app.config["SUPERVISION"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.config["TESTING"] = settings.testing
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    from .web.query import encode_raw_query

    app.wsgi_app = encode_raw_query(app.wsgi_app)  # type: ignore[method-assign,assignment]

    engine = db.make_engine(settings.database_url, pool_size=settings.db_pool_size,
                            prepare_threshold=settings.db_prepare_threshold)
    factory = db.make_sessionmaker(engine)
    audit.install(factory)
    app.extensions["supervision.engine"] = engine
    app.extensions["supervision.sessionmaker"] = factory
    if settings.database_replica_url:
        from .web import replica

        # The GET views that opt in read there (web/replica.py); nothing writes there.
        replica.init_app(app, replica.make_router(settings))

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
    from . import parent

    parent.init_app(app)  # the parents' app under /parent/
    from . import institution

    institution.init_app(app)  # the institutions' portal under /institution/
    from . import public

    public.init_app(app)  # the public look-up under /public/
    return app
