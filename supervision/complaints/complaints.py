"""投诉: a parent complains about an institution; the institution answers; a regulator closes.

The deadlines are working days (RULES.md §10, numbers in config/policy.toml), counted from the
day of submission in Shanghai: 5 to answer (`respond_by`), 15 to close (`due_on`). The
compliance rules COMPLAINT_UNANSWERED and COMPLAINT_OVERDUE read the two dates.

Who sees what is scope.py's: a parent their own complaints, an institution those about it, a
regulator those of its district (404 outside, never 403).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..access.policy import require_role
from ..access.scope import Actor, get_in_scope, policy_of, scoped
from ..calendar import add_working_days
from ..clock import SHANGHAI
from ..errors import Conflict, Forbidden
from ..models import Complaint, ComplaintResponse, Institution
from ..models.complaints import COMPLAINT_CATEGORIES, COMPLAINT_OUTCOMES
from ..models.escrow import Enrollment
from ._checks import Errors, moment, one_of, raise_if, text_field

TEXT_MAX = 2000


def deadlines(session: Session, submitted_at: dt.datetime) -> tuple[dt.date, dt.date]:
    """(respond_by, due_on) of a complaint submitted at `submitted_at`: the submission day
    itself is not counted, weekends, holidays and the calendar's overrides are skipped."""
    rules = policy_of(session)["rules"]
    day = submitted_at.astimezone(SHANGHAI).date()
    return (add_working_days(session, day, int(rules["complaint_respond_working_days"])),
            add_working_days(session, day, int(rules["complaint_due_working_days"])))


def submit_complaint(session: Session, actor: Actor, *, institution_id: int, category: str,
                     text: str, enrollment_id: int | None = None,
                     as_of: dt.datetime | None = None) -> Complaint:
    """A parent's complaint about any registered institution; `enrollment_id`, when given,
    must be one of the parent's own enrollments at that institution."""
    if actor.role != "parent" or actor.parent_id is None:
        raise Forbidden("only a parent may submit a complaint")
    errors: Errors = {}
    one_of(errors, "category", category, COMPLAINT_CATEGORIES)
    clean = text_field(errors, "text", text, max_length=TEXT_MAX)
    if session.get(Institution, institution_id) is None:
        errors["institution_id"] = ["no such institution"]
    if enrollment_id is not None:
        enrollment = session.scalar(scoped(select(Enrollment), actor, Enrollment)
                                    .where(Enrollment.id == enrollment_id))
        if enrollment is None:
            errors["enrollment_id"] = ["no such enrollment of yours"]
        elif enrollment.institution_id != institution_id:
            errors["enrollment_id"] = ["the enrollment is at another institution"]
    raise_if(errors)
    at = moment(as_of)
    respond_by, due_on = deadlines(session, at)
    complaint = Complaint(institution_id=institution_id, enrollment_id=enrollment_id,
                          parent_id=actor.parent_id, category=category, text=clean,
                          status="submitted", respond_by=respond_by, due_on=due_on,
                          created_at=at)
    session.add(complaint)
    session.flush()
    return complaint


def respond_to_complaint(session: Session, actor: Actor, complaint_id: int, *, text: str,
                         as_of: dt.datetime | None = None) -> ComplaintResponse:
    """The institution answers: submitted → responded; a later answer keeps `responded`.
    A closed complaint takes no more answers (409)."""
    require_role(actor, "institution")
    complaint = get_in_scope(session, actor, Complaint, complaint_id, for_update=True)
    errors: Errors = {}
    clean = text_field(errors, "text", text, max_length=TEXT_MAX)
    raise_if(errors)
    if complaint.status == "closed":
        raise Conflict("the complaint is closed")
    response = ComplaintResponse(complaint_id=complaint.id,
                                 institution_id=complaint.institution_id,
                                 principal_id=actor.principal_id, text=clean, at=moment(as_of))
    session.add(response)
    complaint.status = "responded"
    session.flush()
    session.expire(complaint, ["responses"])
    return response


def close_complaint(session: Session, actor: Actor, complaint_id: int, *, outcome: str,
                    note: str | None = None, as_of: dt.datetime | None = None) -> Complaint:
    """A regulator closes the complaint with its outcome, answered or not; once only (409)."""
    require_role(actor, "regulator")
    complaint = get_in_scope(session, actor, Complaint, complaint_id, for_update=True)
    errors: Errors = {}
    one_of(errors, "outcome", outcome, COMPLAINT_OUTCOMES)
    clean = text_field(errors, "note", note, max_length=TEXT_MAX, required=False)
    raise_if(errors)
    if complaint.status == "closed":
        raise Conflict("the complaint is already closed")
    complaint.status, complaint.outcome, complaint.note = "closed", outcome, clean
    complaint.closed_at, complaint.closed_by = moment(as_of), actor.principal_id
    session.flush()
    return complaint


def get_complaint(session: Session, actor: Actor, complaint_id: int) -> Complaint:
    """One complaint in the caller's scope; its `responses` load with it, oldest first."""
    return get_in_scope(session, actor, Complaint, complaint_id)


def complaints_query(session: Session, actor: Actor, *, status: str | None = None,
                     institution_id: int | None = None,
                     category: str | None = None) -> Select[Any]:
    """The caller's complaints, newest first, optionally filtered."""
    stmt = scoped(select(Complaint), actor, Complaint).order_by(Complaint.created_at.desc(),
                                                                Complaint.id.desc())
    filters: dict[str, Any] = {"status": status, "institution_id": institution_id,
                               "category": category}
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Complaint, name) == value)
    return stmt

