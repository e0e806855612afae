"""Raw UTF-8 in a query string, as `curl "…?q=锡心"` sends it, read as the text it is.

A WSGI server hands the request line over decoded as Latin-1 (PEP 3333). Werkzeug turns the
path back into UTF-8 itself but parses the query string as given, so unencoded Chinese would
arrive as mojibake (and its C1 bytes be refused as control characters). Percent-encoding the
non-ASCII bytes first makes both spellings of a query mean the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Everything a query string may already hold stays as it is; only non-ASCII bytes are encoded.
_KEEP = "".join(chr(c) for c in range(0x21, 0x7F))


def encode_raw_query(app: WSGIApp) -> WSGIApp:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if query and not query.isascii():
            environ["QUERY_STRING"] = quote(_raw_bytes(query), safe=_KEEP)
        return app(environ, start_response)

    return middleware


def _raw_bytes(query: str) -> bytes:
    raw = query.encode("latin-1", "replace")
    # Werkzeug's development server encodes once more (Latin-1 text → UTF-8 → Latin-1): undo
    # that layer when it is there. Real UTF-8 text never survives the round trip (Chinese is
    # not Latin-1, and a Latin-1 letter's UTF-8 bytes are not UTF-8 once decoded).
    try:
        inner = raw.decode("utf-8").encode("latin-1")
        inner.decode("utf-8")
    except UnicodeError:
        return raw
    return inner
