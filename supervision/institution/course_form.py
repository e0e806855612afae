"""新增课程 and 编辑课程: one course form, with what a compliance run would raise about the
course shown before saving (as the session form does for the timing rules). The warnings are
the course rules' own findings on the course as it would be (compliance.preview: the rules run
on it inside a savepoint that is rolled back), never a copy of a rule in this module. The write
is the registry's create_course or update_course, the services of the API's POST and PATCH."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..access.scope import policy_of
from ..compliance.model import Finding
from ..compliance.preview import preview_course
from ..errors import DomainError
from ..models import Course
from ..registry.courses import create_course, get_course, live_enrollments, update_course
from ..registry.institutions import venues_query
from ..web.request import db_session, request_work
from . import bp
from .forms import CourseForm
from .refusals import explain
from .signin import institution_actor

NO_VENUE = 0


def _course_form(course: Course | None = None) -> CourseForm:
    session, actor = db_session(), institution_actor()
    form = CourseForm(obj=course)
    if course is not None and not form.is_submitted():
        form.price_yuan.data = Decimal(course.price_per_class_hour_fen) / 100
        form.venue_id.data = course.venue_id or NO_VENUE
    form.subject.choices = [(code, str(info.get("name", code)))
                            for code, info in policy_of(session)["subjects"].items()]
    form.venue_id.choices = [(NO_VENUE, "（无，线上课程）")] + [
        (v.id, v.address) for v in session.scalars(venues_query(session, actor,
                                                               actor.institution_id or 0))]
    return form


def _page(form: CourseForm, *, course: Course | None = None, warnings: list[str] | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    enrolled = bool(course is not None and live_enrollments(db_session(), course.id))
    return render_template("institution/course_form.html", form=form, course=course,
                           enrolled=enrolled, warnings=warnings or [], refusal=refusal), status


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


def warning_text(finding: Finding) -> str:
    """A finding as the form shows it: the run's own Chinese wording, then the rule code."""
    return f"{finding.summary}（{finding.rule}）"


def _save(form: CourseForm, course: Course | None) -> Response | Any:
    if not form.validate():
        return _page(form, course=course, status=422)
    session, actor = db_session(), institution_actor()
    price = form.price_yuan.data
    if price is not None and price != price.quantize(Decimal("0.01")):
        form.price_yuan.errors = ["单价最多精确到分（两位小数）。"]
        return _page(form, course=course, status=422)
    data = _data(form)
    course_id = course.id if course is not None else None
    try:
        # Every check of the write, and the course rules on the result; nothing is kept.
        warnings = [warning_text(f) for f in preview_course(session, actor, data,
                                                            course_id=course_id)]
    except DomainError as error:
        return _page(form, course=course, refusal=explain(error), status=422)
    if warnings and not form.confirmed.data:
        # Saved only once the clerk has read what the compliance run would raise.
        return _page(form, course=course, warnings=warnings)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            if course_id is None:
                saved = create_course(session, actor, data)
            else:
                saved = update_course(session, actor, course_id, data)
    except DomainError as error:
        return _page(form, course=course, refusal=explain(error), status=422)
    flash(f"已{'新增' if course_id is None else '保存'}课程：{saved.name}。", "success")
    return redirect(url_for("institution.courses"))


@bp.get("/courses/new")
def new_course_page() -> Any:
    return _page(_course_form())


@bp.post("/courses")
def add_course() -> Response | Any:
    return _save(_course_form(), None)


@bp.get("/courses/<int:course_id>/edit")
def edit_course(course_id: int) -> Any:
    course = get_course(db_session(), institution_actor(), course_id)
    return _page(_course_form(course), course=course)


@bp.post("/courses/<int:course_id>")
def save_course(course_id: int) -> Response | Any:
    course = get_course(db_session(), institution_actor(), course_id)
    return _save(_course_form(), course)
