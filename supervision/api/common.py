"""Shared schema pieces: strict base schema, aware timestamps in Asia/Shanghai, SQL paging."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint as _Blueprint
from flask_smorest import Page
from sqlalchemy import Select
from sqlalchemy.orm import Session

from .. import clock
from ..clock import SHANGHAI
from ..db import BIGINT_MAX, BIGINT_MIN, page_of
from ..text import forbidden_char_message

_UTC8 = dt.timezone(dt.timedelta(hours=8))
# Tab and line breaks are for free text (reasons, notes) only: fields allowing at least this
# many characters. Names, numbers and codes are one line.
MULTILINE_MIN_LENGTH = 500
_LINE_BREAKS = re.compile("[\t\n\r\x85\u2028\u2029]")


def _find_control_chars(data: Any, path: str = "") -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if isinstance(data, str):
        message = forbidden_char_message(data)
        if message:
            errors[path or "_schema"] = [message]
    elif isinstance(data, Mapping):  # query args arrive as webargs' MultiDictProxy, not a dict
        for key, value in data.items():
            errors.update(_find_control_chars(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            errors.update(_find_control_chars(value, f"{path}.{i}" if path else str(i)))
    return errors


class Schema(ma.Schema):
    """Unknown fields are an error (no mass assignment); control characters are refused
    (PostgreSQL cannot store NUL, and nobody's name contains a bell)."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    @ma.pre_load
    def _reject_control_chars(self, data: Any, **_kw: Any) -> Any:
        errors = _find_control_chars(data)
        if errors:
            raise ma.ValidationError(errors)
        return data


class QuerySchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE


class DateTime(ma.fields.AwareDateTime):
    """ISO 8601 with an explicit offset in; Asia/Shanghai local time with +08:00 out."""

    # Exactly what is accepted, also given as documentation (OpenAPI "pattern"): RFC 3339, the
    # profile of ISO 8601 that OpenAPI's "date-time" means (seconds and an offset required;
    # Python alone would also take "2026-12-07 19:00+0800" or "20261207T19"), years 1900 to
    # 9998. Spelled out whole so that generators (schemathesis) can produce matching values.
    PATTERN = (r"^(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d|999[0-8])-(0[1-9]|1[0-2])"
               r"-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
               r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$")
    _RFC3339 = re.compile(PATTERN)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=None, **kwargs)
        self.metadata = {"pattern": self.PATTERN, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        out = super()._deserialize(value, attr, data, **kwargs)  # naive → its own message
        # Years 1 or 9999 with an offset overflow on conversion to UTC (a 500 when stored).
        if not 1900 <= out.year <= 9998:
            raise ma.ValidationError("the year must be between 1900 and 9998")
        if not self._RFC3339.match(value):
            raise ma.ValidationError("not an RFC 3339 timestamp, e.g. 2026-12-07T19:00:00+08:00")
        return out

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        local = value.astimezone(SHANGHAI)
        offset = local.utcoffset()
        if offset is not None and offset.seconds % 60:
            local = value.astimezone(_UTC8)  # before 1901 the zone's LMT is +08:05:43
        return local.isoformat()


# The same rules as documentation (OpenAPI "pattern"), so generated clients and fuzzers know
# them: no control characters anywhere, and a required string holds a non-blank character.
_CLASS_DOC = (r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060"
              r"\u2066-\u2069\uFEFF\uD800-\uDFFF")
_ALLOWED = f"[^{_CLASS_DOC}]"
_NOT_BLANK = rf"[^\s{_CLASS_DOC}]"
_ONE_LINE = rf"[^\t\n\r\x85\u2028\u2029{_CLASS_DOC}]"
TEXT_PATTERN = f"^{_ALLOWED}*$"
REQUIRED_TEXT_PATTERN = f"^{_ALLOWED}*{_NOT_BLANK}{_ALLOWED}*$"
LINE_PATTERN = f"^{_ONE_LINE}*$"
REQUIRED_LINE_PATTERN = f"^{_ONE_LINE}*{_NOT_BLANK}{_ONE_LINE}*$"


class Str(ma.fields.String):
    """A string stripped of surrounding blanks; `required` strings may not be blank; one line
    unless the field takes free text (a maximum length of MULTILINE_MIN_LENGTH or more)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiline = any(isinstance(v, ma.validate.Length) and v.max is not None
                             and v.max >= MULTILINE_MIN_LENGTH for v in self.validators)
        if self.multiline:
            pattern = REQUIRED_TEXT_PATTERN if self.required else TEXT_PATTERN
        else:
            pattern = REQUIRED_LINE_PATTERN if self.required else LINE_PATTERN
        self.metadata = {"pattern": pattern, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        out = super()._deserialize(value, attr, data, **kwargs)
        out = out.strip() if isinstance(out, str) else out
        if self.required and out == "":
            raise ma.ValidationError("must not be blank")
        if isinstance(out, str) and not self.multiline and _LINE_BREAKS.search(out):
            raise ma.ValidationError("must be one line: no tabs or line breaks")
        return out


class Int(ma.fields.Integer):
    """Integers only (no "12" strings, no 1.5), bounded to what a BIGINT holds."""

    def __init__(self, **kwargs: Any) -> None:
        validate = kwargs.pop("validate", None)
        validators = [ma.validate.Range(min=BIGINT_MIN, max=BIGINT_MAX)]
        if validate is not None:
            validators.extend(validate if isinstance(validate, list) else [validate])
        super().__init__(strict=True, validate=validators, **kwargs)


def query_id(**kwargs: Any) -> ma.fields.Integer:
    """An id in the query string: text there, so not the strict Int; still bounded to what a
    BIGINT holds."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=BIGINT_MAX), **kwargs)


class Date(ma.fields.Date):
    """A calendar date written exactly YYYY-MM-DD (marshmallow alone also takes 20260101 and
    ISO week dates such as 2026-W01-1)."""

    _PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not self._PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Bool(ma.fields.Boolean):
    """JSON true or false only: marshmallow alone also takes 1, "yes", "on"..."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is not True and value is not False:
            raise self.make_error("invalid")
        return value


def money(**kwargs: Any) -> Int:
    """A non-negative amount of fen, at most 10^13 (a hundred billion yuan)."""
    validate = ma.validate.Range(min=0, max=10**13)
    return Int(validate=validate, **kwargs)


@dataclass
class Query:
    """A lazy collection for the pager: the count and the page are two SQL statements."""

    session: Session
    stmt: Select[Any]
    # Applied to each page's rows before they are dumped: adds what one more query for the
    # whole page can tell (names of related rows), instead of one query per row.
    present: Callable[[list[Any]], list[Any]] | None = None


class SelectPage(Page):
    def __init__(self, collection: Query, page_params: Any) -> None:
        page_params.item_count, self._items = page_of(
            collection.session, collection.stmt, offset=page_params.first_item,
            limit=page_params.page_size)
        if self._items and collection.present is not None:
            self._items = collection.present(self._items)
        self.page_params = page_params
        self.collection = collection

    @property
    def items(self) -> list[Any]:
        return self._items


class Blueprint(_Blueprint):
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 100}

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        # The header's value is a JSON object sent as text. Documented as an object schema,
        # OpenAPI's "simple" header style means "k,v,k,v" and validators reject real values.
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "Pagination metadata as a JSON object: total, total_pages, "
                           "first_page, last_page, page, previous_page, next_page",
            "schema": {"type": "string"},
            "example": '{"total": 57, "total_pages": 2, "first_page": 1, "last_page": 2, '
                       '"page": 1, "next_page": 2}',
        }

    def paginate_sql(self) -> Any:
        return self.paginate(SelectPage)


def shanghai_now() -> dt.datetime:
    return clock.local_now()
