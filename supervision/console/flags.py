"""今日待办 (the flag queue) and the flag page with its actions (API.md §5).

The queue is compliance.workflow's flags_query (the same scoping and filters as
GET /api/v1/flags), and every action goes through its apply_action, so the state machine is
the one table TRANSITIONS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import Select
from werkzeug.wrappers import Response

from .. import clock, registry
from ..compliance import workflow
from ..compliance.flags import OUTSTANDING
from ..errors import Conflict, Invalid, NotFound
from ..models import Flag, Institution
from ..web.replica import replica_reads
from ..web.request import db_session, request_work
from . import bp, queries
from .evidence import describe_flag
from .forms import FlagActionForm, FlagFilterForm, options
from .labels import FLAG_ACTION, FLAG_STATUS, SEVERITY, SEVERITY_ORDER, district_name
from .paging import page_number, paginate
from .signin import console_actor

# "outstanding" (the default) is every status still waiting for someone; "all" is everything.
STATUS_CHOICES = [("outstanding", "待办（未办结）"), ("all", "全部状态")] + [
    (s, FLAG_STATUS[s]) for s in workflow.STATUSES]
SORTS = {
    "severity": "严重程度优先",
    "newest": "最近发现优先",
    "oldest": "最早发现优先",
    "due": "整改期限最近优先",
}
ACTION_STYLE = {"acknowledge": "primary", "order_rectification": "warning",
                "resolve": "success", "dismiss": "danger", "reopen": "secondary"}


def today_local() -> dt.date:
    return clock.today()


def _choices() -> dict[str, list[tuple[str, str]]]:
    actor = console_actor()
    districts = current_app.config["SUPERVISION"].policy["districts"]
    if actor.district_code:
        district = [(actor.district_code, district_name(actor.district_code))]
    else:
        district = [("", "全部辖区"), *districts.items()]
    return {"district": district,
            "severity": [("", "全部"), *((s, SEVERITY[s]) for s in SEVERITY_ORDER)],
            "rule": [("", "全部规则"), *queries.rule_choices()],
            "status": STATUS_CHOICES, "sort": list(SORTS.items())}


def _filter_form() -> FlagFilterForm:
    form = FlagFilterForm(request.args)
    for name, pairs in _choices().items():
        form[name].choices = options(pairs)
    if not form.status.data:
        form.status.data = "outstanding"
    if form.sort.data not in SORTS:
        form.sort.data = "severity"
    return form


def _known(value: str | None, pairs: list[tuple[str, str]]) -> str | None:
    return value if value and value in {code for code, _label in pairs} else None


def _institution_filter() -> Institution | None:
    """?institution=<id> (from an institution's page): one in scope, or a 404 like its page."""
    raw = request.args.get("institution")
    if not raw:
        return None
    try:
        key = int(raw)
    except ValueError:
        raise NotFound("institution") from None
    return registry.get_institution(db_session(), console_actor(), key)


def _queue_query(form: FlagFilterForm, institution: Institution | None, *,
                 with_severity: bool = True) -> Select[Any]:
    pairs = _choices()
    status = _known(form.status.data, STATUS_CHOICES)
    filters = workflow.FlagFilters(
        status=None if status in (None, "outstanding", "all") else status,
        severity=_known(form.severity.data, pairs["severity"]) if with_severity else None,
        rule=_known(form.rule.data, pairs["rule"]),
        district_code=_known(form.district.data, pairs["district"]),
        overdue=True if form.overdue.data else None,
        institution_id=institution.id if institution else None)
    stmt = workflow.flags_query(console_actor(), filters, today_local())
    if status in (None, "outstanding"):
        stmt = stmt.where(Flag.status.in_(OUTSTANDING))
    return _sorted(stmt, form.sort.data)


def _sorted(stmt: Select[Any], sort: str | None) -> Select[Any]:
    if sort == "newest":
        return stmt.order_by(None).order_by(Flag.last_detected_at.desc(), Flag.id.desc())
    if sort == "oldest":
        return stmt.order_by(None).order_by(Flag.first_detected_at, Flag.id)
    if sort == "due":
        return stmt.order_by(None).order_by(Flag.due_on.is_(None), Flag.due_on, Flag.id)
    return stmt  # flags_query's own order: most severe first, then most recently detected


@bp.get("/flags")
@replica_reads
def queue() -> str:
    form = _filter_form()
    session = db_session()
    institution = _institution_filter()
    page = paginate(session, _queue_query(form, institution),
                    page_number(request.args.get("page")))
    counts = queries.severity_counts(session,
                                     _queue_query(form, institution, with_severity=False))
    institutions = queries.institutions_by_id(session, {f.institution_id for f in page.items})
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("console/queue.html", form=form, page=page, counts=counts,
                           institutions=institutions, titles=queries.rule_titles(),
                           today=today_local(), args=args, inst_filter=institution,
                           is_overdue=workflow.is_overdue)


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _target) in workflow.TRANSITIONS.items()
            if status in sources]


def _render_flag(flag_id: int, form: FlagActionForm | None = None, *,
                 status: int = 200, failed_action: str | None = None) -> tuple[str, int]:
    session = db_session()
    flag = workflow.get_flag(session, console_actor(), flag_id)
    view = describe_flag(session, flag)
    forms = {}
    for action in allowed_actions(flag.status):
        forms[action] = (form if form is not None and action == failed_action
                         else FlagActionForm(formdata=None, action=action))
    return render_template(
        "console/flag.html", flag=flag, view=view, forms=forms,
        history=workflow.history(session, flag), action_labels=FLAG_ACTION,
        action_style=ACTION_STYLE, today=today_local(),
        overdue=workflow.is_overdue(flag, today_local())), status


@bp.get("/flags/<int:flag_id>")
def flag_page(flag_id: int) -> tuple[str, int]:
    return _render_flag(flag_id)


@bp.post("/flags/<int:flag_id>/actions")
def flag_action(flag_id: int) -> Response | tuple[str, int]:
    form = FlagActionForm()
    action = form.action.data
    if not form.validate():
        return _render_flag(flag_id, form, status=422, failed_action=action)
    session = db_session()
    try:
        # A refusal undoes only the savepoint: the page is re-rendered from the same session.
        with request_work().savepoint():
            workflow.apply_action(session, console_actor(), flag_id, action=action,
                                  note=form.note.data or None, due_on=form.due_on.data,
                                  today=today_local())
    except Conflict as exc:
        flash(f"无法执行“{FLAG_ACTION.get(action, action)}”：该问题的状态已变化（{exc.message}）。"
              "请查看最新状态后再操作。", "danger")
        return _render_flag(flag_id, status=409)
    except Invalid as exc:
        _attach_errors(form, exc)
        return _render_flag(flag_id, form, status=422, failed_action=action)
    flash(f"已{FLAG_ACTION.get(action, action)}。", "success")
    return redirect(url_for("console.flag_page", flag_id=flag_id))


FIELD_MESSAGES = {
    "due_on": {"order_rectification needs a due date": "责令整改须填写整改期限。",
               "the due date is in the past": "整改期限不能早于今天。"},
    "note": {"a dismissal must say why": "排除须填写理由。"},
}


def _attach_errors(form: FlagActionForm, exc: Invalid) -> None:
    for name, messages in (exc.errors or {"action": [exc.message]}).items():
        field = getattr(form, name, form.action)
        texts = [FIELD_MESSAGES.get(name, {}).get(m, m) for m in messages]
        field.errors = [*field.errors, *texts] if isinstance(field.errors, list) else texts
