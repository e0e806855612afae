"""Which characters a stored text may hold: one rule for the API, the console and every other
front end (pure: no web framework)."""

from __future__ import annotations

import re

# Refused in every string: C0 controls but tab and line breaks (PostgreSQL cannot store NUL;
# nobody's name contains a bell), DEL and C1 controls, zero-width characters (U+200B-U+200F,
# U+2060, U+FEFF) and bidi embeddings/overrides/isolates (U+202A-U+202E, U+2066-U+2069), which
# make a name read differently on an officer's screen than it is stored, and lone surrogates,
# which no UTF-8 encoder (database, hash, response) takes.
FORBIDDEN_CLASS = ("\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                    "\u2060\u2066-\u2069\ufeff\ud800-\udfff")
_CONTROL = re.compile(f"[{FORBIDDEN_CLASS}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def forbidden_char_message(text: str) -> str | None:
    """Why `text` may not be stored as given, or None: see FORBIDDEN_CLASS."""
    if _SURROGATE.search(text):
        return "not valid Unicode (a lone surrogate)"
    if _CONTROL.search(text):
        return "control, zero-width and bidirectional-override characters are not allowed"
    return None
