"""选课/购课: enroll in a course found on the public look-up, then pay into the trust account.

The pre-payment caps of RULES.md §3 are the service's to enforce; a refusal is explained here
in the parent's words, with the numbers that apply to their child.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response

from .. import outbound
from ..access.scope import Actor, policy_of
from ..errors import RuleViolation
from ..escrow.enrollments import create_enrollment, unconsumed_hours
from ..models import Course, Institution
from ..registry.courses import get_course
from ..web.replica import replica_reads
from ..web.request import after_commit, db_session, request_work
from ..wording import yuan
from . import bp
from .enrollments import _row, sandbox_available
from .forms import ActionForm, EnrollForm
from .labels import INSTITUTION_STATUS
from .signin import parent_actor

log = logging.getLogger(__name__)
SANDBOX_TIMEOUT = (3.05, 10.0)  # connect, read: the sandbox answers once our server took it


def _course(course_id: int, actor: Actor) -> tuple[Course, Institution]:
    session = db_session()
    course = get_course(session, actor, course_id)
    institution = session.get(Institution, course.institution_id)
    assert institution is not None  # FK
    return course, institution


def explain(session: Session, actor: Actor, error: RuleViolation, course: Course,
            institution: Institution, student_name: str, hours: int) -> str:
    """Why the enrollment was refused, in the parent's words and numbers."""
    rules = policy_of(session)["rules"]
    max_hours, max_fen = int(rules["prepay_max_class_hours"]), int(rules["prepay_max_amount_fen"])
    cap = (f"按规定，校外培训一次预收费最多 {max_hours} 课时（同一学科未上完的课时合并计算），"
           f"且不超过 {yuan(max_fen)}，以免机构关门时家长损失过大。")
    if error.rule == "PREPAY_OVER_AMOUNT":
        most = max_fen // course.price_per_class_hour_fen
        return (f"{cap}本次 {hours} 课时 × {yuan(course.price_per_class_hour_fen)} = "
                f"{yuan(hours * course.price_per_class_hour_fen)}，超过了金额上限；"
                f"本课程一次最多可购买 {most} 课时。")
    if error.rule == "PREPAY_OVER_HOURS":
        if hours > max_hours:
            return f"{cap}您选择了 {hours} 课时，请减少到 {max_hours} 课时以内。"
        left = unconsumed_hours(session, parent_id=actor.parent_id or 0,
                                student_name=student_name,
                                institution_id=institution.id, subject=course.subject)
        return (f"{cap}{student_name}在本机构同一学科还有 {left} 课时没有上完，"
                f"再买 {hours} 课时就超过 {max_hours} 课时；本次最多还能买 "
                f"{max(0, max_hours - left)} 课时。")
    if error.rule == "INSTITUTION_NOT_ACTIVE":
        return (f"该机构目前处于“{INSTITUTION_STATUS.get(institution.status, institution.status)}”"
                "状态，不能报名缴费。")
    return "报名未能办理，请核对填写的内容。"


def _render(course: Course, institution: Institution, form: EnrollForm, status: int = 200,
            refusal: str | None = None) -> Any:
    rules = policy_of(db_session())["rules"]
    return render_template("parent/enroll.html", course=course, institution=institution,
                           form=form, refusal=refusal,
                           max_hours=int(rules["prepay_max_class_hours"]),
                           max_fen=int(rules["prepay_max_amount_fen"])), status


@bp.route("/courses/<int:course_id>/enroll", methods=["GET", "POST"])
@replica_reads
def enroll(course_id: int) -> Any:
    session, actor = db_session(), parent_actor()
    course, institution = _course(course_id, actor)
    form = EnrollForm()
    if not form.validate_on_submit():
        return _render(course, institution, form, 422 if form.is_submitted() else 200)
    student, hours = form.student_name.data or "", int(form.class_hours.data or 0)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            enrollment = create_enrollment(session, actor, course_id=course.id,
                                           student_name=student,
                                           student_grade=int(form.student_grade.data or 0),
                                           class_hours=hours)
    except RuleViolation as error:
        return _render(course, institution, form, 422,
                       explain(session, actor, error, course, institution, student, hours))
    flash(f"报名成功：请按下方付款参考号支付 {yuan(enrollment.amount_fen)} 到监管账户。",
          "success")
    return redirect(url_for("parent.enrollment", enrollment_id=enrollment.id))


@bp.post("/enrollments/<int:enrollment_id>/sandbox-pay")
def sandbox_pay(enrollment_id: int) -> Response:
    """The demo's "pay" button: the sandbox trustee receives the parent's transfer and tells
    our server (deposit.received), as the real bank would. After the commit: the sandbox calls
    us back at once, and on SQLite our open transaction would hold the write lock it needs."""
    ActionForm()  # CSRF checked before the view
    if not sandbox_available():
        raise HttpNotFound()
    row = _row(enrollment_id)
    target = url_for("parent.enrollment", enrollment_id=enrollment_id)
    if row.enrollment.status != "awaiting_payment":
        flash("这笔报名已经付过款了。", "info")
        return redirect(target)
    url = current_app.config["SUPERVISION"].trustee_api_url.rstrip("/") + "/deposits"
    payload = {"payment_reference": row.enrollment.payment_reference,
               "amount_fen": row.enrollment.amount_fen, "account_no": row.account_no}

    def pay() -> None:
        try:
            # No retry: each POST is a new transfer at the sandbox, a second would be paid twice.
            answer = outbound.make_session(retries=0).post(url, json=payload,
                                                           timeout=SANDBOX_TIMEOUT)
            taken = answer.status_code == 200 and (answer.json() or {}).get("server_status") == 200
        except Exception:
            log.warning("sandbox payment failed", exc_info=True)
            taken = False
        if taken:
            flash(f"模拟付款成功：{yuan(row.enrollment.amount_fen)} 已存入监管账户。", "success")
        else:
            flash("模拟付款未成功：沙箱托管机构暂时无法连接，请稍后再试。", "danger")

    after_commit(pay)
    return redirect(target)
