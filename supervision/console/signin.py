"""Signing in with a regulator's API token, and recognising the signed-in officer afterwards.

The cookie holds the key of a server-side console session (principals.start_console_session)
and a fingerprint of the token hash, never the token: the cookie is signed, not encrypted. Every
request looks the session up and reloads its principal, so signing out (which ends the row), a
revoked or expired principal, or a replaced token (a new hash) signs the browser out at once,
even if an old copy of the cookie is replayed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..access.principals import (
    actor_for,
    authenticate,
    console_principal,
    end_console_session,
    start_console_session,
)
from ..access.scope import Actor
from ..errors import Unauthenticated
from ..models import Principal
from ..web.request import db_session
from ..web.security import signin_throttle
from . import bp
from .forms import SignInForm, SignOutForm

SESSION_KEY = "console_key"
SESSION_FINGERPRINT = "console_fp"
PUBLIC_ENDPOINTS = {"console.signin", "console.static"}


def _fingerprint(principal: Principal) -> str:
    return principal.token_hash[:16]


def load_console_actor() -> Actor | None:
    """The signed-in regulator, or None (no cookie, a stale one, or no longer a regulator)."""
    if "console_actor" in g:
        return g.console_actor
    actor = None
    key = session.get(SESSION_KEY)
    if isinstance(key, str):
        principal = console_principal(db_session(), key)
        if (principal is not None and principal.role == "regulator"
                and session.get(SESSION_FINGERPRINT) == _fingerprint(principal)):
            actor = actor_for(principal)
            db_session().info["actor"] = actor
    g.console_actor = actor
    return actor


def console_actor() -> Actor:
    actor = load_console_actor()
    if actor is None:  # pages.require_sign_in runs first; this is only a guard
        raise Unauthenticated("not signed in")
    return actor


# Control characters (a CR/LF would split the Location header), whitespace, backslashes (some
# browsers read "\\" as "/") and invisible or bidi characters: none is in a URL we made.
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f-\xa0\\\u200b-\u200f\u2028-\u202e"
                             r"\u2060-\u206f\ufeff]")


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target and not _UNSAFE_IN_NEXT.search(target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.queue")


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("console/signin.html", form=form,
                               next=request.args.get("next", ""))
    status = 200
    token = form.token.data or ""
    throttle = signin_throttle()
    if not throttle.allowed(token):
        form.token.errors = ["登录尝试过于频繁，请稍后再试。"]
        response = current_app.make_response((render_template(
            "console/signin.html", form=form, next=request.form.get("next", "")), 429))
        response.headers["Retry-After"] = str(throttle.retry_after())
        return response
    try:
        actor = authenticate(db_session(), token)
    except Unauthenticated:
        throttle.failed(token)
        form.token.errors = ["令牌无效，请核对后重新输入。"]
        status = 401
    else:
        if actor.role == "regulator":
            principal = db_session().get(Principal, actor.principal_id)
            assert principal is not None
            session.clear()  # a fresh session: no fixation of a pre-sign-in cookie
            session.permanent = True
            session[SESSION_KEY] = start_console_session(
                db_session(), principal, current_app.permanent_session_lifetime)
            session[SESSION_FINGERPRINT] = _fingerprint(principal)
            flash(f"欢迎，{actor.name}。", "success")
            return redirect(_safe_next(request.form.get("next")))
        throttle.failed(token)
        form.token.errors = ["该令牌不属于监管人员：监管工作台仅限教育局监管人员登录。"]
        status = 403
    return render_template("console/signin.html", form=form,
                           next=request.form.get("next", "")), status


@bp.post("/signout")
def signout() -> Response:
    SignOutForm()  # the CSRF token was checked by pages.check_csrf before we got here
    key = session.get(SESSION_KEY)
    if isinstance(key, str):
        end_console_session(db_session(), key)  # a replayed copy of this cookie is refused
    session.clear()
    flash("已安全退出。", "info")
    return redirect(url_for("console.signin"))
