"""新增课程: the course form, with the price and category rules the engine would raise shown
before saving (as the session form does for the timing rules). The write is the registry's
create_course, the service the API's POST /courses calls."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..access.scope import policy_of
from ..compliance.catalogue import parameter_value
from ..errors import DomainError
from ..models import Course
from ..registry.courses import create_course, new_course
from ..registry.institutions import venues_query
from ..web.request import db_session, request_work
from ..wording import yuan
from . import bp
from .forms import CourseForm
from .refusals import RULES, explain
from .schedule import guide_ceiling_fen
from .signin import institution_actor

NO_VENUE = 0


def _course_form() -> CourseForm:
    session, actor = db_session(), institution_actor()
    form = CourseForm()
    form.subject.choices = [(code, str(info.get("name", code)))
                            for code, info in policy_of(session)["subjects"].items()]
    form.venue_id.choices = [(NO_VENUE, "（无，线上课程）")] + [
        (v.id, v.address) for v in session.scalars(venues_query(session, actor,
                                                               actor.institution_id or 0))]
    return form


def _page(form: CourseForm, *, warnings: list[str] | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    return render_template("institution/course_form.html", form=form,
                           warnings=warnings or [], refusal=refusal), status


def _data(form: CourseForm) -> dict[str, Any]:
    assert form.price_yuan.data is not None  # InputRequired
    return {
        "name": form.name.data, "subject": form.subject.data, "category": form.category.data,
        "grade_min": form.grade_min.data, "grade_max": form.grade_max.data,
        "mode": form.mode.data, "class_size": form.class_size.data,
        "minutes_per_class_hour": form.minutes_per_class_hour.data,
        # Two decimals at most (DecimalField places=2 only rounds for display): exact fen.
        "price_per_class_hour_fen": int(form.price_yuan.data * 100),
        "venue_id": form.venue_id.data or None,
    }


def disguised_keywords(policy: Mapping[str, Any], course: Course) -> list[str] | None:
    """DISGUISED_SUBJECT on one unsaved course, read as the rule's SQL reads it (subjects.py
    has no row-level predicate): a non-subject course within the rules' grades whose subject
    is subject-type ([] then) or whose name holds a keyword (those keywords); None if clear."""
    if course.category != "non_subject" \
            or course.grade_min > parameter_value(policy, "subject_rules_grade_max") \
            or course.grade_max < parameter_value(policy, "subject_rules_grade_min"):
        return None
    hits = [str(k) for k in parameter_value(policy, "disguised_subject_keywords")
            if str(k) in course.name]
    if policy["subjects"].get(course.subject, {}).get("subject_type"):
        return hits
    return hits or None


def course_warnings(course: Course) -> list[str]:
    """What a compliance run would raise for this course once saved, in Chinese."""
    policy = policy_of(db_session())
    out = []
    ceiling = guide_ceiling_fen(course)
    if ceiling is not None and course.price_per_class_hour_fen > ceiling:
        out.append(f"{RULES['PRICE_ABOVE_GUIDE']}每课时{yuan(course.price_per_class_hour_fen)}，"
                   f"上限{yuan(ceiling)}（PRICE_ABOVE_GUIDE）")
    hits = disguised_keywords(policy, course)
    if hits is not None:
        why = f"课程名称含学科类关键词（{'、'.join(hits)}）" if hits else "科目为学科类科目"
        out.append(f"{RULES['DISGUISED_SUBJECT']}{why}（DISGUISED_SUBJECT）")
    return out


@bp.get("/courses/new")
def new_course_page() -> Any:
    return _page(_course_form())


@bp.post("/courses")
def add_course() -> Response | Any:
    form = _course_form()
    if not form.validate():
        return _page(form, status=422)
    session, actor = db_session(), institution_actor()
    price = form.price_yuan.data
    if price is not None and price != price.quantize(Decimal("0.01")):
        form.price_yuan.errors = ["单价最多精确到分（两位小数）。"]
        return _page(form, status=422)
    data = _data(form)
    try:
        # Every check of create_course, on a course not added to the session.
        unsaved = new_course(session, actor.institution_id or 0, data)
    except DomainError as error:
        return _page(form, refusal=explain(error), status=422)
    warnings = course_warnings(unsaved)
    if warnings and not form.confirmed.data:
        # Saved only once the clerk has read what the compliance run would raise.
        return _page(form, warnings=warnings)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            course = create_course(session, actor, data)
    except DomainError as error:
        return _page(form, refusal=explain(error), status=422)
    flash(f"已新增课程：{course.name}。", "success")
    return redirect(url_for("institution.courses"))
