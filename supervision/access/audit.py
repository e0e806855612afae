"""The audit trail: every flushed insert, update and delete becomes an audit_log row.

It hangs off the ORM's flush so no service can forget it, and it is written on the flushing
connection, so it commits or rolls back with the change itself.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Select, event, insert, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from ..models import AuditLog
from ..models.base import utcnow
from .scope import SYSTEM, Actor, scoped


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _changes(obj: Any, kind: str) -> dict[str, Any]:
    state = inspect(obj)
    redact = set(getattr(obj, "__audit_redact__", ()))
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        name = attr.key
        if name in redact or name in {"created_at", "updated_at"}:
            continue
        hist = state.attrs[name].history
        if kind == "create":
            value = getattr(obj, name)
            if value is not None:
                out[name] = _plain(value)
        elif kind == "update" and hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old != new:
                out[name] = [_plain(old), _plain(new)]
    return out


def _institution_of(obj: Any) -> int | None:
    if obj.__tablename__ == "institutions":
        return obj.id
    return getattr(obj, "institution_id", None)


def _edge_actor(session: Session) -> Actor:
    """Whom the trail names: the edge (web/auth.py, the CLI and scheduler wrappers) puts its
    actor on the session once. Only the trail reads it; services are handed their actor."""
    actor = session.info.get("actor")
    return actor if isinstance(actor, Actor) else SYSTEM


def creation_trail(session: Session) -> tuple[str, int | None, str]:
    """(actor, principal_id, action) of the audit row for a row this session creates: for a
    hot path that inserts with Core, bypassing the flush hook, and writes its rows itself."""
    actor = _edge_actor(session)
    return actor.label, actor.principal_id, session.info.get("audit_action") or "create"


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    actor = _edge_actor(session)
    action_override = session.info.get("audit_action")
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for kind, objs in (("create", session.new), ("update", session.dirty),
                       ("delete", session.deleted)):
        for obj in objs:
            if not getattr(obj, "__audit__", False):
                continue
            changes = _changes(obj, kind)
            if kind == "update" and not changes:
                continue
            ident = inspect(obj).mapper.primary_key_from_instance(obj)
            rows.append({
                "at": now, "actor": actor.label, "principal_id": actor.principal_id,
                "action": action_override or kind,
                "entity": obj.__tablename__, "entity_id": ",".join(map(str, ident or ())),
                "changes": changes, "institution_id": _institution_of(obj),
            })
    if rows:
        # RETURNING lets SQLAlchemy send the rows as one multi-row INSERT, not one per row.
        session.connection().execute(insert(AuditLog).returning(AuditLog.id), rows)


def install(session_class: Any) -> None:
    # A mark on the factory itself, not event.contains: SQLAlchemy's event registry is keyed by
    # id(), so a new sessionmaker that reuses a collected one's id could be taken as already
    # listened to, and its sessions would write no audit rows (seen as rare, order-dependent
    # test failures).
    if getattr(session_class, "_audit_installed", False):
        return
    event.listen(session_class, "after_flush", _after_flush)
    session_class._audit_installed = True


def audit_query(actor: Actor, *, entity: str | None, entity_id: str | None) -> Select[Any]:
    stmt = scoped(select(AuditLog), actor, AuditLog).order_by(AuditLog.id.desc())
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    return stmt
