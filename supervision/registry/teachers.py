"""Teachers (从业人员) and the regulator's rosters of ID numbers.

Full ID numbers never reach the database, the audit log or a log line: they are reduced on
arrival to a keyed hash (to recognise one person across institutions and rosters) and a mask.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .. import clock
from ..access.policy import require_citywide_regulator
from ..access.scope import Actor, get_in_scope, scope_clause, scoped, settings_of
from ..errors import Conflict, Invalid
from ..identifiers import cert_error, cert_level, hash_id_number, id_number_error, mask_id_number
from ..models import ClassSession, Institution, RosterEntry, Teacher
from ._checks import Errors, add, as_date, one_of, raise_if, reject_unknown, require

# The API's five levels, plus the two other certificate types of RULES.md §6, so a level can
# always be stated that agrees with the certificate number.
CERT_LEVELS = ("kindergarten", "primary", "junior", "senior", "vocational",
               "vocational_practice", "higher")
BACKGROUND_CHECK_STATUSES = ("clear", "pending", "hit")
EMPLOYMENTS = ("full_time", "part_time")
ROSTER_KINDS = ("inservice", "blacklist")
MAX_ROSTER_NUMBERS = 10000

FIELDS = ("name", "id_number", "qualification_cert_no", "cert_level", "cert_subject",
          "is_inservice_school_teacher", "background_check_status", "background_checked_on",
          "employment", "hired_on")
# 离职: set by an edit only (a teacher is registered on staff); None again on a return.
UPDATE_FIELDS = (*FIELDS, "left_on")
NULLABLE = frozenset({"qualification_cert_no", "cert_level", "cert_subject",
                      "background_checked_on", "left_on"})
REQUIRED = ("name", "id_number", "background_check_status", "employment", "hired_on")
# Big IN lists are split so neither database's parameter limit is ever reached.
_CHUNK = 1000


def register_teacher(session: Session, actor: Actor, data: Mapping[str, Any]) -> Teacher:
    """Register a teacher at the caller's institution (a regulator names the institution)."""
    teacher = new_teacher(session, actor, data)
    session.add(teacher)
    session.flush()
    return teacher


def new_teacher(session: Session, actor: Actor, data: Mapping[str, Any]) -> Teacher:
    """Every check of `register_teacher`, returning the teacher unsaved (Invalid if refused).

    The spreadsheet import checks thousands of rows with it and inserts them in one flush."""
    reject_unknown(data, (*FIELDS, "institution_id"))
    institution_id = _target_institution(session, actor, data.get("institution_id"))
    values = {name: data.get(name) for name in FIELDS}
    values["is_inservice_school_teacher"] = bool(values["is_inservice_school_teacher"])
    errors: Errors = {}
    require(errors, values, REQUIRED)
    _check_values(session, values, errors)
    raise_if(errors)
    return Teacher(institution_id=institution_id, **values)


def update_teacher(session: Session, actor: Actor, teacher_id: int,
                   changes: Mapping[str, Any]) -> Teacher:
    """Change some fields of a teacher; `left_on` records (or, None, undoes) leaving.

    The teacher's row is locked, so a concurrent scheduling (which reads it FOR SHARE) cannot
    add a session after the leaving day while this checks there is none."""
    teacher = get_in_scope(session, actor, Teacher, teacher_id, for_update=True)
    reject_unknown(changes, UPDATE_FIELDS)
    values = dict(changes)
    errors: Errors = {}
    require(errors, values, [name for name in values if name not in NULLABLE])
    if "qualification_cert_no" in values or "cert_level" in values:
        # The level is checked against (or derived from) the certificate as it will be.
        values.setdefault("qualification_cert_no", teacher.qualification_cert_no)
        values.setdefault("cert_level", None)
    _check_values(session, values, errors)
    as_date(errors, values, "left_on")
    _check_left_on(values.get("hired_on", teacher.hired_on),
                   values.get("left_on", teacher.left_on), errors)
    raise_if(errors)
    left_on = values.get("left_on", teacher.left_on)
    if left_on is not None and left_on != teacher.left_on:
        _require_no_sessions_after(session, teacher, left_on)
    for name, value in values.items():
        setattr(teacher, name, value)
    session.flush()
    return teacher


def _check_left_on(hired_on: Any, left_on: Any, errors: Errors) -> None:
    """Leaving is a past or present fact (no later than today) and follows the hiring."""
    if not isinstance(left_on, dt.date) or "left_on" in errors:
        return
    if isinstance(hired_on, dt.date) and left_on < hired_on:
        add(errors, "left_on", "must not be before hired_on")
    if left_on > clock.today():
        add(errors, "left_on", "must not be after today")


def sessions_after_leaving(session: Session, teacher_id: int, left_on: dt.date) -> int:
    """Scheduled sessions of the teacher on a (Shanghai) day after `left_on`."""
    after = dt.datetime.combine(left_on + dt.timedelta(days=1), dt.time(), clock.SHANGHAI)
    return session.scalar(select(func.count()).select_from(ClassSession).where(
        ClassSession.teacher_id == teacher_id, ClassSession.status == "scheduled",
        ClassSession.starts_at >= after)) or 0


def _require_no_sessions_after(session: Session, teacher: Teacher, left_on: dt.date) -> None:
    # A teacher who left teaches no more: the sessions after the day must be cancelled (or
    # the day is wrong). Kept as an invariant, so no rule has to look for such sessions.
    found = sessions_after_leaving(session, teacher.id, left_on)
    if found:
        raise Conflict(f"the teacher still has {found} scheduled sessions after left_on "
                       f"{left_on.isoformat()}: cancel them first")


def get_teacher(session: Session, actor: Actor, teacher_id: int) -> Teacher:
    return get_in_scope(session, actor, Teacher, teacher_id)


def teachers_query(session: Session, actor: Actor, *,
                   institution_id: int | None = None) -> Select[Any]:
    stmt = scoped(select(Teacher), actor, Teacher).order_by(Teacher.id)
    if institution_id is not None:
        stmt = stmt.where(Teacher.institution_id == institution_id)
    return stmt


def add_to_roster(session: Session, actor: Actor, kind: str, id_numbers: Sequence[str],
                  reason: str | None = None) -> int:
    """Add ID numbers to a roster; returns how many were not on it already.

    The rosters are the city's: every district's teachers are checked against them."""
    require_citywide_regulator(actor, "add to the rosters")
    errors: Errors = {}
    one_of(errors, {"kind": kind}, "kind", ROSTER_KINDS)
    if kind == "blacklist":
        require(errors, {"reason": reason}, ("reason",))
    if not 1 <= len(id_numbers) <= MAX_ROSTER_NUMBERS:
        add(errors, "id_numbers", f"between 1 and {MAX_ROSTER_NUMBERS} numbers at once")
    numbers = [n.strip().upper() for n in id_numbers]
    for i, number in enumerate(numbers):
        problem = id_number_error(number)
        if problem:
            add(errors, f"id_numbers.{i}", problem)
    raise_if(errors, "some ID numbers are not valid")
    key = settings_of(session).id_hash_key
    hashes = list(dict.fromkeys(hash_id_number(n, key) for n in numbers))
    present: set[str] = set()
    for start in range(0, len(hashes), _CHUNK):
        chunk = hashes[start:start + _CHUNK]
        present.update(session.scalars(select(RosterEntry.id_number_hash).where(
            RosterEntry.kind == kind, RosterEntry.id_number_hash.in_(chunk))))
    new = [h for h in hashes if h not in present]
    note = reason.strip() if reason else None
    session.add_all([RosterEntry(kind=kind, id_number_hash=h, reason=note) for h in new])
    session.flush()
    return len(new)


def _target_institution(session: Session, actor: Actor, requested: int | None) -> int:
    """An institution registers its own teachers; a regulator names one it supervises."""
    if actor.role == "institution" and actor.institution_id is not None:
        if requested is not None and requested != actor.institution_id:
            raise Invalid.field("institution_id", "an institution registers only its own teachers")
        return actor.institution_id
    if requested is None:
        raise Invalid.field("institution_id", "required")
    found = session.scalar(select(Institution.id).where(
        Institution.id == requested, scope_clause(actor, Institution)))
    if found is None:
        # The same answer for missing and out of scope: existence is not revealed.
        raise Invalid.field("institution_id", "no such institution")
    return requested


def _check_values(session: Session, values: dict[str, Any], errors: Errors) -> None:
    """Check the fields present; turn id_number into its hash and mask, derive cert_level."""
    if "id_number" in values:
        number = values.pop("id_number")
        if number is not None:
            number = number.strip().upper()
            problem = id_number_error(number)
            if problem:
                add(errors, "id_number", problem)
            else:
                values["id_number_hash"] = hash_id_number(number,
                                                          settings_of(session).id_hash_key)
                values["id_number_masked"] = mask_id_number(number)
    as_date(errors, values, "background_checked_on")
    as_date(errors, values, "hired_on")
    one_of(errors, values, "cert_level", CERT_LEVELS)
    one_of(errors, values, "background_check_status", BACKGROUND_CHECK_STATUSES)
    one_of(errors, values, "employment", EMPLOYMENTS)
    cert_no = values.get("qualification_cert_no")
    if cert_no is not None:
        problem = cert_error(cert_no)
        if problem:
            add(errors, "qualification_cert_no", problem)
        elif values.get("cert_level") is None:
            values["cert_level"] = cert_level(cert_no)
        elif values["cert_level"] != cert_level(cert_no):
            add(errors, "cert_level",
                f"the certificate number is of level {cert_level(cert_no)}")
