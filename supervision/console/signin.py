"""Signing in with a regulator's API token, and recognising the signed-in officer afterwards.

The cookie session is web/browser.py's, shared with the parents' app: it holds the key of a
server-side session and a fingerprint of the token hash, never the token, and every request
reloads the principal, so signing out, a revocation or a replaced token signs the browser out
at once, even if an old copy of the cookie is replayed.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..access.principals import authenticate
from ..access.scope import Actor
from ..errors import Unauthenticated
from ..models import Principal
from ..web.browser import SignIn, safe_next
from ..web.request import db_session
from ..web.security import signin_throttle
from . import bp
from .forms import SignInForm, SignOutForm

SIGN_IN = SignIn("console", frozenset({"regulator"}), "/console/")
PUBLIC_ENDPOINTS = {"console.signin", "console.static"}


def load_console_actor() -> Actor | None:
    """The signed-in regulator, or None (no cookie, a stale one, or no longer a regulator)."""
    return SIGN_IN.actor()


def console_actor() -> Actor:
    actor = load_console_actor()
    if actor is None:  # pages.require_sign_in runs first; this is only a guard
        raise Unauthenticated("not signed in")
    return actor


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    return safe_next(target, "/console/") or url_for("console.queue")


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
            SIGN_IN.start(principal)  # a fresh session: no fixation
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
    SIGN_IN.end()  # a replayed copy of this cookie is refused
    flash("已安全退出。", "info")
    return redirect(url_for("console.signin"))
