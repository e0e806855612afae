"""Signing a person in with their token, and out again: one flow for every HTML front end.

Each front end names its `SignIn` (cookie keys, roles, path), its template and its words for a
token of another role; the throttle against token guessing, the error wording and the
server-side session are the same everywhere.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request
from werkzeug.wrappers import Response

from ..access.principals import authenticate
from ..errors import Unauthenticated
from ..models import Principal
from .browser import SignIn, safe_next
from .forms import SignOutForm, TokenSignInForm
from .request import db_session
from .security import signin_throttle


def sign_in_with_token(sign_in: SignIn, *, template: str, wrong_role: str,
                       home: str) -> Any:
    """The GET and POST of a sign-in page: 429 past the throttle, 401 for a bad token, 403 for
    a token of a role this front end does not let in, else the session starts."""
    form = TokenSignInForm()

    def page(status: int = 200) -> Any:
        next_url = request.form.get("next", "") if request.method == "POST" \
            else request.args.get("next", "")
        return render_template(template, form=form, next=next_url), status

    if not form.validate_on_submit():
        return page()
    token = form.token.data or ""
    throttle = signin_throttle()
    if not throttle.allowed(token):
        form.token.errors = ["登录尝试过于频繁，请稍后再试。"]
        response = current_app.make_response(page(429))
        response.headers["Retry-After"] = str(throttle.retry_after())
        return response
    try:
        actor = authenticate(db_session(), token)
    except Unauthenticated:
        throttle.failed(token)
        form.token.errors = ["令牌无效，请核对后重新输入。"]
        return page(401)
    if actor.role not in sign_in.roles:
        throttle.failed(token)
        form.token.errors = [wrong_role]
        return page(403)
    principal = db_session().get(Principal, actor.principal_id)
    assert principal is not None
    sign_in.start(principal)
    flash(f"欢迎，{actor.name}。", "success")
    return redirect(safe_next(request.form.get("next", ""), sign_in.prefix) or home)


def sign_out(sign_in: SignIn, signin_url: str) -> Response:
    SignOutForm()  # the CSRF token was checked before the view ran
    sign_in.end()
    flash("已安全退出。", "info")
    return redirect(signin_url)
