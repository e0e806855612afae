"""Courses and their scheduled sessions (课程, 课次).

What a course declares (its category, its price, a session on a Sunday) is stored as declared:
judging it is the compliance engine's job. Here we only refuse what is malformed or what
points at another institution's teachers and venues.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .. import clock
from ..access.scope import Actor, get_in_scope, policy_of, scoped
from ..errors import Conflict, Invalid, RuleViolation
from ..models import ClassSession, Course, Enrollment, Institution, Teacher, Venue
from ._checks import Errors, add, one_of, raise_if, reject_unknown, require
from .institutions import CATEGORIES

MODES = ("online", "offline")
SESSION_STATUSES = ("scheduled", "cancelled")
GRADE_MIN, GRADE_MAX = 0, 12  # 0 preschool, 1-6 primary, 7-9 junior, 10-12 senior

FIELDS = ("name", "subject", "category", "grade_min", "grade_max", "mode", "class_size",
          "minutes_per_class_hour", "price_per_class_hour_fen", "venue_id")
REQUIRED = ("name", "subject", "category", "grade_min", "grade_max", "mode", "class_size",
            "price_per_class_hour_fen")
SESSION_FIELDS = ("starts_at", "ends_at", "teacher_id", "venue_id")
# What an enrollment still to be taught was bought as: a class hour's length and whether it
# is taught online. Fixed once such enrollments exist (the price may change: an enrollment
# keeps its own, so a new price applies to new enrollments only).
FIXED_WITH_ENROLLMENTS = ("mode", "minutes_per_class_hour")
LIVE_ENROLLMENT_STATUSES = ("awaiting_payment", "active")


def create_course(session: Session, actor: Actor, data: Mapping[str, Any], *,
                  institution_id: int | None = None) -> Course:
    """A course of the calling institution (of `institution_id` for the system actor)."""
    owner = institution_id if institution_id is not None else actor.institution_id
    institution = get_in_scope(session, actor, Institution, owner)
    course = new_course(session, institution.id, data)
    session.add(course)
    session.flush()
    return course


def new_course(session: Session, institution_id: int, data: Mapping[str, Any], *,
               own_venues: set[int] | None = None) -> Course:
    """Every check of `create_course` for an institution already found in scope, returning the
    course unsaved (Invalid if refused). The spreadsheet import passes `own_venues`, the
    institution's venue ids looked up once, instead of one query a row."""
    reject_unknown(data, FIELDS)
    values = {name: data.get(name) for name in FIELDS}
    errors: Errors = {}
    require(errors, values, REQUIRED)
    _check_course(session, institution_id, values, errors, own_venues)
    raise_if(errors)
    if values["minutes_per_class_hour"] is None:
        rules = policy_of(session)["rules"]
        values["minutes_per_class_hour"] = rules[f"default_minutes_per_class_hour_{values['mode']}"]
    return Course(institution_id=institution_id, **values)


def update_course(session: Session, actor: Actor, course_id: int,
                  data: Mapping[str, Any]) -> Course:
    """Change some fields of a course (its institution, or a regulator in scope, as for a
    teacher's PATCH). The merged course passes every check of create_course; a null
    minutes_per_class_hour means the default of the (new) mode. Once enrollments still to be
    taught exist, FIXED_WITH_ENROLLMENTS may not change (409)."""
    course = get_in_scope(session, actor, Course, course_id, for_update=True)
    reject_unknown(data, FIELDS)
    errors: Errors = {}
    require(errors, data, [name for name in data if name in REQUIRED])
    values = {name: getattr(course, name) for name in FIELDS}
    values.update(data)
    _check_course(session, course.institution_id, values, errors)
    raise_if(errors)
    if values["minutes_per_class_hour"] is None:
        rules = policy_of(session)["rules"]
        values["minutes_per_class_hour"] = rules[f"default_minutes_per_class_hour_{values['mode']}"]
    changed = [name for name in FIXED_WITH_ENROLLMENTS if values[name] != getattr(course, name)]
    if changed and live_enrollments(session, course.id):
        raise Conflict(f"the course has enrollments still to be taught: {', '.join(changed)} "
                       "may not change (they were bought as they are)")
    for name, value in values.items():
        setattr(course, name, value)
    session.flush()
    return course


def live_enrollments(session: Session, course_id: int) -> int:
    """Enrollments of the course not yet paid or still being taught."""
    return session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.course_id == course_id,
        Enrollment.status.in_(LIVE_ENROLLMENT_STATUSES))) or 0


def get_course(session: Session, actor: Actor, course_id: int) -> Course:
    return get_in_scope(session, actor, Course, course_id)


def courses_query(session: Session, actor: Actor, *,
                  institution_id: int | None = None) -> Select[Any]:
    stmt = scoped(select(Course), actor, Course).order_by(Course.id)
    if institution_id is not None:
        stmt = stmt.where(Course.institution_id == institution_id)
    return stmt


def schedule_sessions(session: Session, actor: Actor, course_id: int,
                      items: Sequence[Mapping[str, Any]]) -> list[ClassSession]:
    """Schedule a batch of sessions of one course: all of them, or none (any error: 422)."""
    course = get_in_scope(session, actor, Course, course_id)
    institution = session.get(Institution, course.institution_id)
    assert institution is not None  # FK
    require_may_schedule(institution)
    limit = int(policy_of(session)["rules"]["max_sessions_per_call"])
    if not 1 <= len(items) <= limit:
        raise Invalid.field("sessions", f"between 1 and {limit} sessions at once")
    for item in items:
        reject_unknown(item, SESSION_FIELDS)
    teachers = own_teachers(session, course.institution_id,
                            {item.get("teacher_id") for item in items})
    venues = own_ids(session, Venue, course.institution_id,
                     {item.get("venue_id") for item in items})
    errors: Errors = {}
    rows = [new_session(course, n, item, teachers, venues, errors)
            for n, item in enumerate(items)]
    raise_if(errors)
    # One flush: the ORM sends the batch as multi-row INSERT ... RETURNING statements.
    session.add_all(rows)
    session.flush()
    return rows


def sessions_query(session: Session, actor: Actor, *, course_id: int | None = None,
                   institution_id: int | None = None, starts_from: dt.datetime | None = None,
                   starts_before: dt.datetime | None = None) -> Select[Any]:
    """Sessions starting in [starts_from, starts_before), in time order."""
    stmt = scoped(select(ClassSession), actor, ClassSession)
    if course_id is not None:
        stmt = stmt.where(ClassSession.course_id == course_id)
    if institution_id is not None:
        stmt = stmt.where(ClassSession.institution_id == institution_id)
    if starts_from is not None:
        stmt = stmt.where(ClassSession.starts_at >= starts_from)
    if starts_before is not None:
        stmt = stmt.where(ClassSession.starts_at < starts_before)
    return stmt.order_by(ClassSession.starts_at, ClassSession.id)


def cancel_session(session: Session, actor: Actor, session_id: int) -> ClassSession:
    class_session = get_in_scope(session, actor, ClassSession, session_id, for_update=True)
    if class_session.status == "cancelled":
        raise Conflict("the session is already cancelled")
    class_session.status = "cancelled"
    session.flush()
    return class_session


def require_may_schedule(institution: Institution) -> None:
    if institution.status != "active":
        # A suspended or revoked institution may not hold classes: refused here, not merely
        # flagged later (OPERATING_WHILE_SUSPENDED still catches what was scheduled before).
        raise RuleViolation("INSTITUTION_NOT_ACTIVE",
                            f"the institution is {institution.status}: it may not schedule "
                            "sessions")


def _check_course(session: Session, institution_id: int, values: dict[str, Any],
                  errors: Errors, own_venues: set[int] | None = None) -> None:
    subject = values.get("subject")
    if subject is not None and subject not in policy_of(session)["subjects"]:
        add(errors, "subject", "not a subject of the catalogue (use \"other\")")
    one_of(errors, values, "category", CATEGORIES)
    one_of(errors, values, "mode", MODES)
    grades_ok = True
    for name in ("grade_min", "grade_max"):
        grade = values.get(name)
        if grade is not None and not GRADE_MIN <= grade <= GRADE_MAX:
            add(errors, name, f"must be between {GRADE_MIN} and {GRADE_MAX}")
            grades_ok = False
    low, high = values.get("grade_min"), values.get("grade_max")
    if grades_ok and low is not None and high is not None and low > high:
        add(errors, "grade_max", "must not be below grade_min")
    for name, least in (("class_size", 1), ("minutes_per_class_hour", 1),
                        ("price_per_class_hour_fen", 0)):
        if values.get(name) is not None and values[name] < least:
            add(errors, name, f"must be at least {least}")
    venue_id = values.get("venue_id")
    if venue_id is not None:
        known = own_venues if own_venues is not None else own_ids(
            session, Venue, institution_id, {venue_id})
        if venue_id not in known:
            add(errors, "venue_id", "not a venue of this institution")


def new_session(course: Course, n: int, item: Mapping[str, Any],
                teachers: Mapping[int, dt.date | None], venues: set[int],
                errors: Errors) -> ClassSession:
    """Check item `n` of a batch (errors keyed `sessions.{n}.<field>`); the session unsaved.

    `teachers` (id: left_on, see own_teachers) and `venues` are the institution's own,
    looked up once a batch."""
    starts, ends = item.get("starts_at"), item.get("ends_at")
    for name, value in (("starts_at", starts), ("ends_at", ends)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            add(errors, f"sessions.{n}.{name}", "required, with a UTC offset")
    if isinstance(starts, dt.datetime) and isinstance(ends, dt.datetime) \
            and starts.tzinfo is not None and ends.tzinfo is not None and ends <= starts:
        add(errors, f"sessions.{n}.ends_at", "must be after starts_at")
    teacher_id = item.get("teacher_id")
    if not isinstance(teacher_id, int) or teacher_id not in teachers:
        add(errors, f"sessions.{n}.teacher_id", "not a teacher of this institution")
    elif isinstance(starts, dt.datetime) and starts.tzinfo is not None:
        left_on = teachers[teacher_id]
        # The leaving day itself may still be taught; a later (Shanghai) day may not.
        if left_on is not None and starts.astimezone(clock.SHANGHAI).date() > left_on:
            add(errors, f"sessions.{n}.teacher_id",
                f"the teacher left on {left_on.isoformat()}, before this session")
    venue_id = item.get("venue_id")
    if venue_id is None and course.mode == "offline":
        venue_id = course.venue_id
    elif venue_id is not None and venue_id not in venues:
        add(errors, f"sessions.{n}.venue_id", "not a venue of this institution")
    return ClassSession(course_id=course.id, institution_id=course.institution_id,
                        starts_at=starts, ends_at=ends, teacher_id=item.get("teacher_id"),
                        venue_id=venue_id, status="scheduled")


def own_teachers(session: Session, institution_id: int,
                 ids: set[Any]) -> dict[int, dt.date | None]:
    """Which of `ids` are the institution's teachers, with the day each left (None: on
    staff). The rows are read FOR SHARE: a concurrent marking of one as left (which locks it
    FOR UPDATE and counts its later sessions) waits for this batch, or this for it."""
    wanted = [i for i in ids if isinstance(i, int)]
    if not wanted:
        return {}
    rows = session.execute(select(Teacher.id, Teacher.left_on).where(
        Teacher.id.in_(wanted), Teacher.institution_id == institution_id)
        .order_by(Teacher.id).with_for_update(read=True))
    return {teacher_id: left_on for teacher_id, left_on in rows}


def own_ids(session: Session, model: type[Teacher] | type[Venue], institution_id: int,
            ids: set[Any]) -> set[int]:
    """Which of `ids` belong to the institution (one query; at most a batch's worth)."""
    wanted = [i for i in ids if isinstance(i, int)]
    if not wanted:
        return set()
    return set(session.scalars(select(model.id).where(
        model.id.in_(wanted), model.institution_id == institution_id)))
