"""Abuse resistance and browser hardening for every response.

- Security headers, with a Content-Security-Policy per kind of page: the JSON API loads nothing,
  the Swagger page may run exactly its own inline script (by hash), the console local assets only.
- The body-size limit (MAX_CONTENT_LENGTH): refused with 413 before anything else runs.
- Rate limits per principal (SUPERVISION_RATELIMIT, flask-limiter), never on the trustee's
  signed events nor on the probes and /metrics.
- No start in production with the demo secrets of config/defaults.toml.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
DOCS_PATHS = frozenset({"/api/docs", "/api/docs/"})
CONSOLE_PREFIX = "/console/"
TRUSTEE_EVENTS_PATH = "/api/v1/trustee/events"
NOT_RATE_LIMITED = frozenset({"/healthz", "/readyz", "/metrics", TRUSTEE_EVENTS_PATH})
REQUIRED_SECRETS = ("ID_HASH_KEY", "TRUSTEE_SECRET", "NOTIFY_SECRET", "SECRET_KEY")

# JSON never needs to load anything; framing is refused everywhere.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The Swagger page: its assets are ours (/api/docs/assets/), its one inline script is allowed by
# hash (filled in per response), swagger-ui.css uses data: images. Checked in headless Chromium:
# the page renders completely with no violation reported.
DOCS_CSP = ("default-src 'self'; script-src 'self' {hashes}; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# The server-rendered console and anything else: local assets only, no inline script. Inline
# styles stay allowed because SVG charts (pygal) carry their own <style>; styles cannot run code.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I)

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def weak_secrets(settings: dict[str, Any]) -> list[str]:
    """The secrets still empty or at their demo value ("dev-only-..." in config/defaults.toml)."""
    weak = []
    for name in REQUIRED_SECRETS:
        value = str(settings.get(name) or "").strip()
        if not value or value.startswith("dev-only"):
            weak.append(f"SUPERVISION_{name}")
    return weak


def check_secrets(settings: dict[str, Any]) -> None:
    weak = weak_secrets(settings)
    if not weak:
        return
    if settings.get("ENV") == "production":
        raise RuntimeError("refusing to start with SUPERVISION_ENV=production and demo or empty "
                           f"secrets: set {', '.join(weak)}")
    if not settings.get("TESTING"):
        log.warning("demo or empty secrets in use (%s): fine for a demo, never for production",
                    ", ".join(weak))


def _refuse_oversized_body() -> None:
    # Werkzeug only refuses when the body is read; a view that never reads it would otherwise
    # accept 10 MB uploads silently. A chunked body without Content-Length is still cut off by
    # Werkzeug's limited stream when it is read.
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"request body larger than {limit} bytes")


def _script_hashes(html: str) -> str:
    hashes = []
    for script in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return " ".join(hashes)


def content_security_policy(path: str, response: Response) -> str:
    if path.startswith(API_PREFIX):
        return API_CSP
    if path in DOCS_PATHS and response.mimetype == "text/html" and not response.is_streamed:
        return DOCS_CSP.format(hashes=_script_hashes(response.get_data(as_text=True)))
    return PAGE_CSP


def _security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in STATIC_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", content_security_policy(request.path, response))
    if request.path.startswith(API_PREFIX):
        headers["Cache-Control"] = "no-store"  # personal and money data: never in any cache
    elif request.path.startswith(CONSOLE_PREFIX) and "/static/" not in request.path:
        headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 429:
        # flask-limiter computes whole seconds to the window's end, which is 0 within the last
        # second of a per-second window: a client told to retry after 0 s just hammers again.
        retry_after = headers.get("Retry-After", "")
        if not retry_after.isdigit() or int(retry_after) < 1:
            headers["Retry-After"] = "1"
    elif response.status_code != 503:
        headers.pop("Retry-After", None)  # flask-limiter adds it to every response
    return response


def init_app(app: Flask) -> None:
    check_secrets(app.config["SUPERVISION"])
    app.before_request(_refuse_oversized_body)
    # Registered before the limiter's own hook, so it runs after it (Flask runs after_request
    # hooks in reverse) and sees the rate-limit headers.
    app.after_request(_security_headers)
    init_rate_limits(app)


# --- rate limits ---------------------------------------------------------------------------


def rate_limit_key() -> str:
    """Who a request counts against: its bearer token's hash, or its peer address without one.

    The token is hashed (salted with the purpose, so the key is not the stored token hash) and
    it names exactly one principal. Never X-Forwarded-For: any client can write it. Requests
    without a token can only be refused (401) or read the docs, so behind a load balancer their
    sharing the balancer's address is acceptable.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        digest = hashlib.sha256(b"ratelimit:" + token.strip().encode()).hexdigest()
        return f"token:{digest[:32]}"
    return f"addr:{request.remote_addr or 'unknown'}"


def _not_rate_limited() -> bool:
    # By path, not by endpoint name: the trustee's events must pass whatever the blueprint is
    # called, and a refusal there would make the trustee retry a payment notification.
    return request.path.rstrip("/") in NOT_RATE_LIMITED


def init_rate_limits(app: Flask) -> Any:
    """SUPERVISION_RATELIMIT (e.g. "200 per second") per principal, shared by all endpoints.

    Fixed window, anchored at a principal's first request: a burst of up to the limit from a
    client that was quiet for one window always passes, at the price of one counter (one
    atomic INCR in Redis) per principal. A moving window would keep one timestamp per request
    (the whole limit's worth per principal) to be stricter than we need: the limit is there to
    stop floods, not to meter.
    """
    settings = app.config["SUPERVISION"]
    limit = str(settings.get("RATELIMIT") or "").strip()
    if not limit:
        return None
    from flask_limiter import ApplicationLimit, Limiter
    from limits import parse_many

    parse_many(limit)  # a typo in the limit string fails at start, not on the first request
    storage = str(settings.get("RATELIMIT_STORAGE_URL") or "").strip()
    # A Redis that is slow or gone must not stall or fail requests: short timeouts, then
    # per-worker memory counters until it answers again (in_memory_fallback_enabled).
    options: dict[str, Any] = ({"socket_timeout": 0.25, "socket_connect_timeout": 0.5}
                               if storage.startswith("redis") else {})
    limiter = Limiter(
        key_func=rate_limit_key,
        application_limits=[ApplicationLimit(
            limit, error_message=f"rate limit exceeded ({limit} per principal)")],
        strategy="fixed-window",
        storage_uri=storage or "memory://",
        storage_options=options,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix="supervision",
    )
    limiter.request_filter(_not_rate_limited)
    limiter.init_app(app)
    app.extensions["supervision.limiter"] = limiter
    return limiter
