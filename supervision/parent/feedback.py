"""投诉 and 评价 from an enrollment's page: the complaint and review services, as the parent."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select

from .. import clock
from ..complaints.complaints import complaints_query, submit_complaint
from ..complaints.reviews import reviews_query, submit_review
from ..errors import Conflict, RuleViolation
from ..models import Review
from ..models.escrow import Consumption
from ..web.replica import replica_reads
from ..web.request import db_session, request_work
from ..wording import zh_date
from . import bp
from .enrollments import _row
from .forms import ComplaintForm, ReviewForm
from .signin import parent_actor

COMPLAINT_STATUS = {"submitted": "已提交，等待机构答复", "responded": "机构已答复",
                    "closed": "已办结"}


def review_state(enrollment_id: int) -> tuple[bool, Review | None]:
    """(whether a class of it is confirmed, the parent's review if written)."""
    session, actor = db_session(), parent_actor()
    confirmed = session.scalar(select(Consumption.id).where(
        Consumption.enrollment_id == enrollment_id, Consumption.status == "confirmed")
        .limit(1)) is not None
    review = session.scalars(reviews_query(session, actor).where(
        Review.enrollment_id == enrollment_id)).first()
    return confirmed, review


def feedback_context(enrollment_id: int) -> dict[str, Any]:
    session, actor = db_session(), parent_actor()
    confirmed, review = review_state(enrollment_id)
    complaints = list(session.scalars(complaints_query(session, actor)))
    return {"can_review": confirmed and review is None, "review": review,
            "complaints": [c for c in complaints if c.enrollment_id == enrollment_id],
            "complaint_status": COMPLAINT_STATUS}


@bp.route("/enrollments/<int:enrollment_id>/complaint", methods=["GET", "POST"])
@replica_reads
def complaint(enrollment_id: int) -> Any:
    row = _row(enrollment_id)
    form = ComplaintForm()
    if not form.validate_on_submit():
        return render_template("parent/complaint.html", row=row, form=form), (
            422 if form.is_submitted() else 200)
    c = submit_complaint(db_session(), parent_actor(), institution_id=row.enrollment.institution_id,
                         enrollment_id=enrollment_id, category=form.category.data or "other",
                         text=form.text.data or "", as_of=clock.now())
    flash(f"投诉已提交：机构须在 {zh_date(c.respond_by)} 前答复，教育局在 {zh_date(c.due_on)} "
          "前办结。", "success")
    return redirect(url_for("parent.enrollment", enrollment_id=enrollment_id))


@bp.route("/enrollments/<int:enrollment_id>/review", methods=["GET", "POST"])
@replica_reads
def review(enrollment_id: int) -> Any:
    row = _row(enrollment_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        return render_template("parent/review.html", row=row, form=form), (
            422 if form.is_submitted() else 200)
    try:
        with request_work().savepoint():  # a refusal writes nothing
            submit_review(db_session(), parent_actor(), enrollment_id,
                          stars=int(form.stars.data or 0), text=form.text.data or "",
                          as_of=clock.now())
    except RuleViolation:
        form.stars.errors = ["确认过至少一次课消后才能评价：评价来自真正上过课的家长。"]
        return render_template("parent/review.html", row=row, form=form), 422
    except Conflict:
        form.stars.errors = ["这次报名已经评价过了，每次报名只能评价一次。"]
        return render_template("parent/review.html", row=row, form=form), 409
    flash("感谢评价：评分和评价内容会显示在机构的公开信息里（不显示您和孩子的姓名）。", "success")
    return redirect(url_for("parent.enrollment", enrollment_id=enrollment_id))
