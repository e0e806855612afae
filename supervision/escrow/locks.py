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

from ..access.scope import actor_of, scope_clause
from ..errors import NotFound

T = TypeVar("T")


def for_update(stmt: Select[Any]) -> Select[Any]:
    return stmt.with_for_update().execution_options(populate_existing=True)


def locked(session: Session, model: type[T], ids: Sequence[int], *,
           scoped: bool = True) -> list[T]:
    """The rows with these ids (in the caller's scope unless told), locked, in id order."""
    column: Any = model.id  # type: ignore[attr-defined]
    stmt = select(model).where(column.in_(list(ids))).order_by(column)
    if scoped:
        stmt = stmt.where(scope_clause(actor_of(session), model))
    return list(session.scalars(for_update(stmt)))


def locked_one(session: Session, model: type[T], id_: int, *, scoped: bool = True) -> T:
    """One locked row, or NotFound whether it is missing or out of the caller's scope."""
    if not -(2**63) <= id_ < 2**63:
        raise NotFound(getattr(model, "__tablename__", "object").rstrip("s"))
    rows = locked(session, model, [id_], scoped=scoped)
    if not rows:
        raise NotFound(getattr(model, "__tablename__", "object").rstrip("s"))
    return rows[0]
