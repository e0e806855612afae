"""Who is calling, and what they may see: scoping enforced in one place.

An object outside the caller's scope is indistinguishable from one that does not exist, so
every read and write of an owned object goes through `scope_clause` / `get_in_scope`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import fits_bigint
from ..errors import NotFound
from ..models import Institution

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    principal_id: int | None
    role: str  # regulator | institution | parent | system | trustee
    name: str
    institution_id: int | None = None
    district_code: str | None = None

    @property
    def parent_id(self) -> int | None:
        return self.principal_id if self.role == "parent" else None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.name}" + (f"#{self.principal_id}" if self.principal_id else "")


SYSTEM = Actor(principal_id=None, role="system", name="system")


def _institution_column(model: Any) -> Any:
    return model.id if model is Institution else model.institution_id


def scope_clause(actor: Actor, model: Any) -> ColumnElement[bool]:
    """The WHERE clause restricting `model` to what `actor` may see."""
    if actor.role == "system":
        return true()
    if actor.role == "regulator":
        if actor.district_code is None:
            return true()
        column = _institution_column(model)
        if model is Institution:
            return Institution.district_code == actor.district_code
        return column.in_(
            select(Institution.id).where(Institution.district_code == actor.district_code))
    if actor.role == "institution":
        return _institution_column(model) == actor.institution_id
    if actor.role == "parent":
        if hasattr(model, "parent_id"):
            return model.parent_id == actor.parent_id
        if getattr(model, "__parent_readable__", False):
            return true()
    return false()


def scoped(stmt: Select[Any], actor: Actor, model: Any) -> Select[Any]:
    return stmt.where(scope_clause(actor, model))


def get_in_scope(session: Session, actor: Actor, model: type[T], id_: Any,
                 *, for_update: bool = False) -> T:
    """Load one object by id, or raise NotFound whether it is missing or merely out of scope."""
    try:
        key = int(id_)
    except (TypeError, ValueError):
        raise NotFound(model.__name__) from None
    if not fits_bigint(key):
        raise NotFound(model.__name__)
    pk = model.id  # type: ignore[attr-defined]
    stmt = select(model).where(pk == key, scope_clause(actor, model))
    if for_update:
        stmt = stmt.with_for_update()
    obj = session.scalars(stmt).first()
    if obj is None:
        raise NotFound(getattr(model, "__tablename__", model.__name__).rstrip("s"))
    return obj


def settings_of(session: Session) -> Settings:
    settings = session.info.get("settings")
    if not isinstance(settings, Settings):
        raise RuntimeError("session has no settings: open it through the app's session factory")
    return settings


def policy_of(session: Session) -> Mapping[str, Any]:
    return settings_of(session).policy
