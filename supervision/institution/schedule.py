"""课程与排课: the courses with the guide-price ceiling beside each price, a week of sessions,
adding a session (with the timing rules the engine would raise shown before saving) and
cancelling one. Every write is the registry service the API calls."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import clock
from ..access.scope import get_in_scope, policy_of
from ..compliance.rules.prices import price_ceiling
from ..compliance.rules.timing import judged_course, proposed_session_codes
from ..errors import DomainError, NotFound
from ..models import ClassSession, Course
from ..registry.courses import (
    cancel_session,
    courses_query,
    get_course,
    schedule_sessions,
    sessions_query,
)
from ..registry.teachers import teachers_query
from ..web.request import db_session, request_work
from . import bp, labels
from .forms import ActionForm, SessionForm
from .refusals import RULES, explain
from .signin import institution_actor


def own_session(session_id: int) -> ClassSession:
    """One of the institution's sessions; another's reads as none (a 404)."""
    return get_in_scope(db_session(), institution_actor(), ClassSession, session_id)


def guide_ceiling_fen(course: Course) -> int | None:
    """The PRICE_ABOVE_GUIDE ceiling in whole fen (the rule's own price_ceiling, rounded down
    as its finding words it), or None where the rule does not judge the course."""
    policy = policy_of(db_session())
    if not judged_course(policy, course):
        return None
    return math.floor(price_ceiling(policy["prices"], course.mode, course.class_size,
                                    course.minutes_per_class_hour))


@bp.get("/courses")
def courses() -> str:
    session, actor = db_session(), institution_actor()
    rows = [(c, guide_ceiling_fen(c)) for c in session.scalars(courses_query(session, actor))]
    return render_template("institution/courses.html", rows=rows, labels=labels)


def _monday(raw: str | None) -> dt.date:
    try:
        day = dt.date.fromisoformat(raw) if raw else clock.today()
    except ValueError:
        day = clock.today()
    return day - dt.timedelta(days=day.weekday())


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(clock.SHANGHAI)


def _session_form() -> SessionForm:
    session, actor = db_session(), institution_actor()
    form = SessionForm()
    form.course_id.choices = [(c.id, c.name) for c in session.scalars(courses_query(session,
                                                                                    actor))]
    # A teacher who left (离职) is not offered: the service refuses sessions after the day.
    form.teacher_id.choices = [(t.id, t.name) for t in session.scalars(teachers_query(session,
                                                                                      actor))
                               if t.left_on is None]
    return form


def _week(monday: dt.date, form: SessionForm, *, warnings: list[str] | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    session, actor = db_session(), institution_actor()
    start = dt.datetime.combine(monday, dt.time(), clock.SHANGHAI)
    rows = list(session.scalars(sessions_query(session, actor, starts_from=start,
                                               starts_before=start + dt.timedelta(days=7))))
    courses_by_id = {c.id: c for c in session.scalars(courses_query(session, actor))}
    teachers = {t.id: t for t in session.scalars(teachers_query(session, actor))}
    days: list[tuple[dt.date, list[ClassSession]]] = [
        (monday + dt.timedelta(days=n), []) for n in range(7)]
    for row in rows:
        days[(_local(row.starts_at).date() - monday).days][1].append(row)
    return render_template(
        "institution/week.html", monday=monday, days=days, courses=courses_by_id,
        teachers=teachers, form=form, action_form=ActionForm(), warnings=warnings or [],
        refusal=refusal, now=clock.now(), local=_local, labels=labels,
        prev_week=monday - dt.timedelta(days=7), next_week=monday + dt.timedelta(days=7)), \
        status


@bp.get("/week")
def week() -> Any:
    return _week(_monday(request.args.get("week")), _session_form())


@bp.post("/sessions")
def add_session() -> Response | Any:
    form = _session_form()
    if not form.validate():
        return _week(_monday(request.form.get("week")), form, status=422)
    session, actor = db_session(), institution_actor()
    assert form.starts_at.data is not None and form.ends_at.data is not None  # DataRequired
    starts = form.starts_at.data.replace(tzinfo=clock.SHANGHAI)
    ends = form.ends_at.data.replace(tzinfo=clock.SHANGHAI)
    monday = _monday(starts.date().isoformat())
    try:
        course: Course = get_course(session, actor, form.course_id.data or 0)
    except NotFound:
        form.course_id.errors = ["请选择本机构的课程。"]
        return _week(monday, form, status=422)
    codes = proposed_session_codes(session, policy_of(session), course, starts, ends)
    if codes and not form.confirmed.data:
        # Saved only once the clerk has read what the compliance run would raise.
        return _week(monday, form, warnings=[f"{RULES.get(c, c)}（{c}）" for c in codes],
                     status=200)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            schedule_sessions(session, actor, course.id, [{
                "starts_at": starts, "ends_at": ends, "teacher_id": form.teacher_id.data}])
    except DomainError as error:
        return _week(monday, form, refusal=explain(error), status=422)
    flash(f"已排课：{course.name}，{starts:%m月%d日 %H:%M}–{ends:%H:%M}。", "success")
    return redirect(url_for("institution.week", week=monday.isoformat()))


@bp.post("/sessions/<int:session_id>/cancel")
def cancel(session_id: int) -> Response:
    ActionForm()  # CSRF checked before the view
    cls = cancel_session(db_session(), institution_actor(), session_id)
    flash("已取消该课次。", "info")
    return redirect(url_for("institution.week",
                            week=_monday(_local(cls.starts_at).date().isoformat()).isoformat()))
