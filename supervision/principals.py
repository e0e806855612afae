"""Principals: issuing tokens and recognising them."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Invalid, Unauthenticated
from .models import Institution, Principal
from .scope import Actor, policy_of

ROLES = ("regulator", "institution", "parent")


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is as good as a slow KDF here and keeps
    # authentication to one indexed lookup per request.
    return hashlib.sha256(token.encode()).hexdigest()


def create_principal(session: Session, *, role: str, name: str,
                     institution_id: int | None = None,
                     district_code: str | None = None) -> tuple[Principal, str]:
    """Issue a token; returns the principal and the token, which is never stored."""
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise Invalid.field("name", "must not be empty")
    if role == "institution":
        if institution_id is None or session.get(Institution, institution_id) is None:
            raise Invalid.field("institution",
                                "an institution principal needs an existing institution id")
    elif institution_id is not None:
        raise Invalid.field("institution", "only institution principals belong to an institution")
    if district_code is not None:
        if role != "regulator":
            raise Invalid.field("district", "only regulators are limited to a district")
        if district_code not in policy_of(session)["districts"]:
            raise Invalid.field("district", f"unknown district code {district_code}")
    token = secrets.token_urlsafe(32)
    principal = Principal(role=role, name=name.strip(), token_hash=hash_token(token),
                          institution_id=institution_id, district_code=district_code)
    session.add(principal)
    session.flush()
    return principal, token


def actor_for(principal: Principal) -> Actor:
    return Actor(principal_id=principal.id, role=principal.role, name=principal.name,
                 institution_id=principal.institution_id, district_code=principal.district_code)


def authenticate(session: Session, token: str) -> Actor:
    principal = session.scalars(
        select(Principal).where(Principal.token_hash == hash_token(token))).first()
    if principal is None:
        raise Unauthenticated("invalid token")
    return actor_for(principal)
