"""Signing an institution's clerk in with the token the bureau (or the demo) gave it."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..access.principals import authenticate
from ..access.scope import Actor
from ..errors import Unauthenticated
from ..models import Principal
from ..web.browser import SignIn, safe_next
from ..web.forms import SignOutForm, TokenSignInForm
from ..web.request import db_session
from ..web.security import signin_throttle
from . import bp

SIGN_IN = SignIn("institution", frozenset({"institution"}), "/institution/")
PUBLIC_ENDPOINTS = {"institution.signin"}


def institution_actor() -> Actor:
    actor = SIGN_IN.actor()
    if actor is None:  # pages.require_sign_in runs first; this is only a guard
        raise Unauthenticated("not signed in")
    return actor


def _render(form: TokenSignInForm, next_url: str, status: int = 200) -> Any:
    return render_template("institution/signin.html", form=form, next=next_url), status


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    form = TokenSignInForm()
    if not form.validate_on_submit():
        return _render(form, request.args.get("next", ""))
    next_url = request.form.get("next", "")
    token = form.token.data or ""
    throttle = signin_throttle()  # the console's guard against token guessing, shared
    if not throttle.allowed(token):
        form.token.errors = ["登录尝试过于频繁，请稍后再试。"]
        response = current_app.make_response(_render(form, next_url, 429))
        response.headers["Retry-After"] = str(throttle.retry_after())
        return response
    try:
        actor = authenticate(db_session(), token)
    except Unauthenticated:
        throttle.failed(token)
        form.token.errors = ["令牌无效，请核对后重新输入。"]
        return _render(form, next_url, 401)
    if actor.role != "institution":
        throttle.failed(token)
        form.token.errors = ["该令牌不是机构令牌：机构端仅供培训机构登录。"]
        return _render(form, next_url, 403)
    principal = db_session().get(Principal, actor.principal_id)
    assert principal is not None
    SIGN_IN.start(principal)
    flash(f"欢迎，{actor.name}。", "success")
    return redirect(safe_next(next_url, "/institution/") or url_for("institution.home"))


@bp.post("/signout")
def signout() -> Response:
    SignOutForm()  # the CSRF token was checked by pages.check_csrf before we got here
    SIGN_IN.end()
    flash("已安全退出。", "info")
    return redirect(url_for("institution.signin"))
