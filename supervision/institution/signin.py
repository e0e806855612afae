"""Signing an institution's clerk in with the token the bureau (or the demo) gave it."""

from __future__ import annotations

from typing import Any

from flask import url_for
from werkzeug.wrappers import Response

from ..access.scope import Actor
from ..errors import Unauthenticated
from ..web.browser import SignIn
from ..web.signin import sign_in_with_token, sign_out
from . import bp

SIGN_IN = SignIn("institution", frozenset({"institution"}), "/institution/")
PUBLIC_ENDPOINTS = {"institution.signin"}


def institution_actor() -> Actor:
    actor = SIGN_IN.actor()
    if actor is None:  # pages.require_sign_in runs first; this is only a guard
        raise Unauthenticated("not signed in")
    return actor


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    return sign_in_with_token(SIGN_IN, template="institution/signin.html",
                              wrong_role="该令牌不是机构令牌：机构端仅供培训机构登录。",
                              home=url_for("institution.home"))


@bp.post("/signout")
def signout() -> Response:
    return sign_out(SIGN_IN, url_for("institution.signin"))
