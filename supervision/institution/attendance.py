"""考勤: a session's roster (the course's active enrollments with hours left), tick who
attended, record it through escrow's record_attendance: all or nothing, refusals in Chinese."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import clock
from ..errors import DomainError, NotFound
from ..escrow.consumption import default_hours, record_attendance
from ..escrow.enrollments import enrollments_query
from ..models import ClassSession, Course
from ..models.escrow import Consumption, Enrollment
from ..registry.courses import get_course
from ..web.request import db_session, request_work
from . import bp, labels
from .forms import AttendanceForm
from .refusals import explain
from .signin import institution_actor


def _roster(cls: ClassSession) -> tuple[list[Enrollment], set[int]]:
    """The course's active enrollments (escrow's scoped query, as the API lists them), and
    those already recorded for this session."""
    session = db_session()
    enrollments = list(session.scalars(enrollments_query(
        session, institution_actor(), course_id=cls.course_id, status="active")))
    enrollments.sort(key=lambda e: (e.student_name, e.id))
    recorded = set(session.scalars(select(Consumption.enrollment_id)
                                   .where(Consumption.session_id == cls.id)))
    return enrollments, recorded


def _page(session_id: int, form: AttendanceForm, *, ticked: set[int] | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    from .schedule import own_session  # schedule imports the forms this module shares

    cls = own_session(session_id)
    course: Course = get_course(db_session(), institution_actor(), cls.course_id)
    enrollments, recorded = _roster(cls)
    return render_template(
        "institution/attendance.html", cls=cls, course=course, enrollments=enrollments,
        recorded=recorded, form=form, ticked=ticked or set(), refusal=refusal,
        started=cls.starts_at <= clock.now(), hours=default_hours(cls, course),
        labels=labels), status


@bp.get("/sessions/<int:session_id>/attendance")
def roster(session_id: int) -> Any:
    return _page(session_id, AttendanceForm())


@bp.post("/sessions/<int:session_id>/attendance")
def record(session_id: int) -> Response | Any:
    form = AttendanceForm()
    ticked = [int(v) for v in request.form.getlist("enrollment_id") if v.isdigit()]
    if not form.validate():
        return _page(session_id, form, ticked=set(ticked), status=422)
    if not ticked:
        return _page(session_id, form, refusal="请勾选到课的学生。", status=422)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            done = record_attendance(db_session(), institution_actor(), session_id=session_id,
                                     enrollment_ids=ticked, class_hours=form.class_hours.data,
                                     as_of=clock.now())
    except DomainError as error:
        if isinstance(error, NotFound):  # another institution's session: a 404
            raise
        return _page(session_id, form, ticked=set(ticked), refusal=explain(error), status=422)
    flash(f"已记录 {len(done)} 名学生的考勤，每人 {done[0].class_hours} 课时，"
          "待家长确认（15 个工作日不答复视为确认）。", "success")
    return redirect(url_for("institution.roster", session_id=session_id))
