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
            environ["QUERY_STRING"] = quote(query.encode("latin-1", "replace"), safe=_KEEP)
        return app(environ, start_response)

    return middleware
