"""The public look-up at /public/ (一网, API.md §10): anyone, no sign-in, looks an institution
up before paying it (licence status, prices, teachers' certificates, reviews, sanctions) and
tips off an unlicensed one.

Everything shown comes from registry/public.py, which picks what may be public column by
column: no ID number, no parent, no student, no contact, no internal note. The tip-off form
carries a CSRF token like every other form; nothing here reads a sign-in.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ..web import browser

# "public" is the JSON API's blueprint of /api/v1/public/ (API.md §10).
bp = Blueprint("lookup", __name__, url_prefix="/public")


def init_app(app: Flask) -> None:
    browser.init_app(app)
    # Importing the view module registers its routes on bp.
    from .pages import search  # noqa: F401

    app.register_blueprint(bp)
