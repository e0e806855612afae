"""Abuse resistance and browser hardening for every response.

- Security headers, with a Content-Security-Policy per kind of page: the JSON API loads nothing,
  the Swagger page may run exactly its own inline script (by hash), the console local assets only.
- The body-size limit (MAX_CONTENT_LENGTH): refused with 413 before anything else runs.
- JSON bodies nested deeper than MAX_JSON_DEPTH or holding lone surrogates: refused before
  anything parses them (400 / 422), so no RecursionError or UnicodeEncodeError becomes a 500.
- Rate limits per verified principal, per client address without one (SUPERVISION_RATELIMIT,
  flask-limiter), never on the trustee's signed events nor on the probes and /metrics; the
  public look-up per client address (SUPERVISION_RATELIMIT_PUBLIC).
- Console sign-in guesses throttled per client address and per token prefix
  (CONSOLE_SIGNIN_RATELIMIT), on by default.
- No start in production with the demo secrets of config/defaults.toml.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from itertools import accumulate
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from ..config import Settings
from ..errors import Invalid, Unauthenticated
from .browser import sign_in_for

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
DOCS_PATHS = frozenset({"/api/docs", "/api/docs/"})
TRUSTEE_EVENTS_PATH = "/api/v1/trustee/events"
PUBLIC_PREFIX = "/api/v1/public/"
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


def weak_secrets(settings: Settings) -> list[str]:
    """The secrets still empty or at their demo value ("dev-only-..." in config/defaults.toml)."""
    weak = []
    for name in REQUIRED_SECRETS:
        value = str(getattr(settings, name.lower())).strip()
        if not value or value.startswith("dev-only"):
            weak.append(f"SUPERVISION_{name}")
    return weak


def check_secrets(settings: Settings) -> None:
    weak = weak_secrets(settings)
    if not weak:
        return
    if settings.env == "production":
        raise RuntimeError("refusing to start with SUPERVISION_ENV=production and demo or empty "
                           f"secrets: set {', '.join(weak)}")
    if not settings.testing:
        log.warning("demo or empty secrets in use (%s): fine for a demo, never for production",
                    ", ".join(weak))


def _refuse_oversized_body() -> None:
    # Werkzeug only refuses when the body is read; a view that never reads it would otherwise
    # accept 10 MB uploads silently. A chunked body without Content-Length is still cut off by
    # Werkzeug's limited stream when it is read.
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"request body larger than {limit} bytes")


# --- hostile JSON ---------------------------------------------------------------------------

# Deeper than any body we accept (a statement is 3 levels) and far below the ~1,000 levels at
# which Python's json raises RecursionError, in the API's parsers and in Flask-WTF's alike.
MAX_JSON_DEPTH = 64
# Opening brackets become +1, closing ones -1 (as signed bytes), everything else is deleted.
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')
_QUOTED = re.compile(rb'"[^"]*"')
# A surrogate written as an escape (\ud800) or as raw bytes (json decodes with surrogatepass).
# Valid pairs (emoji) match too: this only decides whether to look closer.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw` opens arrays/objects more than `limit` deep, found without parsing it.

    Strings are cut out first (a "[" inside one is text): without escaped backslashes and
    escaped quotes, quotes alternate open/close; of the quotes and brackets alone, adjacent
    quote pairs (most strings hold no bracket) and then the few remaining quoted runs go. The
    brackets left become +1/-1 and their running sum is the depth. Unbalanced input counts too:
    the parser recurses into "[[[[..." before it notices the missing ends. All of it iterates in
    C: a 12 MB statement takes about 0.1 s (parsing it takes 0.3 s).
    """
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = unescaped.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    steps = _QUOTED.sub(b"", structure).translate(_DEPTH_STEPS, b'"')
    return max(accumulate(memoryview(steps).cast("b")), default=0) > limit


def lone_surrogates(data: Any, path: str = "") -> dict[str, list[str]]:
    """Where parsed JSON holds a lone surrogate (in a key or a value): valid JSON, but no
    UTF-8 encoder (database, hash, response) accepts it."""
    errors: dict[str, list[str]] = {}
    if isinstance(data, str):
        if _SURROGATE.search(data):
            errors[path or "_schema"] = ["not valid Unicode (a lone surrogate)"]
    elif isinstance(data, dict):
        for key, value in data.items():
            name = _SURROGATE.sub("\ufffd", str(key))
            name = f"{path}.{name}" if path else name
            if name != (f"{path}.{key}" if path else str(key)):
                errors[name] = ["not valid Unicode (a lone surrogate)"]
            errors.update(lone_surrogates(value, name))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            errors.update(lone_surrogates(value, f"{path}.{i}" if path else str(i)))
    return errors


def check_json_body(raw: bytes) -> None:
    """400 for a body nested too deep, before any parser recurses into it."""
    if json_too_deep(raw):
        raise BadRequest(f"malformed JSON: nested deeper than {MAX_JSON_DEPTH} levels")


def _refuse_hostile_json() -> None:
    # Every parser of a JSON body (webargs, the idempotency fingerprint, Flask-WTF on console
    # POSTs) goes through request.get_json, whose result Flask caches: checked here once, before
    # all of them. The trustee's events are read as JSON whatever their Content-Type.
    if not (request.is_json or request.path == TRUSTEE_EVENTS_PATH):
        return
    raw = request.get_data(cache=True)
    if not raw:
        return
    check_json_body(raw)
    if _MAYBE_SURROGATE.search(raw):
        data = request.get_json(force=True, silent=True)
        errors = lone_surrogates(data) if data is not None else {}
        if errors:
            raise Invalid("validation failed", errors=errors)


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
    elif sign_in_for(request.path) is not None and "/static/" not in request.path:
        headers.setdefault("Cache-Control", "no-store")  # a signed-in person's pages
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
    # After the limiter's hook: a flood of hostile bodies is cut off by the cheap counter first.
    app.before_request(_refuse_hostile_json)
    app.extensions["supervision.signin_throttle"] = SigninThrottle(app.config["SUPERVISION"])


# --- rate limits ---------------------------------------------------------------------------


def rate_limit_key() -> str:
    """Who a request counts against: the verified principal, else the peer address.

    Keyed on what the token proved, never on the token itself: a client inventing a new
    garbage token per request would otherwise get a fresh allowance each time. Verifying costs
    the one indexed lookup the view makes anyway (load_actor caches it on g). Console pages
    count against the signed-in officer. Never X-Forwarded-For: any client can write it.
    Requests without a valid principal can only be refused (401) or read the docs, so behind a
    load balancer their sharing the balancer's address is acceptable.
    """
    principal_id = _verified_principal_id()
    if principal_id is not None:
        return f"principal:{principal_id}"
    return f"addr:{request.remote_addr or 'unknown'}"


def _client_address() -> str:
    return f"addr:{request.remote_addr or 'unknown'}"


def _verified_principal_id() -> int | None:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        front_end = sign_in_for(request.path)
        if front_end is not None:  # the console, the parents' app: their cookie sign-in
            signed_in = front_end.actor()
            return signed_in.principal_id if signed_in is not None else None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        from .auth import load_actor

        return load_actor().principal_id
    except Unauthenticated:
        return None
    except SQLAlchemyError:
        # The view will meet the same database trouble and answer for it; the limit still
        # applies, per address.
        log.warning("rate limit: principal lookup failed", exc_info=True)
        return None


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
    limit = settings.ratelimit.strip()
    public = settings.ratelimit_public.strip()
    if not limit and not public:
        return None
    from flask_limiter import ApplicationLimit, Limiter
    from limits import parse_many

    for text in (limit, public):
        if text:
            parse_many(text)  # a typo in a limit string fails at start, not on a request
    limits: list[Any] = [ApplicationLimit(
        limit, error_message=f"rate limit exceeded ({limit} per principal)")] if limit else []
    if public:
        # Anyone may call the public look-up, token or not: counted per address, in a scope
        # of its own, so a token sent along neither escapes it nor spends the principal's.
        limits.append(ApplicationLimit(
            public, key_function=_client_address, scope="public",
            exempt_when=lambda: not request.path.startswith(PUBLIC_PREFIX),
            error_message=f"rate limit exceeded ({public} per address)"))
    storage = settings.ratelimit_storage_url.strip()
    # A Redis that is slow or gone must not stall or fail requests: short timeouts, then
    # per-worker memory counters until it answers again (in_memory_fallback_enabled).
    options: dict[str, Any] = ({"socket_timeout": 0.25, "socket_connect_timeout": 0.5}
                               if storage.startswith("redis") else {})
    limiter = Limiter(
        key_func=rate_limit_key,
        application_limits=limits,
        strategy="fixed-window",
        storage_uri=storage or "memory://",
        storage_options=options,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix=settings.ratelimit_key_prefix,
    )
    limiter.request_filter(_not_rate_limited)
    limiter.init_app(app)
    app.extensions["supervision.limiter"] = limiter
    return limiter


# --- console sign-in guesses -----------------------------------------------------------------


class SigninThrottle:
    """Failed console sign-ins per client address and per token prefix (its first 8
    characters), CONSOLE_SIGNIN_RATELIMIT each ("10 per minute"; empty: off).

    On by default, unlike SUPERVISION_RATELIMIT: a token is the only secret standing between a
    guesser and a regulator's view of every institution. Only failures count, so an officer who
    signs in often is never refused; a request over the limit is refused before the token is
    even looked up. The per-prefix count stops one guesser spread over many addresses from
    trying many tokens that share a beginning; the per-address count stops one address from
    trying many. Shares SUPERVISION_RATELIMIT_STORAGE_URL (Redis across workers), and falls back
    to this worker's memory while Redis does not answer.
    """

    def __init__(self, settings: Settings) -> None:
        from limits import parse
        from limits.storage import MemoryStorage, storage_from_string
        from limits.strategies import FixedWindowRateLimiter

        text = settings.console_signin_ratelimit.strip()
        self.limit = parse(text) if text else None  # a typo fails at start
        url = settings.ratelimit_storage_url.strip()
        options: dict[str, Any] = ({"socket_timeout": 0.25, "socket_connect_timeout": 0.5}
                                   if url.startswith("redis") else {})
        self.shared = FixedWindowRateLimiter(storage_from_string(url, **options)) if url else None
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.prefix = settings.ratelimit_key_prefix

    def _keys(self, token: str) -> list[str]:
        prefix = hashlib.sha256(b"signin:" + token.strip()[:8].encode()).hexdigest()[:32]
        return [f"{self.prefix}/signin/addr/{request.remote_addr or 'unknown'}",
                f"{self.prefix}/signin/prefix/{prefix}"]

    def _each(self, action: str, token: str) -> list[bool]:
        assert self.limit is not None
        for limiter in (self.shared, self.local):
            if limiter is None:
                continue
            try:
                return [getattr(limiter, action)(self.limit, key) for key in self._keys(token)]
            except Exception:  # Redis slow or gone: this worker's memory, not a failed page
                log.warning("sign-in throttle: shared storage failed", exc_info=True)
        return [True]

    def allowed(self, token: str) -> bool:
        """Whether another attempt with `token` from this address may be checked now."""
        return self.limit is None or all(self._each("test", token))

    def failed(self, token: str) -> None:
        """Count a failed attempt against the address and the token prefix."""
        if self.limit is not None:
            self._each("hit", token)

    def retry_after(self) -> int:
        """Seconds until the window ends (at most the limit's whole window)."""
        return max(1, int(self.limit.get_expiry())) if self.limit is not None else 1


def signin_throttle() -> SigninThrottle:
    throttle: SigninThrottle = current_app.extensions["supervision.signin_throttle"]
    return throttle
