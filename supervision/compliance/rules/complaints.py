"""RULES.md §10: complaints unanswered or not closed in time, and a surge of complaints about
one institution. Judged over the whole complaints table at as_of's Shanghai date, so a flag
clears once the complaint is answered or closed, or the surge falls below the threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from ...models import Complaint, Institution
from ...wording import zh_date
from ..catalogue import CATALOGUE
from ..model import Finding
from .base import Context, Evaluator

CATEGORY_ZH = {"refund": "退费", "fees": "收费", "teaching": "教学", "safety": "安全",
               "other": "其他"}
STATUS_ZH = {"submitted": "待机构答复", "responded": "机构已答复", "closed": "已办结"}


def _complaints(*where: Any) -> Any:
    return (select(Complaint.id, Complaint.institution_id, Complaint.category,
                   Complaint.status, Complaint.created_at, Complaint.respond_by,
                   Complaint.due_on, Institution.name.label("institution_name"))
            .join(Institution, Institution.id == Complaint.institution_id)
            .where(*where).order_by(Complaint.id))


def _complaint_finding(ctx: Context, code: str, row: Any, detail: str) -> Finding:
    submitted_on = ctx.local(row.created_at).date()
    evidence = {"complaint_id": row.id, "category": row.category, "status": row.status,
                "submitted_on": submitted_on.isoformat(),
                "respond_by": row.respond_by.isoformat(), "due_on": row.due_on.isoformat()}
    summary = (f"{CATALOGUE[code].title_zh}：{row.institution_name}，"
               f"{zh_date(submitted_on)}受理的{CATEGORY_ZH.get(row.category, row.category)}"
               f"投诉（编号{row.id}）{detail}")
    return ctx.finding(code, institution_id=row.institution_id, subject_type="complaint",
                       subject_id=row.id, summary=summary, evidence=evidence)


def complaint_unanswered(ctx: Context) -> Iterator[Finding]:
    stmt = _complaints(Complaint.status == "submitted", Complaint.respond_by < ctx.as_of_date)
    for row in ctx.session.execute(stmt):
        yield _complaint_finding(ctx, "COMPLAINT_UNANSWERED", row,
                                 f"应于{zh_date(row.respond_by)}前答复，机构至今未答复")


def complaint_overdue(ctx: Context) -> Iterator[Finding]:
    stmt = _complaints(Complaint.status != "closed", Complaint.due_on < ctx.as_of_date)
    for row in ctx.session.execute(stmt):
        yield _complaint_finding(ctx, "COMPLAINT_OVERDUE", row,
                                 f"应于{zh_date(row.due_on)}前办结，至今仍"
                                 f"{STATUS_ZH.get(row.status, row.status)}")


def complaints_surge(ctx: Context) -> Iterator[Finding]:
    threshold = int(ctx.param("complaints_surge_count"))
    days = int(ctx.param("complaints_surge_days"))
    # The last `days` local days, as_of's included.
    first_day = ctx.as_of_date - dt.timedelta(days=days - 1)
    since, until = ctx.utc_midnight(first_day), ctx.window.as_of
    counted = (select(Complaint.institution_id, func.count().label("n"))
               .where(Complaint.created_at >= since, Complaint.created_at <= until)
               .group_by(Complaint.institution_id)
               .having(func.count() >= threshold).subquery())
    stmt = (select(Institution.id, Institution.name, counted.c.n)
            .join(counted, counted.c.institution_id == Institution.id).order_by(Institution.id))
    for row in ctx.session.execute(stmt):
        ids = list(ctx.session.scalars(
            select(Complaint.id).where(Complaint.institution_id == row.id,
                                       Complaint.created_at >= since,
                                       Complaint.created_at <= until).order_by(Complaint.id)))
        yield ctx.finding(
            "COMPLAINTS_SURGE", institution_id=row.id, subject_type="institution",
            subject_id=row.id,
            summary=f"{CATALOGUE['COMPLAINTS_SURGE'].title_zh}：{row.name}在"
                    f"{zh_date(first_day)}至{zh_date(ctx.as_of_date)}的{days}天内被投诉"
                    f"{row.n}次（阈值{threshold}次）",
            evidence={"complaint_ids": ids, "count": row.n, "threshold": threshold,
                      "days": days, "from": first_day.isoformat(),
                      "to": ctx.as_of_date.isoformat()})


EVALUATORS: dict[str, Evaluator] = {
    "COMPLAINT_UNANSWERED": complaint_unanswered,
    "COMPLAINT_OVERDUE": complaint_overdue,
    "COMPLAINTS_SURGE": complaints_surge,
}
