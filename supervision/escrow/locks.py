"""Locking the rows a state change decides on.

A transition (confirm a consumption, approve a refund, answer an instruction) reads the
current status under SELECT .. FOR UPDATE, re-read from the database (populate_existing),
then changes it through the ORM, so the audit trail records it. Of two concurrent attempts
the second waits for the first to commit, then reads the new status and is refused: each
transition happens once. (SQLite: BEGIN IMMEDIATE has already serialised the writers.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, scope_clause
from ..db import fits_bigint
from ..errors import NotFound

T = TypeVar("T")


def for_update(stmt: Select[Any]) -> Select[Any]:
    return stmt.with_for_update().execution_options(populate_existing=True)


def locked(session: Session, actor: Actor, model: type[T], ids: Sequence[int]) -> list[T]:
    """The rows with these ids in the actor's scope, locked, in id order."""
    column: Any = model.id  # type: ignore[attr-defined]
    stmt = select(model).where(column.in_(list(ids)), scope_clause(actor, model)).order_by(column)
    return list(session.scalars(for_update(stmt)))


def locked_one(session: Session, actor: Actor, model: type[T], id_: int) -> T:
    """One locked row, or NotFound whether it is missing or out of the caller's scope."""
    rows = locked(session, actor, model, [id_]) if fits_bigint(id_) else []
    if not rows:
        raise NotFound(getattr(model, "__tablename__", "object").rstrip("s"))
    return rows[0]
