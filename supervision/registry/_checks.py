"""Small helpers the registry services share to collect every field error before raising once."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..errors import Invalid

Errors = dict[str, list[str]]


def reject_unknown(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Services take mappings; a key they do not know is a caller's mistake, never ignored."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise Invalid("unknown fields", errors={k: ["unknown field"] for k in unknown})


def require(errors: Errors, data: Mapping[str, Any], names: Iterable[str]) -> None:
    for name in names:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.setdefault(name, []).append("required")


def one_of(errors: Errors, data: Mapping[str, Any], name: str,
           allowed: Collection[str]) -> None:
    """Checks `name` when present and not null (nullability is the caller's concern)."""
    value = data.get(name)
    if value is not None and value not in allowed:
        errors.setdefault(name, []).append(f"must be one of: {', '.join(allowed)}")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_date(errors: Errors, values: dict[str, Any], name: str) -> None:
    """Accept a date or a YYYY-MM-DD string (commands and seeds pass text), in place."""
    value = values.get(name)
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return
    try:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValueError(value)
        values[name] = dt.date.fromisoformat(value)
    except ValueError:
        add(errors, name, "must be a date, YYYY-MM-DD")


def add(errors: Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def raise_if(errors: Errors, message: str = "validation failed") -> None:
    if errors:
        raise Invalid(message, errors=errors)
