"""待办: the regulator's flags about the institution with their orders and deadlines (answered
with a rectification note through compliance.workflow.respond) and the complaints to answer
(complaints.respond_to_complaint): the services the API calls."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from .. import clock
from ..complaints.complaints import complaints_query, respond_to_complaint
from ..compliance.workflow import FlagFilters, flags_query, get_flag, is_overdue, respond
from ..errors import DomainError, NotFound
from ..models import Flag
from ..vocab import OUTSTANDING_FLAG_STATUSES
from ..web.request import db_session, request_work
from . import bp, labels
from .forms import RespondForm
from .refusals import explain
from .signin import institution_actor


def _page(*, form: RespondForm | None = None, form_for: str | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    session, actor = db_session(), institution_actor()
    today = clock.today()
    flags = list(session.scalars(flags_query(actor, FlagFilters(), today)
                                 .where(Flag.status.in_(OUTSTANDING_FLAG_STATUSES))))
    complaints = [c for c in session.scalars(complaints_query(session, actor))
                  if c.status != "closed"]
    return render_template(
        "institution/todo.html", flags=flags, complaints=complaints, today=today,
        overdue=lambda f: is_overdue(f, today), blank=RespondForm(), form=form,
        form_for=form_for, refusal=refusal, labels=labels), status


@bp.get("/todo")
def todo() -> Any:
    return _page()


def _answer(form_for: str, work: Any) -> Response | Any:
    form = RespondForm()
    if not form.validate():
        return _page(form=form, form_for=form_for, status=422)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            work(form.note.data or "")
    except NotFound:
        raise  # another institution's flag or complaint: a 404
    except DomainError as error:
        return _page(form=form, form_for=form_for, refusal=explain(error), status=422)
    return redirect(url_for("institution.todo"))


@bp.post("/flags/<int:flag_id>/respond")
def respond_flag(flag_id: int) -> Response | Any:
    session, actor = db_session(), institution_actor()
    get_flag(session, actor, flag_id)  # 404 before the form for another's flag

    def work(note: str) -> None:
        respond(session, actor, flag_id, note=note)
        flash("整改情况已提交，等待监管部门复核。", "success")
    return _answer(f"flag-{flag_id}", work)


@bp.post("/complaints/<int:complaint_id>/respond")
def respond_complaint(complaint_id: int) -> Response | Any:
    session, actor = db_session(), institution_actor()

    def work(note: str) -> None:
        respond_to_complaint(session, actor, complaint_id, text=note, as_of=clock.now())
        flash("已回复投诉，家长和监管部门均可看到。", "success")
    return _answer(f"complaint-{complaint_id}", work)
