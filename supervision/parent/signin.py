"""Signing a parent in with the token the bureau (or the demo) gave them."""

from __future__ import annotations

from typing import Any

from flask import url_for
from werkzeug.wrappers import Response

from ..access.scope import Actor
from ..errors import Unauthenticated
from ..web.browser import SignIn
from ..web.signin import sign_in_with_token, sign_out
from . import bp

SIGN_IN = SignIn("parent", frozenset({"parent"}), "/parent/")
PUBLIC_ENDPOINTS = {"parent.signin"}


def parent_actor() -> Actor:
    actor = SIGN_IN.actor()
    if actor is None:  # pages.require_sign_in runs first; this is only a guard
        raise Unauthenticated("not signed in")
    return actor


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    return sign_in_with_token(SIGN_IN, template="parent/signin.html",
                              wrong_role="该令牌不是家长令牌：家长端仅供报名学生的家长登录。",
                              home=url_for("parent.enrollments"))


@bp.post("/signout")
def signout() -> Response:
    return sign_out(SIGN_IN, url_for("parent.signin"))
