"""The regulator's console: server-rendered pages in Chinese under /console/.

It has no business logic of its own: every page calls the same service functions as the JSON
API, with the same scoping (supervision/scope.py), and presents what they return. Sign-in is by
the regulator's API token; the browser then holds a signed, HttpOnly, SameSite=Lax session
cookie, and every form carries a CSRF token (Flask-WTF), checked for this blueprint only: the
JSON API authenticates by bearer token, never by cookie, so it needs none.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"

bp = Blueprint("console", __name__, url_prefix="/console", static_folder=str(STATIC_DIR),
               static_url_path="/static")
csrf = CSRFProtect()

# Demo-only, like the other dev-only keys in config/defaults.toml: production sets
# SUPERVISION_SECRET_KEY (one value shared by every worker, or sessions break across workers).
DEV_SECRET_KEY = "dev-only-console-secret-key"


def _secure_cookie(settings: dict[str, Any]) -> bool:
    """Secure (HTTPS-only) cookies in production unless SUPERVISION_SESSION_COOKIE_SECURE says
    otherwise; the embedded demo serves plain http on 127.0.0.1."""
    raw = settings.get("SESSION_COOKIE_SECURE")
    if raw is None or raw == "":
        return settings.get("ENV") == "production"
    return str(raw).strip().lower() in {"1", "true", "yes", "on"}


def _configure(app: Flask) -> None:
    settings = app.config["SUPERVISION"]
    secret = str(settings.get("SECRET_KEY") or "")
    if not secret:
        if settings.get("ENV") == "production":
            raise RuntimeError("SUPERVISION_SECRET_KEY must be set in production")
        secret = DEV_SECRET_KEY
    if not app.config.get("SECRET_KEY"):  # Flask's default is None, so setdefault would not do
        app.config["SECRET_KEY"] = secret
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_secure_cookie(settings),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=int(settings.get("CONSOLE_SESSION_HOURS",
                                                                       8))),
        # CSRF is checked by the console blueprint itself (see pages.check_csrf), not app-wide:
        # the JSON API takes no cookies, so a forged cross-site request carries no credentials.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the signed-in session, not one hour: an officer may keep a
        # flag open for a long read before acting.
        WTF_CSRF_TIME_LIMIT=None,
    )


def init_app(app: Flask) -> None:
    _configure(app)
    csrf.init_app(app)
    # Importing the view modules registers their routes on bp.
    from .calendar import calendar_page  # noqa: F401
    from .dashboard import dashboard  # noqa: F401
    from .flags import queue  # noqa: F401
    from .institutions import institutions  # noqa: F401
    from .labels import install_filters
    from .pages import home  # noqa: F401
    from .signin import signin  # noqa: F401

    install_filters(app)
    app.register_blueprint(bp)
