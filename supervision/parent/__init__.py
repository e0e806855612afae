"""The parents' app: server-rendered pages in Chinese under /parent/, made for a phone.

Like the console it holds no business logic: every page calls the escrow, complaint and review
services the JSON API calls, as the signed-in parent, with the same scoping (another family's
enrollment is a 404), and presents what they return. Sign-in is by the parent's token into a
server-side session (web/browser.py); every form carries a CSRF token, checked by this
blueprint. Its local assets only: no CDN, no request to any other site.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ..web import browser

bp = Blueprint("parent", __name__, url_prefix="/parent")


def init_app(app: Flask) -> None:
    browser.init_app(app)
    # Importing the view modules registers their routes on bp.
    from .buy import enroll  # noqa: F401
    from .enrollments import enrollment  # noqa: F401
    from .feedback import complaint  # noqa: F401
    from .pages import home  # noqa: F401
    from .signin import signin  # noqa: F401

    app.register_blueprint(bp)
