"""Shared schema pieces: strict base schema, aware timestamps in Asia/Shanghai, SQL paging."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_smorest import Blueprint as _Blueprint
from flask_smorest import Page
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

SHANGHAI = ZoneInfo("Asia/Shanghai")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _find_control_chars(data: Any, path: str = "") -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if isinstance(data, str):
        if _CONTROL.search(data):
            errors[path or "_schema"] = ["control characters are not allowed"]
    elif isinstance(data, dict):
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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(SHANGHAI).isoformat()


class Str(ma.fields.String):
    """A string stripped of surrounding blanks; `required` strings may not be blank."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        out = super()._deserialize(value, attr, data, **kwargs)
        out = out.strip() if isinstance(out, str) else out
        if self.required and out == "":
            raise ma.ValidationError("must not be blank")
        return out


class Int(ma.fields.Integer):
    """Integers only (no "12" strings, no 1.5), bounded to what a BIGINT holds."""

    def __init__(self, **kwargs: Any) -> None:
        validate = kwargs.pop("validate", None)
        validators = [ma.validate.Range(min=-(2**63), max=2**63 - 1)]
        if validate is not None:
            validators.extend(validate if isinstance(validate, list) else [validate])
        super().__init__(strict=True, validate=validators, **kwargs)


def money(**kwargs: Any) -> Int:
    """A non-negative amount of fen, at most 10^13 (a hundred billion yuan)."""
    validate = ma.validate.Range(min=0, max=10**13)
    return Int(validate=validate, **kwargs)


@dataclass
class Query:
    """A lazy collection for the pager: the count and the page are two SQL statements."""

    session: Session
    stmt: Select[Any]


class SelectPage(Page):
    def __init__(self, collection: Query, page_params: Any) -> None:
        total = collection.session.scalar(
            select(func.count()).select_from(collection.stmt.order_by(None).subquery()))
        page_params.item_count = total or 0
        rows = collection.session.scalars(
            collection.stmt.limit(page_params.page_size).offset(page_params.first_item))
        self._items = list(rows)
        self.page_params = page_params
        self.collection = collection

    @property
    def items(self) -> list[Any]:
        return self._items


class Blueprint(_Blueprint):
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 100}

    def paginate_sql(self) -> Any:
        return self.paginate(SelectPage)


def shanghai_now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)
