"""课消: attendance turns held money into consumption awaiting the parent's confirmation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from ..access.scope import Actor, get_in_scope, policy_of, scoped
from ..calendar import add_working_days, add_working_days_cached
from ..clock import SHANGHAI
from ..compliance.flags import raise_flag
from ..errors import Conflict, Invalid, RuleViolation
from ..models import ClassSession, Course, Institution
from ..models.escrow import Consumption, Enrollment
from ..notify import enqueue
from ..wording import yuan
from . import fast_attendance, ledger
from .ledger import Move, table
from .locks import locked_one


def working_days_later(session: Session, at: dt.datetime, days: int, *,
                       cached: bool = False) -> dt.datetime:
    """The same Shanghai wall-clock time `days` working days after `at` (`cached`: the
    calendar's per-process memory of a few seconds, for the attendance hot path)."""
    local = at.astimezone(SHANGHAI)
    day = (add_working_days_cached if cached else add_working_days)(session, local.date(), days)
    return dt.datetime.combine(day, local.time(), tzinfo=SHANGHAI)


def record_attendance(session: Session, actor: Actor, *, session_id: int,
                      enrollment_ids: Sequence[int], class_hours: int | None,
                      as_of: dt.datetime) -> list[Consumption]:
    """All or nothing: every enrollment must be an active one of this session's course, paid
    before the session started, with the money held; one balanced transfer held →
    pending_confirmation each. Every refusal comes before the first write.

    On PostgreSQL the lean path (fast_attendance) books it in one statement; when it declines
    or anything would be refused it writes nothing, and the code below decides (and words) the
    refusal, as it does everything on SQLite."""
    auto_confirm_at = working_days_later(
        session, as_of, int(policy_of(session)["rules"]["consumption_auto_confirm_working_days"]),
        cached=True)
    booked = fast_attendance.record(session, actor, session_id=session_id,
                                    enrollment_ids=enrollment_ids, class_hours=class_hours,
                                    as_of=as_of, auto_confirm_at=auto_confirm_at)
    if booked is not None:
        return booked
    cls = get_in_scope(session, actor, ClassSession, session_id)
    course = session.get(Course, cls.course_id)
    assert course is not None  # FK
    _check_institution(session, cls.institution_id, "record attendance")
    _check_session(cls, as_of)
    most = default_hours(cls, course)
    if class_hours is not None and class_hours > most:
        # Otherwise one 45-minute class could drain a whole prepayment into the institution's
        # pending money in a single call.
        raise RuleViolation("HOURS_EXCEED_SESSION",
                            f"the session holds at most {most} class hours",
                            errors={"class_hours": [f"at most {most} for this session"]})
    hours = class_hours if class_hours is not None else most
    enrollments = _enrollments_of(session, cls, enrollment_ids)
    consumptions = [
        Consumption(enrollment_id=e.id, session_id=cls.id, institution_id=e.institution_id,
                    parent_id=e.parent_id, class_hours=hours,
                    amount_fen=hours * e.price_per_class_hour_fen,
                    status="pending_confirmation", recorded_at=as_of,
                    auto_confirm_at=auto_confirm_at)
        for e in enrollments]
    session.add_all(consumptions)
    session.flush()  # the UNIQUE (session_id, enrollment_id) settles a concurrent duplicate
    ledger.book(session, moves=[
        Move(ledger.enr(c.enrollment_id, "held"),
             ledger.enr(c.enrollment_id, "pending_confirmation"), c.amount_fen, "consumption",
             enrollment_id=c.enrollment_id, institution_id=c.institution_id,
             ref_type="consumption", ref_id=c.id)
        for c in consumptions])
    t = table(Enrollment)
    session.execute(update(t).where(t.c.id.in_([e.id for e in enrollments]))
                    .values(consumed_hours=t.c.consumed_hours + hours))
    # One notification per session's attendance, not per student: a class of forty is one
    # outbox row to write on this hot path.
    enqueue(session, "escrow.consumption", {
        "session_id": cls.id, "institution_id": cls.institution_id,
        "consumptions": [_payload(c) for c in consumptions]})
    return consumptions


def default_hours(cls: ClassSession, course: Course) -> int:
    """The session's length in class hours, rounded down, at least one."""
    minutes = int((cls.ends_at - cls.starts_at).total_seconds() // 60)
    return max(1, minutes // course.minutes_per_class_hour)


def _check_institution(session: Session, institution_id: int, doing: str) -> None:
    institution = session.get(Institution, institution_id)
    assert institution is not None  # FK
    if institution.status != "active":
        raise RuleViolation("INSTITUTION_NOT_ACTIVE",
                            f"the institution is {institution.status}: it may not {doing}")


def _check_session(cls: ClassSession, as_of: dt.datetime) -> None:
    if cls.status != "scheduled":
        raise Invalid.field("session_id", f"the session is {cls.status}")
    if cls.starts_at > as_of:
        raise Invalid.field("session_id", "the session has not started yet")


def _enrollments_of(session: Session, cls: ClassSession,
                    enrollment_ids: Sequence[int]) -> list[Enrollment]:
    if len(set(enrollment_ids)) != len(enrollment_ids):
        raise Conflict("an enrollment is listed twice for this session",
                       errors={"enrollment_ids": ["duplicate enrollment id"]})
    found = {e.id: e for e in session.scalars(
        select(Enrollment).where(Enrollment.id.in_(enrollment_ids)))}
    problems = []
    for eid in enrollment_ids:
        e = found.get(eid)
        if e is None or e.course_id != cls.course_id:
            problems.append(f"{eid}: not an enrollment of this session's course")
        elif e.status != "active":
            problems.append(f"{eid}: enrollment is {e.status}")
    if problems:
        raise Invalid("attendance refused; nothing was recorded",
                      errors={"enrollment_ids": problems})
    # Prepaid money pays only for classes after it arrived (paid_at is when the deposit made
    # the enrollment active: its activated_at).
    early = [f"{eid}: activated at {paid.isoformat()}, after the session started"
             for eid in enrollment_ids
             if (paid := found[eid].paid_at) is not None and paid > cls.starts_at]
    if early:
        raise RuleViolation("SESSION_BEFORE_ENROLLMENT",
                            "the session started before the enrollment was paid; nothing was "
                            "recorded", errors={"enrollment_ids": early})
    already = list(session.scalars(select(Consumption.enrollment_id).where(
        Consumption.session_id == cls.id, Consumption.enrollment_id.in_(enrollment_ids))))
    if already:
        raise Conflict("attendance already recorded for this session",
                       errors={"enrollment_ids": [f"{eid}: already recorded"
                                                  for eid in sorted(already)]})
    return [found[eid] for eid in enrollment_ids]


def _payload(c: Consumption) -> dict[str, object]:
    return {"consumption_id": c.id, "enrollment_id": c.enrollment_id,
            "institution_id": c.institution_id, "parent_id": c.parent_id,
            "class_hours": c.class_hours, "amount_fen": c.amount_fen, "status": c.status}


def confirm_consumption(session: Session, actor: Actor, consumption_id: int, *,
                        as_of: dt.datetime, by: str = "parent") -> Consumption:
    """pending_confirmation (or disputed: the parent withdraws the dispute) → confirmed."""
    consumption = locked_one(session, actor, Consumption, consumption_id)
    _confirm(session, [consumption], as_of=as_of, by=by,
             from_statuses=("pending_confirmation", "disputed"))
    return consumption


def _confirm(session: Session, consumptions: list[Consumption], *, as_of: dt.datetime,
             by: str, from_statuses: tuple[str, ...]) -> None:
    """The consumptions are locked by the caller: a second confirmation, having waited for
    the first, finds the status changed and is refused."""
    if not consumptions:
        return
    if any(c.status not in from_statuses for c in consumptions):
        raise Conflict("the consumption is not awaiting confirmation")
    for c in consumptions:
        c.status, c.confirmed_at, c.confirmed_by = "confirmed", as_of, by
    session.flush()
    ledger.book(session, moves=[
        Move(ledger.enr(c.enrollment_id, "pending_confirmation"),
             ledger.enr(c.enrollment_id, "confirmed"), c.amount_fen, "confirmation",
             enrollment_id=c.enrollment_id, institution_id=c.institution_id,
             ref_type="consumption", ref_id=c.id)
        for c in consumptions])
    enqueue(session, "escrow.confirmation", {"consumptions": [_payload(c) for c in consumptions]})


def dispute_consumption(session: Session, actor: Actor, consumption_id: int, *, reason: str,
                        as_of: dt.datetime) -> Consumption:
    """The money stays in custody (pending confirmation) and the regulator gets a flag."""
    consumption = locked_one(session, actor, Consumption, consumption_id)
    if consumption.status != "pending_confirmation":
        raise Conflict("only a consumption awaiting confirmation can be disputed")
    consumption.status, consumption.disputed_at = "disputed", as_of
    consumption.dispute_reason = reason
    session.flush()
    raise_flag(session, actor, rule="CONSUMPTION_DISPUTED", severity="medium",
               institution_id=consumption.institution_id, subject_type="consumption",
               subject_id=consumption.id,
               summary=f"家长对课消（{consumption.class_hours}课时，"
                       f"{yuan(consumption.amount_fen)}）提出异议",
               evidence={"consumption_id": consumption.id,
                         "enrollment_id": consumption.enrollment_id,
                         "session_id": consumption.session_id,
                         "amount_fen": consumption.amount_fen, "reason": reason},
               at=as_of)
    enqueue(session, "escrow.dispute", _payload(consumption))
    return consumption


def auto_confirm_due(session: Session, as_of: dt.datetime, *, batch: int = 500) -> int:
    """The scheduler's job: confirm every consumption unanswered past its auto_confirm_at.
    Safe to run twice (a confirmed consumption is not selected again); rows a parent is
    confirming right now are skipped, not waited for."""
    total = 0
    while True:
        due = list(session.scalars(
            select(Consumption).where(Consumption.status == "pending_confirmation",
                                      Consumption.auto_confirm_at <= as_of)
            .order_by(Consumption.id).limit(batch).with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)))
        if not due:
            return total
        _confirm(session, due, as_of=as_of, by="auto", from_statuses=("pending_confirmation",))
        total += len(due)


def consumptions_query(session: Session, actor: Actor, *, enrollment_id: int | None = None,
                       status: str | None = None) -> Select[tuple[Consumption]]:
    stmt = scoped(select(Consumption), actor, Consumption).order_by(
        Consumption.id.desc())
    if enrollment_id is not None:
        stmt = stmt.where(Consumption.enrollment_id == enrollment_id)
    if status is not None:
        stmt = stmt.where(Consumption.status == status)
    return stmt
