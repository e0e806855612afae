"""The institutions' portal (机构端): server-rendered pages in Chinese under /institution/.

A front-desk clerk's week (teachers, schedule, attendance, answers to the regulator) without
the API. Like the console and the parents' app it holds no business logic: every page calls the
registry, escrow and compliance services the JSON API calls, as the signed-in institution, with
the same scoping (another institution's session or teacher is a 404), and shows their refusals
in Chinese (refusals.py). Sign-in is by the institution's token into a server-side session
(web/browser.py); every form carries a CSRF token, checked by this blueprint.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ..web import browser

bp = Blueprint("institution", __name__, url_prefix="/institution")


def init_app(app: Flask) -> None:
    browser.init_app(app)
    # Importing the view modules registers their routes on bp.
    from .attendance import roster  # noqa: F401
    from .course_form import add_course  # noqa: F401
    from .info import info  # noqa: F401
    from .money import money  # noqa: F401
    from .pages import home  # noqa: F401
    from .schedule import courses  # noqa: F401
    from .signin import signin  # noqa: F401
    from .staff import teachers  # noqa: F401
    from .todo import todo  # noqa: F401
    from .upload import upload  # noqa: F401

    app.register_blueprint(bp)
