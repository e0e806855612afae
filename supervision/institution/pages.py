"""What every institution page shares (web/pages.py: the CSRF check, the sign-in gate, error
pages in Chinese, the services' refusals explained) and the home page."""

from __future__ import annotations

from flask import redirect, url_for
from werkzeug.wrappers import Response

from ..web.pages import signed_in_pages
from . import bp
from .refusals import explain
from .signin import PUBLIC_ENDPOINTS, SIGN_IN

error_page = signed_in_pages(bp, SIGN_IN, public_endpoints=PUBLIC_ENDPOINTS,
                             error_template="institution/error.html", explain=explain)


@bp.get("/")
def home() -> Response:
    return redirect(url_for("institution.week"))
