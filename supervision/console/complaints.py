"""投诉与举报: the regulator's complaints queue and tips queue (API.md §11).

The same services as the API (supervision/complaints/): they scope (a district regulator sees
its district only), decide who may act and move the states; the pages only present and
translate. Every refusal re-renders the page with the service's reason, nothing written.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import clock, complaints
from ..errors import Conflict, Invalid
from ..models.complaints import COMPLAINT_CATEGORIES, COMPLAINT_STATUSES, TIP_STATUSES
from ..web.replica import replica_reads
from ..web.request import db_session, request_work
from . import bp, queries
from .forms import ComplaintCloseForm, TipActionForm
from .paging import page_number, paginate
from .signin import console_actor

COMPLAINT_STATUS = {"submitted": "待机构答复", "responded": "机构已答复", "closed": "已办结"}
COMPLAINT_CATEGORY = {"refund": "退费", "fees": "收费", "teaching": "教学质量",
                      "safety": "安全", "other": "其他"}
COMPLAINT_OUTCOME = {"upheld": "投诉成立", "rejected": "投诉不成立", "mediated": "调解解决"}
TIP_STATUS = {"submitted": "待核查", "investigating": "核查中", "closed": "已办结"}
TIP_OUTCOME = {"confirmed": "情况属实", "unfounded": "查无实据"}
TIP_ACTION = {"investigate": "开始核查", "close": "办结"}
# What each status of a tip may do next (the service's table decides; this only offers).
TIP_NEXT = {"submitted": ("investigate",), "investigating": ("close",), "closed": ()}
LABELS = {"complaint_status": COMPLAINT_STATUS, "category": COMPLAINT_CATEGORY,
          "outcome": COMPLAINT_OUTCOME, "tip_status": TIP_STATUS, "tip_outcome": TIP_OUTCOME,
          "tip_action": TIP_ACTION}
FIELD_NAMES = {"outcome": "处理结果", "note": "处理意见", "action": "操作",
               "institution_id": "涉及机构"}


def _status_arg(statuses: tuple[str, ...]) -> str | None:
    value = request.args.get("status")
    return value if value in statuses else None


@bp.get("/complaints")
@replica_reads
def complaints_queue() -> str:
    session, actor = db_session(), console_actor()
    status = _status_arg(COMPLAINT_STATUSES)
    category = request.args.get("category")
    category = category if category in COMPLAINT_CATEGORIES else None
    page = paginate(session, complaints.complaints_query(session, actor, status=status,
                                                         category=category),
                    page_number(request.args.get("page")))
    institutions = queries.institutions_by_id(session, {c.institution_id for c in page.items})
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("console/complaints.html", page=page, institutions=institutions,
                           status=status, category=category, args=args, labels=LABELS,
                           today=clock.today())


def _render_complaint(complaint_id: int, form: ComplaintCloseForm | None = None, *,
                      status: int = 200) -> tuple[str, int]:
    session = db_session()
    complaint = complaints.get_complaint(session, console_actor(), complaint_id)
    institution = queries.institutions_by_id(session, {complaint.institution_id})
    return render_template(
        "console/complaint.html", complaint=complaint,
        institution=institution.get(complaint.institution_id), labels=LABELS,
        form=form or ComplaintCloseForm(formdata=None), today=clock.today()), status


@bp.get("/complaints/<int:complaint_id>")
def complaint_page(complaint_id: int) -> tuple[str, int]:
    return _render_complaint(complaint_id)


@bp.post("/complaints/<int:complaint_id>/close")
def complaint_close(complaint_id: int) -> Response | tuple[str, int]:
    form = ComplaintCloseForm()
    if not form.validate():
        return _render_complaint(complaint_id, form, status=422)
    refusal = _attempt(form, lambda: complaints.close_complaint(
        db_session(), console_actor(), complaint_id, outcome=form.outcome.data,
        note=form.note.data or None, as_of=clock.now()))
    if refusal is not None:
        return _render_complaint(complaint_id, form if refusal == 422 else None,
                                 status=refusal)
    flash(f"投诉已办结：{COMPLAINT_OUTCOME[form.outcome.data]}。", "success")
    return redirect(url_for("console.complaint_page", complaint_id=complaint_id))


@bp.get("/tips")
@replica_reads
def tips_queue() -> str:
    session, actor = db_session(), console_actor()
    status = _status_arg(TIP_STATUSES)
    page = paginate(session, complaints.tips_query(session, actor, status=status),
                    page_number(request.args.get("page")))
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("console/tips.html", page=page, status=status, args=args,
                           labels=LABELS)


def _render_tip(tip_id: int, form: TipActionForm | None = None, *,
                status: int = 200) -> tuple[str, int]:
    session = db_session()
    tip = complaints.get_tip(session, console_actor(), tip_id)
    institution = (queries.institutions_by_id(session, {tip.institution_id})
                   .get(tip.institution_id) if tip.institution_id else None)
    forms = {action: form if form is not None and form.action.data == action
             else TipActionForm(formdata=None, action=action)
             for action in TIP_NEXT.get(tip.status, ())}
    return render_template("console/tip.html", tip=tip, institution=institution,
                           forms=forms, labels=LABELS), status


@bp.get("/tips/<int:tip_id>")
def tip_page(tip_id: int) -> tuple[str, int]:
    return _render_tip(tip_id)


@bp.post("/tips/<int:tip_id>/actions")
def tip_action(tip_id: int) -> Response | tuple[str, int]:
    form = TipActionForm()
    if not form.validate():
        return _render_tip(tip_id, form, status=422)
    action = form.action.data
    refusal = _attempt(form, lambda: complaints.act_on_tip(
        db_session(), console_actor(), tip_id, action=action,
        outcome=form.outcome.data or None if action == "close" else None,
        note=form.note.data or None, institution_id=form.institution_id.data,
        as_of=clock.now()))
    if refusal is not None:
        return _render_tip(tip_id, form if refusal == 422 else None, status=refusal)
    flash(f"举报已{TIP_ACTION[action]}。", "success")
    return redirect(url_for("console.tip_page", tip_id=tip_id))


def _attempt(form: Any, act: Any) -> int | None:
    """Run the service in a savepoint: a refusal undoes only it, and the page is rendered
    again from the same session. Returns the status of the refusal, None when done."""
    try:
        with request_work().savepoint():
            act()
    except Conflict as exc:
        flash(f"无法执行：状态已变化（{exc.message}）。请查看最新状态后再操作。", "danger")
        return 409
    except Invalid as exc:
        for name, messages in (exc.errors or {"_": [exc.message]}).items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, *messages]
            else:
                flash(f"{FIELD_NAMES.get(name, name)}：{'；'.join(messages)}", "danger")
        return 422
    return None

