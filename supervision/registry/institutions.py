"""Institutions and their venues: registration, changes, status, the public profile.

Compliance problems (a subject-type institution that is not non-profit, an expired licence)
are deliberately not refused here: they are stored as declared and flagged by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, get_in_scope, policy_of, scoped
from ..db import fits_bigint
from ..errors import Conflict, Invalid, NotFound
from ..identifiers import uscc_error
from ..models import Flag, Institution, Venue
from ..vocab import OUTSTANDING_FLAG_STATUSES, SEVERITIES
from ._checks import Errors, add, as_date, one_of, raise_if, reject_unknown, require

CATEGORIES = ("subject", "non_subject")
ESCROW_MODES = ("trust", "bank_custody", "risk_reserve")
LICENSED_MODES = ("offline", "online")
INSTITUTION_STATUSES = ("active", "suspended", "revoked")
# A flag counts against the public profile until it is resolved, dismissed or cleared.
OPEN_FLAG_STATUSES = OUTSTANDING_FLAG_STATUSES

FIELDS = ("name", "uscc", "license_no", "license_valid_until", "district_code", "category",
          "licensed_modes", "nonprofit_registration_no", "escrow_mode",
          "supervised_account_no", "address", "contact_phone")
NULLABLE = frozenset({"nonprofit_registration_no", "contact_phone"})
REQUIRED = tuple(f for f in FIELDS if f not in NULLABLE)
# What an institution may change about itself; everything else is the regulator's record.
SELF_EDITABLE_FIELDS = frozenset({"address", "contact_phone"})


def register_institution(session: Session, actor: Actor, data: Mapping[str, Any]) -> Institution:
    reject_unknown(data, FIELDS)
    values = {name: data.get(name) for name in FIELDS}
    errors: Errors = {}
    require(errors, values, REQUIRED)
    _check_values(session, actor, values, errors)
    raise_if(errors)
    _ensure_uscc_free(session, str(values["uscc"]))
    institution = Institution(**values, status="active")
    session.add(institution)
    session.flush()
    return institution


def update_institution(session: Session, actor: Actor, institution_id: int,
                       changes: Mapping[str, Any]) -> Institution:
    institution = get_in_scope(session, actor, Institution, institution_id, for_update=True)
    reject_unknown(changes, FIELDS)
    if actor.role == "institution":
        refused = sorted(set(changes) - SELF_EDITABLE_FIELDS)
        if refused:
            message = "an institution may change only its address and contact_phone"
            raise Invalid(message, errors={name: [message] for name in refused})
    values = dict(changes)
    errors: Errors = {}
    require(errors, values, [name for name in values if name not in NULLABLE])
    _check_values(session, actor, values, errors)
    raise_if(errors)
    if "uscc" in values and values["uscc"] != institution.uscc:
        _ensure_uscc_free(session, values["uscc"])
    for name, value in values.items():
        setattr(institution, name, value)
    session.flush()
    return institution


def change_institution_status(session: Session, actor: Actor, institution_id: int, *,
                              status: str, reason: str) -> Institution:
    """Suspend, revoke or reinstate. The reason is kept on the row so the audit log has it."""
    institution = get_in_scope(session, actor, Institution, institution_id, for_update=True)
    errors: Errors = {}
    require(errors, {"status": status, "reason": reason}, ("status", "reason"))
    one_of(errors, {"status": status}, "status", INSTITUTION_STATUSES)
    raise_if(errors)
    if institution.status == status:
        raise Conflict(f"the institution is already {status}")
    institution.status = status
    institution.status_reason = reason.strip()
    session.info["audit_action"] = "status_change"
    try:
        session.flush()
    finally:
        session.info.pop("audit_action", None)
    return institution


def get_institution(session: Session, actor: Actor, institution_id: int) -> Institution:
    return get_in_scope(session, actor, Institution, institution_id)


def institutions_query(session: Session, actor: Actor, *, district_code: str | None = None,
                       category: str | None = None, status: str | None = None,
                       q: str | None = None) -> Select[Any]:
    stmt = scoped(select(Institution), actor, Institution).order_by(Institution.id)
    if district_code:
        stmt = stmt.where(Institution.district_code == district_code)
    if category:
        stmt = stmt.where(Institution.category == category)
    if status:
        stmt = stmt.where(Institution.status == status)
    if q:
        stmt = stmt.where(Institution.name.icontains(q, autoescape=True))
    return stmt


@dataclass(frozen=True)
class PublicProfile:
    """What anyone signed in may know about an institution: nothing about people or money."""

    name: str
    district_code: str
    category: str
    licensed_modes: list[str]
    status: str
    escrow_mode: str
    blacklisted: bool
    open_flag_count: dict[str, int]


def public_profile(session: Session, institution_id: int) -> PublicProfile:
    institution = _get_unscoped(session, institution_id)
    counts = dict.fromkeys(SEVERITIES, 0)
    rows = session.execute(
        select(Flag.severity, func.count())
        .where(Flag.institution_id == institution.id, Flag.status.in_(OPEN_FLAG_STATUSES))
        .group_by(Flag.severity))
    for severity, count in rows:
        if severity in counts:
            counts[severity] = count
    return PublicProfile(
        name=institution.name, district_code=institution.district_code,
        category=institution.category, licensed_modes=list(institution.licensed_modes),
        status=institution.status, escrow_mode=institution.escrow_mode,
        blacklisted=institution.status == "revoked", open_flag_count=counts)


def add_venue(session: Session, actor: Actor, institution_id: int, *, address: str,
              capacity: int) -> Venue:
    institution = get_in_scope(session, actor, Institution, institution_id)
    errors: Errors = {}
    require(errors, {"address": address, "capacity": capacity}, ("address", "capacity"))
    if isinstance(capacity, int) and capacity <= 0:
        add(errors, "capacity", "must be at least 1")
    raise_if(errors)
    venue = Venue(institution_id=institution.id, address=address.strip(), capacity=capacity)
    session.add(venue)
    session.flush()
    return venue


def venues_query(session: Session, actor: Actor, institution_id: int) -> Select[Any]:
    institution = get_in_scope(session, actor, Institution, institution_id)
    return select(Venue).where(Venue.institution_id == institution.id).order_by(Venue.id)


def _get_unscoped(session: Session, institution_id: int) -> Institution:
    if not fits_bigint(int(institution_id)):
        raise NotFound("institution")
    institution = session.get(Institution, int(institution_id))
    if institution is None:
        raise NotFound("institution")
    return institution


def _check_values(session: Session, actor: Actor, values: dict[str, Any],
                  errors: Errors) -> None:
    """Check the fields present in `values` (normalising uscc and licensed_modes in place)."""
    if values.get("uscc") is not None:
        values["uscc"] = uscc = values["uscc"].strip().upper()
        problem = "must be 18 characters" if len(uscc) != 18 else uscc_error(uscc)
        if problem:
            add(errors, "uscc", problem)
    district = values.get("district_code")
    if district is not None:
        if district not in policy_of(session)["districts"]:
            add(errors, "district_code", "not a district of this city")
        elif actor.role == "regulator" and actor.district_code not in (None, district):
            add(errors, "district_code", "outside the district you supervise")
    as_date(errors, values, "license_valid_until")
    one_of(errors, values, "category", CATEGORIES)
    one_of(errors, values, "escrow_mode", ESCROW_MODES)
    modes = values.get("licensed_modes")
    if modes is not None:
        if not modes or len(set(modes)) != len(modes) or not set(modes) <= set(LICENSED_MODES):
            add(errors, "licensed_modes", "a non-empty list of offline and/or online, each once")
        else:
            values["licensed_modes"] = [m for m in LICENSED_MODES if m in modes]


def _ensure_uscc_free(session: Session, uscc: str) -> None:
    # Checked first for a clear answer; the unique index settles a concurrent duplicate (409).
    if session.scalar(select(Institution.id).where(Institution.uscc == uscc)) is not None:
        message = "an institution with this uscc is already registered"
        raise Conflict(message, errors={"uscc": [message]})
