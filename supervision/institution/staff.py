"""从业人员: the teachers (ID numbers masked once entered), their certificate and background
status and the open problems a compliance run found about each; add, edit and mark as left
(离职) through the registry service the API calls (PATCH /teachers/{id})."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from .. import clock
from ..compliance.workflow import FlagFilters, flags_query
from ..errors import DomainError, Invalid
from ..models import Flag, Teacher
from ..registry.teachers import get_teacher, register_teacher, teachers_query, update_teacher
from ..vocab import OUTSTANDING_FLAG_STATUSES
from ..web.request import db_session, request_work
from ..wording import zh_date
from . import bp, labels
from .forms import LeaveForm, TeacherForm
from .refusals import explain, phrase
from .signin import institution_actor


def _flags_by_teacher() -> dict[str, list[Flag]]:
    session, actor = db_session(), institution_actor()
    found: dict[str, list[Flag]] = defaultdict(list)
    stmt = flags_query(actor, FlagFilters(institution_id=actor.institution_id), clock.today())
    for flag in session.scalars(stmt.where(Flag.subject_type == "teacher",
                                           Flag.status.in_(OUTSTANDING_FLAG_STATUSES))):
        found[flag.subject_id].append(flag)
    return found


def _page(form: TeacherForm, *, editing: Teacher | None = None, refusal: str | None = None,
          status: int = 200) -> Any:
    session, actor = db_session(), institution_actor()
    teachers = list(session.scalars(teachers_query(session, actor)))
    leave_form = LeaveForm(formdata=None, data={"left_on": clock.today()})
    return render_template("institution/teachers.html", teachers=teachers, form=form,
                           editing=editing, refusal=refusal, flags=_flags_by_teacher(),
                           leave_form=leave_form, labels=labels), status


@bp.get("/teachers")
def teachers() -> Any:
    return _page(TeacherForm())


def _values(form: TeacherForm, *, new: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": form.name.data,
        "qualification_cert_no": form.qualification_cert_no.data or None,
        "cert_subject": form.cert_subject.data or None,
        "is_inservice_school_teacher": bool(form.is_inservice_school_teacher.data),
        "background_check_status": form.background_check_status.data,
        "background_checked_on": form.background_checked_on.data,
        "employment": form.employment.data,
        "hired_on": form.hired_on.data,
    }
    if new or form.id_number.data:  # on an edit, an empty ID number keeps the one on file
        values["id_number"] = form.id_number.data or None
    return values


def _save(form: TeacherForm, editing: Teacher | None) -> Response | Any:
    if not form.validate():
        return _page(form, editing=editing, status=422)
    session, actor = db_session(), institution_actor()
    try:
        with request_work().savepoint():  # a refusal writes nothing
            if editing is None:
                teacher = register_teacher(session, actor, _values(form, new=True))
            else:
                teacher = update_teacher(session, actor, editing.id, _values(form, new=False))
    except Invalid as error:
        # Each refused field under its input, in Chinese; the rest as one line above the form.
        for name, messages in error.errors.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [phrase(m) or m for m in messages]
        return _page(form, editing=editing, refusal=explain(error), status=422)
    flash(f"已保存教师 {teacher.name}（身份证号 {teacher.id_number_masked}）。", "success")
    return redirect(url_for("institution.teachers"))


@bp.post("/teachers")
def add_teacher() -> Response | Any:
    return _save(TeacherForm(), None)


@bp.get("/teachers/<int:teacher_id>")
def edit_teacher(teacher_id: int) -> Any:
    teacher = get_teacher(db_session(), institution_actor(), teacher_id)
    form = TeacherForm(obj=teacher)
    form.id_number.data = ""  # never shown again: the page holds only the mask
    return _page(form, editing=teacher)


@bp.post("/teachers/<int:teacher_id>")
def save_teacher(teacher_id: int) -> Response | Any:
    teacher = get_teacher(db_session(), institution_actor(), teacher_id)
    return _save(TeacherForm(), teacher)


@bp.post("/teachers/<int:teacher_id>/leave")
def mark_left(teacher_id: int) -> Response | Any:
    session, actor = db_session(), institution_actor()
    teacher = get_teacher(session, actor, teacher_id)
    form = LeaveForm()
    if not form.validate():
        return _page(TeacherForm(formdata=None), refusal="请填写离职日期。", status=422)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            update_teacher(session, actor, teacher.id, {"left_on": form.left_on.data})
    except DomainError as error:
        return _page(TeacherForm(formdata=None), refusal=explain(error), status=422)
    flash(f"已登记 {teacher.name} 离职（{zh_date(form.left_on.data)}），"
          "此后不能再为其排课。", "success")
    return redirect(url_for("institution.teachers"))
