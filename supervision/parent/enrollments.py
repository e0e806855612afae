"""我的报名 and one enrollment: the six buckets, the timeline, and what the state allows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import clock
from ..db import BIGINT_MAX
from ..errors import NotFound, RuleViolation
from ..escrow.consumption import confirm_consumption, dispute_consumption
from ..escrow.queries import escrow_status
from ..escrow.refunds import request_refund
from ..web.replica import replica_reads
from ..web.request import db_session, request_work
from ..wording import yuan, zh_date
from . import bp, labels, queries
from .forms import ActionForm, DisputeForm, RefundForm
from .signin import parent_actor


@bp.get("/enrollments")
@replica_reads
def enrollments() -> str:
    rows = queries.my_enrollments(db_session(), parent_actor())
    return render_template("parent/enrollments.html", rows=rows, labels=labels)


def _row(enrollment_id: int) -> queries.EnrollmentRow:
    rows = queries.my_enrollments(db_session(), parent_actor(), enrollment_id=enrollment_id)
    if not rows:
        raise NotFound("enrollment")  # another family's enrollment reads as no enrollment
    return rows[0]


def render_enrollment(enrollment_id: int, *, status: int = 200, **forms: Any) -> Any:
    session, actor = db_session(), parent_actor()
    row = _row(enrollment_id)
    before = _movements_before()
    money = escrow_status(session, actor, enrollment_id, movements_before=before)
    consumptions = queries.consumptions_of(session, actor, enrollment_id)
    context = dict(
        row=row, e=row.enrollment, money=money, labels=labels, movements_before=before,
        consumptions=consumptions, refunds=queries.refunds_of(session, actor, enrollment_id),
        timeline=list(reversed(queries.with_class_dates(money.movements, consumptions))),
        action_form=ActionForm(), dispute_form=forms.get("dispute_form") or DisputeForm(),
        refund_form=forms.get("refund_form") or RefundForm(),
        sandbox=sandbox_available(), feedback=feedback_context(enrollment_id),
    )
    return render_template("parent/enrollment.html", **context), status


def _movements_before() -> int | None:
    """资金流水 a page at a time, newest first: ?movements_before= is the API's cursor. A
    cursor that is not one (edited by hand) reads as a page that does not exist."""
    raw = request.args.get("movements_before")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= BIGINT_MAX:
        raise NotFound("page")
    return int(raw)


def feedback_context(enrollment_id: int) -> dict[str, Any]:
    from .feedback import feedback_context as build  # feedback imports this module

    return build(enrollment_id)


def sandbox_available() -> bool:
    """The one-button payment is for the demo only: never in production, and only when a
    trustee (the sandbox) is configured to take it."""
    from flask import current_app

    settings = current_app.config["SUPERVISION"]
    return not settings.production and bool(settings.trustee_api_url.strip())


@bp.get("/enrollments/<int:enrollment_id>")
@replica_reads
def enrollment(enrollment_id: int) -> Any:
    return render_enrollment(enrollment_id)


@bp.post("/consumptions/<int:consumption_id>/confirm")
def confirm(consumption_id: int) -> Response:
    ActionForm()  # CSRF checked before the view
    c = confirm_consumption(db_session(), parent_actor(), consumption_id, as_of=clock.now())
    flash(f"已确认本次课消（{c.class_hours} 课时，{yuan(c.amount_fen)}）。", "success")
    return redirect(url_for("parent.enrollment", enrollment_id=c.enrollment_id))


@bp.post("/consumptions/<int:consumption_id>/dispute")
def dispute(consumption_id: int) -> Any:
    form = DisputeForm()
    session, actor = db_session(), parent_actor()
    if not form.validate():
        # Which enrollment: read through the parent's own consumptions (404 for another's).
        enrollment_id = queries.enrollment_of_consumption(session, actor, consumption_id)
        return render_enrollment(enrollment_id, status=422, dispute_form=form)
    c = dispute_consumption(session, actor, consumption_id, reason=form.reason.data or "",
                            as_of=clock.now())
    flash("已提交异议：这笔钱继续留在监管账户，监管部门会跟进处理。", "warning")
    return redirect(url_for("parent.enrollment", enrollment_id=c.enrollment_id))


def _fen(amount: Decimal | None) -> int | None:
    return None if amount is None else int((amount * 100).to_integral_value())


@bp.post("/enrollments/<int:enrollment_id>/refunds")
def refund(enrollment_id: int) -> Any:
    form = RefundForm()
    session, actor = db_session(), parent_actor()
    _row(enrollment_id)  # 404 before anything else for another family's enrollment
    if not form.validate():
        return render_enrollment(enrollment_id, status=422, refund_form=form)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            r = request_refund(session, actor, enrollment_id, reason=form.reason.data or "",
                               amount_fen=_fen(form.amount.data), as_of=clock.now())
    except RuleViolation:
        refundable = escrow_status(session, actor, enrollment_id,
                                   movements_limit=0).refundable_fen
        form.amount.errors = [
            f"目前可退金额为 {yuan(refundable)}，申请金额不能超过它。" if refundable
            else "目前没有可退的金额（未付款、已上完或已在退费中）。"]
        return render_enrollment(enrollment_id, status=422, refund_form=form)
    flash(f"退费申请已提交：{yuan(r.amount_fen)} 已为您冻结，上课不能再扣这笔钱。机构须在 "
          f"{zh_date(r.auto_approve_at)} 前处理，逾期自动批准。", "success")
    return redirect(url_for("parent.enrollment", enrollment_id=enrollment_id))
