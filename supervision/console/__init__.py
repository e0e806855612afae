"""The regulator's console: server-rendered pages in Chinese under /console/.

It has no business logic of its own: every page calls the same service functions as the JSON
API, with the same scoping (supervision/scope.py), and presents what they return. Sign-in is by
the regulator's API token; the browser then holds a signed, HttpOnly, SameSite=Lax session
cookie, and every form carries a CSRF token (Flask-WTF), checked for this blueprint only: the
JSON API authenticates by bearer token, never by cookie, so it needs none.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Flask

from ..web import browser
from ..web.browser import csrf  # noqa: F401  (pages.check_csrf uses it)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"

bp = Blueprint("console", __name__, url_prefix="/console", static_folder=str(STATIC_DIR),
               static_url_path="/static")
# The cookie session and CSRF set-up are shared with the other front ends (web/browser.py).


def init_app(app: Flask) -> None:
    browser.init_app(app)
    # Importing the view modules registers their routes on bp.
    from .calendar import calendar_page  # noqa: F401
    from .complaints import complaints_queue  # noqa: F401
    from .dashboard import dashboard  # noqa: F401
    from .flags import queue  # noqa: F401
    from .institutions import institutions  # noqa: F401
    from .labels import install_filters
    from .pages import home  # noqa: F401
    from .risk import risk_page  # noqa: F401
    from .signin import signin  # noqa: F401

    install_filters(app)
    app.register_blueprint(bp)
