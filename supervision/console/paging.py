"""A page of a SELECT for the console's lists (db.page_of counts and slices, as for the API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from ..db import page_of

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_number(raw: str | None) -> int:
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), 10**6)


def paginate(session: Session, stmt: Select[Any], page: int,
             page_size: int = PAGE_SIZE) -> Page:
    total, items = page_of(session, stmt, offset=(page - 1) * page_size, limit=page_size)
    return Page(items=items, page=page, page_size=page_size, total=total)
