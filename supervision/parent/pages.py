"""What every parent page shares (web/pages.py: the CSRF check, the sign-in gate, error pages
in Chinese) and the home page."""

from __future__ import annotations

from flask import redirect, url_for
from werkzeug.wrappers import Response

from ..web.pages import signed_in_pages
from . import bp
from .signin import PUBLIC_ENDPOINTS, SIGN_IN

error_page = signed_in_pages(bp, SIGN_IN, public_endpoints=PUBLIC_ENDPOINTS,
                             error_template="parent/error.html")


@bp.get("/")
def home() -> Response:
    return redirect(url_for("parent.enrollments"))
