"""举报: anyone tips the bureau off about unlicensed or disguised subject training, perhaps at
a place no registry knows; a regulator of the tip's district investigates and closes it.

A tip belongs to a district, not to an institution (it may concern none we know), so its scope
is its own `district_code`, not scope.py's institution-based clause. The informant keeps only
the random `reference`, which shows the status and the outcome: never the notes or the contact.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session

from ..access.policy import require_role
from ..access.scope import Actor, get_in_scope, policy_of
from ..db import fits_bigint
from ..errors import Conflict, NotFound
from ..models import Institution, Tip
from ..models.complaints import TIP_OUTCOMES
from ._checks import Errors, moment, one_of, raise_if, text_field

# Who files a tip from the public front door: no principal, named so in the audit trail.
PUBLIC = Actor(principal_id=None, role="public", name="public")
ACTIONS = ("investigate", "close")
# action → (the status it leaves, the status it reaches)
_TRANSITIONS = {"investigate": ("submitted", "investigating"),
                "close": ("investigating", "closed")}


def new_reference() -> str:
    """22 URL-safe characters (128 random bits): not guessable, not countable."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class TipStatus:
    """All the informant may know (API.md §10): no notes, no contact, no institution."""

    reference: str
    status: str
    outcome: str | None


def submit_tip(session: Session, actor: Actor, *, district_code: str, address: str,
               description: str, contact: str | None = None,
               as_of: dt.datetime | None = None) -> Tip:
    """Anyone may tip off; `actor` is PUBLIC from the front door, a principal elsewhere."""
    errors: Errors = {}
    if district_code not in policy_of(session).get("districts", {}):
        errors["district_code"] = ["not a district of the city"]
    clean_address = text_field(errors, "address", address, max_length=300)
    clean_description = text_field(errors, "description", description, max_length=2000)
    clean_contact = text_field(errors, "contact", contact, max_length=100, required=False)
    raise_if(errors)
    at = moment(as_of)
    tip = Tip(reference=new_reference(), district_code=district_code, address=clean_address,
              description=clean_description, contact=clean_contact, status="submitted",
              created_at=at, updated_at=at)
    session.add(tip)
    session.flush()
    return tip


def tip_status(session: Session, reference: str) -> TipStatus:
    """What the reference's holder sees; an unknown reference is 404 like any unknown id."""
    tip = session.scalar(select(Tip).where(Tip.reference == reference)) if reference else None
    if tip is None:
        raise NotFound("tip")
    return TipStatus(reference=tip.reference, status=tip.status, outcome=tip.outcome)


def _tip_scope(actor: Actor) -> ColumnElement[bool]:
    if actor.role == "regulator" and actor.district_code is not None:
        return Tip.district_code == actor.district_code
    return true()


def tips_query(session: Session, actor: Actor, *, status: str | None = None,
               district_code: str | None = None) -> Select[Any]:
    """The regulator's tips (its district's only), newest first."""
    require_role(actor, "regulator")
    stmt = select(Tip).where(_tip_scope(actor)).order_by(Tip.created_at.desc(), Tip.id.desc())
    if status is not None:
        stmt = stmt.where(Tip.status == status)
    if district_code is not None:
        stmt = stmt.where(Tip.district_code == district_code)
    return stmt


def get_tip(session: Session, actor: Actor, tip_id: int, *, for_update: bool = False) -> Tip:
    require_role(actor, "regulator")
    if not fits_bigint(tip_id):
        raise NotFound("tip")
    stmt = select(Tip).where(Tip.id == tip_id, _tip_scope(actor))
    tip = session.scalar(stmt.with_for_update() if for_update else stmt)
    if tip is None:
        raise NotFound("tip")
    return tip


def act_on_tip(session: Session, actor: Actor, tip_id: int, *, action: str,
               outcome: str | None = None, note: str | None = None,
               institution_id: int | None = None, as_of: dt.datetime | None = None) -> Tip:
    """submitted → investigating → closed (with outcome confirmed | unfounded); any other
    step is a conflict. `institution_id` records the registered institution it turned out to
    concern, which must be in the regulator's scope."""
    tip = get_tip(session, actor, tip_id, for_update=True)
    errors: Errors = {}
    one_of(errors, "action", action, ACTIONS)
    if action == "close":
        one_of(errors, "outcome", outcome, TIP_OUTCOMES)
    elif outcome is not None:
        errors["outcome"] = ["only closing a tip gives an outcome"]
    clean_note = text_field(errors, "note", note, max_length=2000, required=False)
    if institution_id is not None:
        try:
            get_in_scope(session, actor, Institution, institution_id)
        except NotFound:
            errors["institution_id"] = ["no such institution"]
    raise_if(errors)
    leaves, reaches = _TRANSITIONS[action]
    if tip.status != leaves:
        raise Conflict(f"a tip that is {tip.status} cannot move to {reaches}")
    changes: dict[str, Any] = {"status": reaches, "updated_at": moment(as_of)}
    if action == "close":
        changes["outcome"] = outcome
    if clean_note is not None:
        changes["note"] = clean_note
    if institution_id is not None:
        changes["institution_id"] = institution_id
    for name, value in changes.items():
        setattr(tip, name, value)
    session.flush()
    return tip

