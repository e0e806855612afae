"""RULES.md §3 (pre-payment caps, overdue refunds, absconding) and VENUE_OVER_CAPACITY, judged
over the whole escrow tables at as_of. CONSUMPTION_DISPUTED, REFUND_REJECTED and the FUND_*
codes are raised by the escrow events themselves, not here."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.orm import aliased

from ... import calendar
from ...models import ClassSession, Course, Institution, Venue
from ...models.escrow import Enrollment, LedgerAccount, Refund
from ...wording import yuan, zh_date
from ..catalogue import CATALOGUE
from ..model import Finding
from .base import Context, Evaluator
from .subjects import course_finding, course_select

# The institution statuses an officer reads (as in the registry).
STATUS_ZH = {"active": "正常", "suspended": "停业整顿", "revoked": "吊销许可"}
# Enrollments whose money is (or is about to be) in custody: the caps judge these.
LIVE = ("awaiting_payment", "active")


def _enrollment_finding(ctx: Context, code: str, row: Any, detail: str,
                        **extra: Any) -> Finding:
    evidence = {"enrollment_id": row.id, "course_id": row.course_id,
                "course_name": row.course_name, "student_grade": row.student_grade,
                "class_hours": row.class_hours, "amount_fen": row.amount_fen,
                "status": row.status, **extra}
    return ctx.finding(code, institution_id=row.institution_id, subject_type="enrollment",
                       subject_id=row.id, evidence=evidence,
                       summary=f"{CATALOGUE[code].title_zh}：报名{row.id}（{row.course_name}），"
                               f"{detail}")


def _enrollments(*columns: Any) -> Any:
    e = Enrollment
    return (select(e.id, e.institution_id, e.course_id, e.student_grade, e.class_hours,
                   e.amount_fen, e.status, Course.name.label("course_name"), *columns)
            .join(Course, Course.id == e.course_id))


def _remaining_hours() -> Any:
    """Class hours still to be taught, as supervision.escrow.enrollments.remaining_hours counts
    them at creation: unpaid ones in full; paid ones as far as the held money not claimed by
    a refund request pays for them."""
    e, held = Enrollment, LedgerAccount
    unconsumed = e.class_hours - e.consumed_hours
    affordable = func.coalesce(held.available, 0) // e.price_per_class_hour_fen
    return case((e.status == "awaiting_payment", unconsumed),
                (unconsumed < affordable, unconsumed), else_=affordable)


def prepay_over_hours(ctx: Context) -> Iterator[Finding]:
    """One enrollment over the cap, or one student's unconsumed hours at one institution in
    one subject over it together (reported on the group's latest enrollment)."""
    cap = int(ctx.param("prepay_max_class_hours"))
    e, held = Enrollment, LedgerAccount
    remaining = _remaining_hours()
    # Only students with more than one enrollment can add up over the cap (a single one
    # over it is found below): an index-only pre-filter keeps the sums to those few.
    several = (select(e.parent_id, e.student_name).group_by(e.parent_id, e.student_name)
               .having(func.count() > 1))
    groups = (select(func.sum(remaining).label("unconsumed"), func.max(e.id).label("latest"),
                     func.count().label("enrollments"))
              .join(Course, Course.id == e.course_id)
              .outerjoin(held, and_(held.enrollment_id == e.id, held.kind == "held"))
              .where(e.status.in_(LIVE), tuple_(e.parent_id, e.student_name).in_(several))
              .group_by(e.parent_id, e.student_name, e.institution_id, Course.subject)
              .having(func.sum(remaining) > cap))
    over = {row.latest: row for row in ctx.session.execute(groups)}
    single = _enrollments().where(e.status.in_(LIVE), e.class_hours > cap)
    grouped = _enrollments().where(e.id.in_(list(over))) if over else None
    rows = {row.id: row for stmt in (single, grouped) if stmt is not None
            for row in ctx.session.execute(stmt)}
    for enrollment_id in sorted(rows):
        row, group = rows[enrollment_id], over.get(enrollment_id)
        if row.class_hours > cap:
            detail = f"一次购买{row.class_hours}课时，超过{cap}课时上限"
        else:
            assert group is not None
            detail = (f"同一学生在本机构同一科目未消课时合计{group.unconsumed}课时"
                      f"（{group.enrollments}笔报名），超过{cap}课时上限")
        yield _enrollment_finding(
            ctx, "PREPAY_OVER_HOURS", row, detail, limit_hours=cap,
            student_unconsumed_hours=group.unconsumed if group is not None else None)


def prepay_over_amount(ctx: Context) -> Iterator[Finding]:
    cap = int(ctx.param("prepay_max_amount_fen"))
    e = Enrollment
    stmt = _enrollments().where(e.status.in_(LIVE), e.amount_fen > cap).order_by(e.id)
    for row in ctx.session.execute(stmt):
        yield _enrollment_finding(ctx, "PREPAY_OVER_AMOUNT", row,
                                  f"一次收费{yuan(row.amount_fen)}，超过{yuan(cap)}上限",
                                  limit_fen=cap)


def _approved_by_cutoff(ctx: Context, working_days: int) -> dt.date:
    """The latest approval date whose execution deadline (that many working days later) is
    already past at as_of's date: add_working_days(d, n) < as_of_date ⇔ d ≤ this date."""
    span = calendar.calendar_days(ctx.session, ctx.as_of_date - dt.timedelta(
        days=2 * working_days + 30), ctx.as_of_date - dt.timedelta(days=1))
    seen = 0
    for info in reversed(span):
        if info.kind == "workday":
            seen += 1
            if seen == working_days:
                return info.date - dt.timedelta(days=1)
    return span[0].date - dt.timedelta(days=1)


def _due_dates(ctx: Context, approved: set[dt.date], days: int) -> dict[dt.date, dt.date]:
    """calendar.add_working_days for many dates from one read of the calendar."""
    if not approved:
        return {}
    first = min(approved)
    span = calendar.calendar_days(ctx.session, first + dt.timedelta(days=1),
                                  max(approved) + dt.timedelta(days=2 * days + 30))
    workdays = [info.date for info in span if info.kind == "workday"]
    return {day: workdays[bisect.bisect_right(workdays, day) + days - 1] for day in approved}


def refund_overdue(ctx: Context) -> Iterator[Finding]:
    days = int(ctx.param("refund_execution_working_days"))
    cutoff = _approved_by_cutoff(ctx, days)
    r = Refund
    stmt = (select(r.id, r.institution_id, r.enrollment_id, r.amount_fen, r.decided_at,
                   Institution.name.label("institution_name"))
            .join(Institution, Institution.id == r.institution_id)
            .where(r.status == "instructed", r.decided_at.is_not(None),
                   r.decided_at < ctx.utc_midnight(cutoff + dt.timedelta(days=1)))
            .order_by(r.id))
    rows = list(ctx.session.execute(stmt))
    due_dates = _due_dates(ctx, {ctx.local(row.decided_at).date() for row in rows}, days)
    for row in rows:
        approved = ctx.local(row.decided_at).date()
        due = due_dates[approved]
        yield ctx.finding(
            "REFUND_OVERDUE", institution_id=row.institution_id, subject_type="refund",
            subject_id=row.id,
            summary=(f"{CATALOGUE['REFUND_OVERDUE'].title_zh}：退费{row.id}（{yuan(row.amount_fen)}，"
                     f"{row.institution_name}）{zh_date(approved)}批准，应于{zh_date(due)}前执行，"
                     "至今未执行"),
            evidence={"refund_id": row.id, "enrollment_id": row.enrollment_id,
                      "amount_fen": row.amount_fen, "approved_on": approved.isoformat(),
                      "due_on": due.isoformat(), "limit_working_days": days})


def venue_over_capacity(ctx: Context) -> Iterator[Finding]:
    e = Enrollment
    # Courses with more enrollments of any status than seats (an index-only count) are the
    # only ones whose active enrollments can exceed them: count those precisely.
    counts = select(e.course_id, func.count().label("n")).group_by(e.course_id).subquery()
    crowded = (select(counts.c.course_id).join(Course, Course.id == counts.c.course_id)
               .join(Venue, Venue.id == Course.venue_id).where(counts.c.n > Venue.capacity))
    active = (select(e.course_id, func.count().label("active"))
              .where(e.status == "active", e.course_id.in_(crowded))
              .group_by(e.course_id).subquery())
    stmt = (course_select(active.c.active, Venue.capacity, Venue.id.label("venue_id"))
            .join(active, active.c.course_id == Course.id)
            .join(Venue, Venue.id == Course.venue_id)
            .where(active.c.active > Venue.capacity).order_by(Course.id))
    for row in ctx.session.execute(stmt):
        yield course_finding(ctx, "VENUE_OVER_CAPACITY", row,
                             f"在读{row.active}人，超过场所{row.venue_id}容量{row.capacity}人",
                             active_enrollments=row.active, venue_id=row.venue_id,
                             capacity=row.capacity)


def enrollments_while_suspended(ctx: Context) -> Iterator[Finding]:
    """OPERATING_WHILE_SUSPENDED's "enrollments taken": created at a suspended or revoked
    institution after its record last changed (no earlier than the suspension)."""
    e, i = Enrollment, Institution
    stmt = (_enrollments(i.status.label("institution_status"))
            .join(i, i.id == e.institution_id)
            .where(i.status.in_(("suspended", "revoked")), e.created_at >= i.updated_at)
            .order_by(e.id))
    for row in ctx.session.execute(stmt):
        status = STATUS_ZH.get(row.institution_status, row.institution_status)
        yield _enrollment_finding(ctx, "OPERATING_WHILE_SUSPENDED", row,
                                  f"机构处于{status}状态仍接受报名",
                                  institution_status=row.institution_status)


def _idle_holders(ctx: Context, idle_days: int) -> Any:
    """Institutions holding unconsumed escrow, paid before the idle period began (a new
    institution before its first session is not idle), with no session in that period."""
    e, s, held, other = Enrollment, ClassSession, LedgerAccount, aliased(Institution)
    as_of = ctx.window.as_of
    idle_since = as_of - dt.timedelta(days=idle_days)
    # One index probe per institution on sessions (institution_id, starts_at).
    idle = select(other.id).where(~select(s.id).where(
        s.institution_id == other.id, s.status != "cancelled", s.starts_at >= idle_since,
        s.starts_at <= as_of).exists())
    holding = (select(e.institution_id, func.count().label("holding"))
               .join(held, and_(held.enrollment_id == e.id, held.kind == "held"))
               .where(e.institution_id.in_(idle), e.status == "active",
                      held.balance > 0,
                      func.coalesce(e.paid_at, e.created_at) <= idle_since)
               .group_by(e.institution_id).subquery())
    return (select(Institution.id, Institution.name, holding.c.holding)
            .join(holding, holding.c.institution_id == Institution.id))


def _refund_rush(ctx: Context, window_days: int, ratio: Fraction) -> Any:
    """Institutions where refund requests in the period hit more than `ratio` of their
    enrollments (those active now or with a request in the period: a request for everything
    ends an enrollment)."""
    e, r = Enrollment, Refund
    as_of = ctx.window.as_of
    since = as_of - dt.timedelta(days=window_days)
    requested = (select(r.institution_id, func.count(r.enrollment_id.distinct()).label("n"))
                 .where(r.requested_at > since, r.requested_at <= as_of)
                 .group_by(r.institution_id).subquery())
    base = (select(e.institution_id, func.count(e.id.distinct()).label("n"))
            .outerjoin(r, and_(r.enrollment_id == e.id, r.requested_at > since,
                               r.requested_at <= as_of))
            .where(or_(e.status == "active", r.id.is_not(None)),
                   e.institution_id.in_(select(requested.c.institution_id)))
            .group_by(e.institution_id).subquery())
    return (select(Institution.id, Institution.name, requested.c.n.label("requests"),
                   base.c.n.label("base"))
            .join(requested, requested.c.institution_id == Institution.id)
            .join(base, base.c.institution_id == Institution.id)
            .where(requested.c.n * ratio.denominator > base.c.n * ratio.numerator))


def absconding_signal(ctx: Context) -> Iterator[Finding]:
    """Either signal makes one finding per institution, naming the signals seen."""
    idle_days = int(ctx.param("absconding_idle_days"))
    ratio = Fraction(str(ctx.param("absconding_refund_ratio")))
    window_days = int(ctx.param("absconding_refund_window_days"))
    signals: dict[int, dict[str, Any]] = {}
    for row in ctx.session.execute(_idle_holders(ctx, idle_days)):
        signals.setdefault(row.id, {"name": row.name})["idle"] = row.holding
    for row in ctx.session.execute(_refund_rush(ctx, window_days, ratio)):
        signals.setdefault(row.id, {"name": row.name})["rush"] = (row.requests, row.base)
    for institution_id in sorted(signals):
        yield _absconding_finding(ctx, institution_id, signals[institution_id], idle_days,
                                  window_days, ratio)


def _absconding_finding(ctx: Context, institution_id: int, signal: dict[str, Any],
                        idle_days: int, window_days: int, ratio: Fraction) -> Finding:
    reasons, evidence = [], {"institution_id": institution_id,
                             "institution_name": signal["name"]}
    if "idle" in signal:
        reasons.append(f"持有{signal['idle']}笔未消课资金，但{idle_days}天内未开课")
        evidence.update(idle_days=idle_days, enrollments_holding_escrow=signal["idle"])
    if "rush" in signal:
        requests, base = signal["rush"]
        reasons.append(f"{window_days}天内{requests}笔报名申请退费，占在读{base}笔的"
                       f"{requests / base:.0%}（阈值{float(ratio):.0%}）")
        evidence.update(refund_requests=requests, active_enrollments=base,
                        refund_window_days=window_days, ratio_limit=float(ratio))
    return ctx.finding("ABSCONDING_SIGNAL", institution_id=institution_id,
                       subject_type="institution", subject_id=institution_id,
                       summary=f"{CATALOGUE['ABSCONDING_SIGNAL'].title_zh}：{signal['name']}，"
                               + "；".join(reasons),
                       evidence={**evidence, "signals": reasons})


EVALUATORS: dict[str, Evaluator] = {
    "PREPAY_OVER_HOURS": prepay_over_hours,
    "PREPAY_OVER_AMOUNT": prepay_over_amount,
    "REFUND_OVERDUE": refund_overdue,
    "ABSCONDING_SIGNAL": absconding_signal,
    "VENUE_OVER_CAPACITY": venue_over_capacity,
}
