"""Who calls: principals with their actor (for service calls) and headers (for HTTP calls), and
acting as someone on a session (what the audit trail names, as the edge would set it)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import Actor
from supervision.models import Institution

_seq = itertools.count(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_in(headers: dict[str, str]) -> str:
    """The token of a bearer header (for signing in to the console with it)."""
    return headers["Authorization"].removeprefix("Bearer ")


@dataclass
class Party:
    """A principal: its actor (for service calls) and headers (for HTTP calls)."""

    actor: Actor
    headers: dict[str, str]

    @property
    def id(self) -> int:
        assert self.actor.principal_id is not None
        return self.actor.principal_id


def party(db: Session, role: str, *, institution: Institution | None = None,
          district_code: str | None = None, name: str | None = None) -> Party:
    principal, token = create_principal(
        db, role=role, name=name or f"{role}-{next(_seq)}",
        institution_id=institution.id if institution else None, district_code=district_code)
    return Party(actor_for(principal), bearer(token))


def parent_actor(db: Session, name: str = "家长") -> Actor:
    return party(db, "parent", name=name).actor


@contextmanager
def acting(db: Session, actor: Actor) -> Iterator[Actor]:
    """Who the audit trail names on `db` for a while (services are handed their actor; the
    trail reads the one the edge put on the session)."""
    previous = db.info.get("actor")
    db.info["actor"] = actor
    try:
        yield actor
    finally:
        db.info["actor"] = previous


@contextmanager
def acting_as(db: Session, role: str, *, institution_id: int | None = None,
              district_code: str | None = None, principal_id: int = 9001) -> Iterator[Actor]:
    """Act as someone of `role` who has no principal row (a service decides by the actor)."""
    actor = Actor(principal_id=principal_id, role=role, name=f"test-{role}",
                  institution_id=institution_id, district_code=district_code)
    with acting(db, actor):
        yield actor
