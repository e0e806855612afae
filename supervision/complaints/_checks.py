"""Field checks the complaint, tip and review services share. The API's schemas check the
same first; these hold for every other front end (the parents' and public pages, the demo)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from .. import clock
from ..errors import Invalid
from ..text import forbidden_char_message

Errors = dict[str, list[str]]


def text_field(errors: Errors, name: str, value: str | None, *, max_length: int,
               required: bool = True) -> str | None:
    """The value stripped, or None; problems are added to `errors`."""
    if value is None or not value.strip():
        if required:
            errors.setdefault(name, []).append("required")
        return None
    value = value.strip()
    problem = forbidden_char_message(value)
    if problem:
        errors.setdefault(name, []).append(problem)
    elif len(value) > max_length:
        errors.setdefault(name, []).append(f"at most {max_length} characters")
    return value


def one_of(errors: Errors, name: str, value: str | None, allowed: Collection[str]) -> None:
    if value not in allowed:
        errors.setdefault(name, []).append(f"must be one of: {', '.join(allowed)}")


def raise_if(errors: Errors) -> None:
    if errors:
        raise Invalid("validation failed", errors=errors)


def moment(as_of: dt.datetime | None) -> dt.datetime:
    """The instant of the change: the caller's (tests, the demo, replays) or the clock's."""
    if as_of is None:
        return clock.now()
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    return as_of
