"""Principals: issuing tokens, recognising them, revoking them; console sessions."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import clock
from ..errors import Invalid, NotFound, Unauthenticated
from ..models import ConsoleSession, Institution, Principal
from .scope import Actor, policy_of, settings_of

log = logging.getLogger(__name__)

ROLES = ("regulator", "institution", "parent")
MAX_EXPIRES_DAYS = 3660


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is as good as a slow KDF here and keeps
    # authentication to one indexed lookup per request.
    return hashlib.sha256(token.encode()).hexdigest()


def create_principal(session: Session, *, role: str, name: str,
                     institution_id: int | None = None,
                     district_code: str | None = None,
                     expires_in_days: int | None = None) -> tuple[Principal, str]:
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
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_EXPIRES_DAYS:
            raise Invalid.field("expires_days", f"must be between 1 and {MAX_EXPIRES_DAYS}")
        expires_at = clock.now() + dt.timedelta(days=expires_in_days)
    token = secrets.token_urlsafe(32)
    principal = Principal(role=role, name=name.strip(), token_hash=hash_token(token),
                          institution_id=institution_id, district_code=district_code,
                          expires_at=expires_at)
    session.add(principal)
    session.flush()
    return principal, token


def actor_for(principal: Principal) -> Actor:
    return Actor(principal_id=principal.id, role=principal.role, name=principal.name,
                 institution_id=principal.institution_id, district_code=principal.district_code)


# The published demo principals (devtools/demo.py loads them; the README shows their tokens).
# `demo seed` refuses to run when SUPERVISION_ENV is "production", and `authenticate` refuses
# these tokens there even when a database seeded earlier still holds them.
DEMO_PRINCIPALS = [
    ("demo-regulator-wuxi", "regulator", "无锡市教育局（演示）", None, None),
    ("demo-regulator-liangxi", "regulator", "梁溪区教育局（演示）", None, "320213"),
    ("demo-institution-xixin", "institution", "锡心学堂（演示）", "锡心学堂培训中心", None),
    ("demo-institution-xinwu", "institution", "新吴英才（演示）", "新吴英才培训学校", None),
    ("demo-parent-zhang", "parent", "张女士（演示家长）", None, None),
    ("demo-parent-li", "parent", "李先生（演示家长）", None, None),
]


@functools.cache
def demo_token_hashes() -> frozenset[str]:
    return frozenset(hash_token(token) for token, *_ in DEMO_PRINCIPALS)


_demo_refusal_logged = False


def _warn_demo_refused() -> None:
    global _demo_refusal_logged
    if not _demo_refusal_logged:  # once per process: a warning, not a log flood per request
        _demo_refusal_logged = True
        log.warning("demo principals exist in this production database and are refused; "
                    "revoke them with `flask --app wsgi principals revoke --id ID`")


def refusal(session: Session, principal: Principal) -> str | None:
    """Why this principal may not act now, or None. The API and the console both ask this on
    every request, so a revocation, an expiry or a production switch takes effect at once."""
    if principal.revoked_at is not None:
        return "token revoked"
    if principal.expires_at is not None and principal.expires_at <= clock.now():
        return "token expired"
    # The demo tokens are printed in the README: a database seeded for a demo and later run in
    # production must not accept them. Refusing here, per request, needs no start-up step that
    # every gunicorn worker would repeat, and works before `db upgrade` has made any table.
    if (settings_of(session).env == "production"
            and principal.token_hash in demo_token_hashes()):
        _warn_demo_refused()
        return "demo token refused in production"
    return None


def authenticate(session: Session, token: str) -> Actor:
    principal = session.scalars(
        select(Principal).where(Principal.token_hash == hash_token(token))).first()
    if principal is None:
        raise Unauthenticated("invalid token")
    reason = refusal(session, principal)
    if reason is not None:
        # One message for every refusal: a caller learns nothing about other principals.
        raise Unauthenticated("invalid token")
    return actor_for(principal)


def list_principals(session: Session) -> list[Principal]:
    return list(session.scalars(select(Principal).order_by(Principal.id)))


def revoke_principal(session: Session, principal_id: int) -> tuple[Principal, bool]:
    """Revoke a principal and end its console sessions; (principal, False) if it already was."""
    principal = session.get(Principal, principal_id)
    if principal is None:
        raise NotFound(f"principal {principal_id}")
    if principal.revoked_at is not None:
        return principal, False
    now = clock.now()
    principal.revoked_at = now
    session.execute(update(ConsoleSession)
                    .where(ConsoleSession.principal_id == principal.id,
                           ConsoleSession.ended_at.is_(None))
                    .values(ended_at=now))
    session.flush()
    return principal, True


# --- console sessions ------------------------------------------------------------------------

def start_console_session(session: Session, principal: Principal,
                          lifetime: dt.timedelta) -> str:
    """A new signed-in browser; returns the key for its cookie (only the hash is stored)."""
    key = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(ConsoleSession(principal_id=principal.id, key_hash=hash_token(key),
                               created_at=now, expires_at=now + lifetime))
    session.flush()
    return key


def console_principal(session: Session, key: str) -> Principal | None:
    """The principal of a live console session: not ended, not expired, and the principal
    itself still acceptable (not revoked, not expired, not a demo token in production)."""
    row = session.scalars(select(ConsoleSession).where(
        ConsoleSession.key_hash == hash_token(key))).first()
    if row is None or row.ended_at is not None or row.expires_at <= clock.now():
        return None
    principal = session.get(Principal, row.principal_id)
    if principal is None or refusal(session, principal) is not None:
        return None
    return principal


def end_console_session(session: Session, key: str) -> None:
    """Sign-out: the key is refused from now on, even if the old cookie is replayed."""
    session.execute(update(ConsoleSession)
                    .where(ConsoleSession.key_hash == hash_token(key),
                           ConsoleSession.ended_at.is_(None))
                    .values(ended_at=clock.now()))
