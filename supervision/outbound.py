"""The one outbound HTTP client (trustee, notifications): signed, timeouts always, retries.

Signature (API.md §6): X-Supervision-Timestamp (Unix seconds) and
X-Supervision-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes,
           *, window_seconds: int, now: float | None = None) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > window_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def make_session(retries: int = 3, backoff: float = 0.3) -> requests.Session:
    """Retries with backoff on connection errors and 5xx, POST included: every POST we make
    carries an Idempotency-Key or is an at-least-once notification, so repeating is safe.

    A Retry-After header is not obeyed: a receiver answering 503 with "Retry-After: 3600"
    would otherwise park our worker for an hour; the scheduler's retry job is our "later".
    """
    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  backoff_factor=backoff, backoff_max=10.0,
                  status_forcelist=(500, 502, 503, 504),
                  allowed_methods=None, raise_on_status=False,
                  respect_retry_after_header=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two signature headers (and the JSON content type) for `body`."""
    timestamp = str(int(time.time() if now is None else now))
    return {"Content-Type": "application/json",
            "X-Supervision-Timestamp": timestamp,
            "X-Supervision-Signature": sign(secret, timestamp, body)}


def signed_request(http: requests.Session, method: str, url: str, *, secret: str,
                   payload: Any = None, headers: dict[str, str] | None = None,
                   timeout: float | tuple[float, float] = 5.0) -> requests.Response:
    """One signed call. `timeout` is mandatory in spirit: requests without one can hang a
    worker forever. A GET signs the empty body."""
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    all_headers = signed_headers(secret, body)
    all_headers.update(headers or {})
    return http.request(method, url, data=body if payload is not None else None,
                        headers=all_headers, timeout=timeout)
