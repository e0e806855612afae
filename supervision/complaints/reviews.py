"""评价: the parent of an enrollment reviews the institution, once, after a confirmed class.

Only a confirmed consumption (the parent's own confirmation, or the automatic one) makes an
enrollment eligible: a review from someone who never had a class would be an advertisement or
a smear. The public profile (API.md §10) averages the stars and shows the newest texts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, get_in_scope, scoped
from ..errors import Conflict, Forbidden, RuleViolation
from ..models import Review
from ..models.escrow import Consumption, Enrollment
from ._checks import Errors, moment, raise_if, text_field

STARS = range(1, 6)


def submit_review(session: Session, actor: Actor, enrollment_id: int, *, stars: int,
                  text: str, as_of: dt.datetime | None = None) -> Review:
    """422 REVIEW_NOT_ELIGIBLE before any confirmed class; 409 for a second review."""
    if actor.role != "parent" or actor.parent_id is None:
        raise Forbidden("only the parent of the enrollment may review it")
    enrollment = get_in_scope(session, actor, Enrollment, enrollment_id, for_update=True)
    errors: Errors = {}
    if isinstance(stars, bool) or not isinstance(stars, int) or stars not in STARS:
        errors["stars"] = ["must be a whole number from 1 to 5"]
    clean = text_field(errors, "text", text, max_length=1000)
    raise_if(errors)
    if not session.scalar(select(exists().where(Consumption.enrollment_id == enrollment.id,
                                                Consumption.status == "confirmed"))):
        raise RuleViolation("REVIEW_NOT_ELIGIBLE",
                            "an enrollment may be reviewed once a class of it is confirmed")
    if session.scalar(select(Review.id).where(Review.enrollment_id == enrollment.id)):
        raise Conflict("the enrollment has been reviewed already")
    review = Review(enrollment_id=enrollment.id, institution_id=enrollment.institution_id,
                    parent_id=actor.parent_id, stars=stars, text=clean, created_at=moment(as_of))
    session.add(review)
    session.flush()
    return review


def reviews_query(session: Session, actor: Actor, *,
                  institution_id: int | None = None) -> Select[Any]:
    """Reviews in the caller's scope (a parent: their own), newest first."""
    stmt = scoped(select(Review), actor, Review).order_by(Review.created_at.desc(),
                                                          Review.id.desc())
    if institution_id is not None:
        stmt = stmt.where(Review.institution_id == institution_id)
    return stmt
