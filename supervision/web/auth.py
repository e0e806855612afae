"""Bearer-token authentication for HTTP: who is calling, and may their role call this view."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request

from ..access.principals import authenticate
from ..access.scope import Actor
from ..errors import Forbidden, Unauthenticated

F = TypeVar("F", bound=Callable[..., Any])


def load_actor() -> Actor:
    """Resolve the bearer token once per request (401 on anything wrong)."""
    actor = g.get("actor")
    if actor is not None:
        return cast(Actor, actor)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    from .request import db_session  # late: the API layer owns the request session

    session = db_session()
    actor = authenticate(session, token.strip())
    session.info["actor"] = actor
    g.actor = actor
    return actor


def current_actor() -> Actor:
    return load_actor()


def requires(*roles: str) -> Callable[[F], F]:
    """The roles that may call a view at all; any other role gets 403 whatever the id."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = load_actor()
            if actor.role not in roles:
                raise Forbidden(f"role {actor.role} may not call this endpoint")
            return view(*args, **kwargs)

        wrapper.__dict__["required_roles"] = roles  # the OpenAPI documents 403 from it
        return cast(F, wrapper)

    return decorate
