"""What every server-rendered front end (the console, the parents' app, the public look-up)
shares: the signed session cookie and CSRF set-up, signing a person in with their token (a
server-side session, see access.principals), and the wording filters of supervision.wording.

Each front end keeps its own cookie keys, so the console and the parents' app never read each
other's sign-in; the cookie holds the key of a server-side session and a fingerprint of the
token hash, never the token (the cookie is signed, not encrypted). Every request looks the
session up and reloads its principal, so signing out, a revoked or expired principal, or a
replaced token signs the browser out at once, even if an old copy of the cookie is replayed.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, session
from flask_wtf.csrf import CSRFProtect

from ..access.principals import (
    actor_for,
    console_principal,
    end_console_session,
    start_console_session,
)
from ..access.scope import Actor
from ..config import Settings
from ..models import Principal
from ..wording import yuan, zh_date, zh_datetime
from .request import db_session

csrf = CSRFProtect()
# The stylesheet and icon the parents' app and the public look-up share, served from here.
assets = Blueprint("front", __name__, url_prefix="/front",
                   static_folder=str(Path(__file__).resolve().parent.parent / "static" / "front"),
                   static_url_path="/static")

# Demo-only, like the other dev-only keys in config/defaults.toml: production sets
# SUPERVISION_SECRET_KEY (one value shared by every worker, or sessions break across workers).
DEV_SECRET_KEY = "dev-only-console-secret-key"


def secure_cookie(settings: Settings) -> bool:
    """Secure (HTTPS-only) cookies in production unless SUPERVISION_SESSION_COOKIE_SECURE says
    otherwise; the embedded demo serves plain http on 127.0.0.1."""
    raw = settings.session_cookie_secure.strip().lower()
    if not raw:
        return settings.env == "production"
    return raw in {"1", "true", "yes", "on"}


def init_app(app: Flask) -> None:
    """Cookie sessions, CSRF and the wording filters, once per app whichever front end asks
    first (every front end calls this)."""
    if "supervision.browser" in app.extensions:
        return
    app.extensions["supervision.browser"] = True
    settings: Settings = app.config["SUPERVISION"]
    secret = settings.secret_key
    if not secret:
        if settings.env == "production":
            raise RuntimeError("SUPERVISION_SECRET_KEY must be set in production")
        secret = DEV_SECRET_KEY
    if not app.config.get("SECRET_KEY"):  # Flask's default is None, so setdefault would not do
        app.config["SECRET_KEY"] = secret
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookie(settings),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.console_session_hours),
        # CSRF is checked by each front end's blueprint itself (csrf.protect() before its
        # requests), not app-wide: the JSON API takes no cookies, so a forged cross-site
        # request carries no credentials.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the signed-in session, not one hour: an officer may keep a
        # flag open for a long read before acting, a parent a refund form.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    app.jinja_env.filters.update(yuan=yuan, zh_date=zh_date, zh_datetime=zh_datetime)
    app.register_blueprint(assets)


# --- signing in ------------------------------------------------------------------------------

SIGN_INS: dict[str, SignIn] = {}  # by path prefix


class SignIn:
    """One front end's sign-in: its cookie keys, the roles it lets in and the path its pages
    live under (the rate limiter counts them against the signed-in person; nothing there is
    cached by a browser or a proxy)."""

    def __init__(self, name: str, roles: frozenset[str], prefix: str) -> None:
        self.name = name
        self.roles = roles
        self.prefix = prefix
        self.key = f"{name}_key"
        self.fingerprint = f"{name}_fp"
        SIGN_INS[prefix] = self

    @staticmethod
    def _fingerprint(principal: Principal) -> str:
        return principal.token_hash[:16]

    def actor(self) -> Actor | None:
        """The signed-in person, or None (no cookie, a stale one, or no longer in a role this
        front end lets in). Looked up once per request."""
        cache = f"signed_in_{self.name}"
        if cache in g:
            return g.get(cache)
        actor = None
        key = session.get(self.key)
        if isinstance(key, str):
            principal = console_principal(db_session(), key)
            if (principal is not None and principal.role in self.roles
                    and session.get(self.fingerprint) == self._fingerprint(principal)):
                actor = actor_for(principal)
                # The audit trail names whoever the edge put on the session.
                db_session().info["actor"] = actor
        setattr(g, cache, actor)
        return actor

    def start(self, principal: Principal) -> None:
        """A fresh cookie session for `principal` (no fixation of a pre-sign-in cookie)."""
        session.clear()
        session.permanent = True
        session[self.key] = start_console_session(
            db_session(), principal, current_app.permanent_session_lifetime)
        session[self.fingerprint] = self._fingerprint(principal)

    def end(self) -> None:
        key = session.get(self.key)
        if isinstance(key, str):
            end_console_session(db_session(), key)  # a replayed copy of this cookie is refused
        session.clear()


def sign_in_for(path: str) -> SignIn | None:
    """The sign-in of the front end that serves `path`, if it has one."""
    return next((s for prefix, s in SIGN_INS.items() if path.startswith(prefix)), None)


# Control characters (a CR/LF would split the Location header), whitespace, backslashes (some
# browsers read "\\" as "/") and invisible or bidi characters: none is in a URL we made.
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f-\xa0\\\u200b-\u200f\u2028-\u202e"
                             r"\u2060-\u206f\ufeff]")


def safe_next(target: str | None, prefix: str) -> str | None:
    """`target` if it is a path under `prefix` of this site, else None: never an open
    redirect to another site."""
    if target and not _UNSAFE_IN_NEXT.search(target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith(prefix):
            return target
    return None
