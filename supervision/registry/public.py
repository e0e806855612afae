"""The public look-up (API.md §10, 一网): what anyone may read about an institution before
paying it, without a token.

These reads take no actor: anyone may make them, so there is no authority to decide. What they
may show is decided here instead, once: every value is picked column by column into the
dataclasses below, never a whole row, so that no ID number (full, hashed or masked), no parent,
no student, no contact and no internal note (status reasons, flag evidence, rectification
notes) can reach a public answer by a later column or a careless schema.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from .. import clock
from ..compliance.catalogue import CATALOGUE
from ..db import fits_bigint
from ..errors import NotFound
from ..models import ClassSession, Course, Flag, FlagEvent, Institution, Review, Teacher

RECENT_REVIEWS = 20
# 违规公示: a sanction stays on the public profile for a year after the regulator resolved it.
SANCTION_DAYS = 365


@dataclass
class PublicInstitution:
    id: int
    name: str
    uscc: str
    district_code: str
    address: str
    status: str
    subject_type: str
    online: bool
    rating: dict[str, Any]


@dataclass
class PublicInstitutionDetail(PublicInstitution):
    courses: list[dict[str, Any]] = field(default_factory=list)
    teachers: list[dict[str, Any]] = field(default_factory=list)
    recent_reviews: list[dict[str, Any]] = field(default_factory=list)
    sanctions: list[dict[str, Any]] = field(default_factory=list)


def institutions_query(session: Session, *, q: str | None = None,
                       district_code: str | None = None,
                       status: str | None = None) -> Select[Any]:
    """Every registered institution (the blacklist too: that is the point), by id. `q` is a
    part of the name or of the USCC (USCCs are upper case; a parent may type lower)."""
    stmt = select(Institution).order_by(Institution.id)
    if q:
        stmt = stmt.where(or_(Institution.name.contains(q, autoescape=True),
                              Institution.uscc.contains(q.upper(), autoescape=True)))
    if district_code is not None:
        stmt = stmt.where(Institution.district_code == district_code)
    if status is not None:
        stmt = stmt.where(Institution.status == status)
    return stmt


def public_institutions(session: Session,
                        institutions: list[Institution]) -> list[PublicInstitution]:
    """A page of the look-up: the institutions with their ratings, in one query."""
    ratings = _ratings(session, [x.id for x in institutions])
    return [PublicInstitution(**_summary(x), rating=ratings.get(x.id, _NO_RATING))
            for x in institutions]


def public_institution(session: Session, institution_id: int) -> PublicInstitutionDetail:
    institution = session.get(Institution, institution_id) if fits_bigint(institution_id) else None
    if institution is None:
        raise NotFound("institution")
    return PublicInstitutionDetail(
        **_summary(institution),
        rating=_ratings(session, [institution.id]).get(institution.id, _NO_RATING),
        courses=_courses(session, institution.id), teachers=_teachers(session, institution.id),
        recent_reviews=_recent_reviews(session, institution.id),
        sanctions=sanctions(session, institution.id, as_of=clock.now()))


_NO_RATING: dict[str, Any] = {"average": None, "count": 0}


def _summary(institution: Institution) -> dict[str, Any]:
    return {"id": institution.id, "name": institution.name, "uscc": institution.uscc,
            "district_code": institution.district_code, "address": institution.address,
            "status": institution.status, "subject_type": institution.category,
            "online": "online" in (institution.licensed_modes or [])}


def _ratings(session: Session, institution_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not institution_ids:
        return {}
    rows = session.execute(
        select(Review.institution_id, func.avg(Review.stars), func.count())
        .where(Review.institution_id.in_(institution_ids)).group_by(Review.institution_id))
    return {iid: {"average": round(float(avg), 2), "count": int(count)}
            for iid, avg, count in rows}


def _courses(session: Session, institution_id: int) -> list[dict[str, Any]]:
    """明码标价: every course with its price per class hour."""
    c = Course
    rows = session.execute(
        select(c.id, c.name, c.subject, c.grade_min, c.grade_max, c.price_per_class_hour_fen)
        .where(c.institution_id == institution_id).order_by(c.id))
    return [dict(row._mapping) for row in rows]


def _teachers(session: Session, institution_id: int) -> list[dict[str, Any]]:
    """Name, the subjects of the courses they teach, and whether they hold a teacher's
    qualification certificate (the number itself is not shown)."""
    subjects: dict[int, set[str]] = {}
    for teacher_id, subject in session.execute(
            select(ClassSession.teacher_id, Course.subject).distinct()
            .join(Course, Course.id == ClassSession.course_id)
            .where(ClassSession.institution_id == institution_id)):
        subjects.setdefault(teacher_id, set()).add(subject)
    rows = session.execute(
        select(Teacher.id, Teacher.name, Teacher.qualification_cert_no.is_not(None))
        .where(Teacher.institution_id == institution_id).order_by(Teacher.id))
    return [{"name": name, "subjects": sorted(subjects.get(teacher_id, ())),
             "certified": bool(certified)} for teacher_id, name, certified in rows]


def _recent_reviews(session: Session, institution_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Review.stars, Review.text, Review.created_at)
        .where(Review.institution_id == institution_id)
        .order_by(Review.created_at.desc(), Review.id.desc()).limit(RECENT_REVIEWS))
    return [{"stars": stars, "text": text, "at": at} for stars, text, at in rows]


def sanctions(session: Session, institution_id: int, *,
              as_of: dt.datetime) -> list[dict[str, Any]]:
    """违规公示: the institution's flags a regulator resolved after ordering rectification,
    resolved within SANCTION_DAYS before `as_of`, newest first. A flag resolved without an
    order (a false alarm, a matter settled on acknowledgement) is no sanction."""
    ordered = select(FlagEvent.flag_id).where(FlagEvent.action == "order_rectification")
    resolved = (select(FlagEvent.flag_id, func.max(FlagEvent.at).label("at"))
                .where(FlagEvent.action == "resolve").group_by(FlagEvent.flag_id).subquery())
    rows = session.execute(
        select(Flag.rule, resolved.c.at).join(resolved, resolved.c.flag_id == Flag.id)
        .where(Flag.institution_id == institution_id, Flag.status == "resolved",
               Flag.id.in_(ordered),
               resolved.c.at >= as_of - dt.timedelta(days=SANCTION_DAYS),
               resolved.c.at <= as_of)
        .order_by(resolved.c.at.desc(), Flag.id.desc()))
    return [{"rule": rule, "title": CATALOGUE[rule].title_zh if rule in CATALOGUE else rule,
             "at": at} for rule, at in rows]
