"""RULES.md §2: when subject-type training may happen (双减; the MOE sleep notice).

All of these judge subject-type courses whose grades overlap the configured range (1-9), and
only non-cancelled sessions starting inside the window, by their Asia/Shanghai start date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ... import calendar
from ...clock import SHANGHAI
from ...models import ClassSession, Course, Teacher
from ...wording import holiday_zh, zh_date
from ..catalogue import parameter_value
from ..model import Finding, Window
from .base import Context, Evaluator, session_finding
from .days import LocalDay, days_by_date, window_calendar
from .scan import GUARDS, Joined, SessionRule, parse_hhmm, window_clause
from .sql import epoch_seconds, local_day


def _judged(ctx: Context) -> Any:
    return GUARDS["judged"](ctx)


def _day(ctx: Context, row: Any) -> LocalDay:
    return days_by_date(ctx)[ctx.local(row.starts_at).date()]


def _day_evidence(day: LocalDay) -> dict[str, Any]:
    return {"day_kind": day.kind, "day_name": day.name, "calendar_source": day.source,
            "vacation": day.vacation}


def _on_holiday(ctx: Context, j: Joined) -> Any:
    return j.day.c.kind == "holiday"


def _word_holiday(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    day = _day(ctx, row)
    return f"法定节假日（{holiday_zh(day.name) or '节假日'}）", _day_evidence(day)


def _on_weekend(ctx: Context, j: Joined) -> Any:
    # A statutory holiday falling on a weekend is SUBJECT_ON_HOLIDAY, not this.
    return and_(j.day.c.weekend == 1, j.day.c.kind == "weekend")


def _word_weekend(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    day = _day(ctx, row)
    detail = "周末（非调休上班日）" if day.source != "fallback" \
        else "周末（调休安排尚未录入，按周六周日判断）"
    return detail, _day_evidence(day)


def _on_adjusted_workday(ctx: Context, j: Joined) -> Any:
    return and_(j.day.c.weekend == 1, j.day.c.kind == "workday")


def _word_adjusted(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    day = _day(ctx, row)
    return f"周末调休上班日（{holiday_zh(day.name) or '调休'}），请复核", _day_evidence(day)


def _in_vacation(ctx: Context, j: Joined) -> Any:
    return j.day.c.vacation == 1


def _word_vacation(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    day = _day(ctx, row)
    return f"{day.vacation}期间", _day_evidence(day)


def _minutes(row: Any) -> int:
    return int((row.ends_at - row.starts_at).total_seconds()) // 60


def _too_long(ctx: Context, j: Joined) -> Any:
    limit = int(ctx.param("online_session_max_minutes"))
    s = ClassSession
    return and_(Course.mode == "online",
                epoch_seconds(s.ends_at) - epoch_seconds(s.starts_at) > limit * 60)


def _word_too_long(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    limit = int(ctx.param("online_session_max_minutes"))
    minutes = _minutes(row)
    return f"线上单次{minutes}分钟，上限{limit}分钟", {"minutes": minutes,
                                                   "limit_minutes": limit}


def _late(mode: str) -> Any:
    def predicate(ctx: Context, j: Joined) -> Any:
        # The day table holds the instant the limit falls on the session's local start day,
        # so an end on a later local day is late whatever its clock time.
        return and_(Course.mode == mode, ClassSession.ends_at > j.day.c[f"late_{mode}"])
    return predicate


def _word_late(parameter: str) -> Any:
    def word(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
        limit = str(ctx.param(parameter))
        return f"{ctx.local(row.ends_at):%H:%M}结束，晚于{limit}", {"limit": limit}
    return word


def online_interval_too_short(ctx: Context) -> Iterator[Finding]:
    """The break before an online session: from the latest end among the same course's earlier
    sessions that local day (so an overlapping or enclosing session counts too)."""
    gap_min = int(ctx.param("online_interval_min_minutes"))
    s = ClassSession
    day = local_day(s.starts_at, ctx.offset_seconds)
    previous_end = func.max(epoch_seconds(s.ends_at)).over(
        partition_by=(s.course_id, day), order_by=(s.starts_at, s.id), rows=(None, -1))
    # Read from the local midnight before the window, so the first session in the window
    # still sees its predecessors of the same day.
    day_start = ctx.utc_midnight(ctx.local(ctx.window.start).date())
    lookback = Window(as_of=ctx.window.as_of, start=day_start, end=ctx.window.end)
    ranked = (select(s.id, s.institution_id, s.starts_at, s.ends_at, s.teacher_id, s.course_id,
                     (epoch_seconds(s.starts_at) - previous_end).label("gap"),
                     previous_end.label("previous_end"))
              .select_from(Course).join(s, s.course_id == Course.id)
              .where(Course.mode == "online", _judged(ctx),
                     window_clause(replace(ctx, window=lookback)))
              .subquery())
    stmt = (select(ranked, Course.name.label("course_name"), Course.subject,
                   Teacher.name.label("teacher_name"))
            .join(Course, Course.id == ranked.c.course_id)
            .join(Teacher, Teacher.id == ranked.c.teacher_id)
            .where(ranked.c.gap < gap_min * 60, ranked.c.starts_at >= ctx.window.start)
            .order_by(ranked.c.id))
    for row in ctx.session.execute(stmt):
        previous = ctx.local(dt.datetime.fromtimestamp(row.previous_end, dt.UTC))
        gap = row.gap / 60
        yield session_finding(ctx, "ONLINE_INTERVAL_TOO_SHORT", row,
                              f"与上一节（{previous:%H:%M}结束）间隔{gap:g}分钟，"
                              f"不足{gap_min}分钟",
                              previous_ends_at_local=f"{previous:%H:%M}",
                              interval_minutes=round(gap, 2), limit_minutes=gap_min)


def calendar_data_missing(ctx: Context) -> Iterator[Finding]:
    """One finding per year without a statutory schedule and per school year without
    vacations, when a judged session falls on such a day (then the engine fell back to
    Saturday/Sunday, or could not judge vacations)."""
    cal = window_calendar(ctx)
    gaps = [(year, days, "statutory_holidays") for year, days in cal.missing_years.items()]
    gaps += [(name, days, "school_year_vacations")
             for name, days in cal.missing_school_years.items()]
    for subject_id, days, what in gaps:
        count = _judged_sessions_between(ctx, days[0].lo, days[-1].hi)
        if not count:
            continue
        first, last = zh_date(days[0].day), zh_date(days[-1].day)
        if what == "statutory_holidays":
            summary = (f"{subject_id}年调休安排尚未录入（{first}至{last}的法定节假日"
                       f"按放假办法推算、周末按周六周日判断），"
                       f"涉及{count}节学科类课程，请导入国务院放假安排")
        else:
            summary = (f"{subject_id}学年寒暑假日期未配置（{first}至{last}无法判断假期），"
                       f"涉及{count}节学科类课程，请配置校历")
        yield ctx.finding("CALENDAR_DATA_MISSING", institution_id=None,
                          subject_type="calendar", subject_id=subject_id, summary=summary,
                          evidence={"missing": what, "period": subject_id, "from": first,
                                    "to": last, "sessions_affected": count})


def _judged_sessions_between(ctx: Context, lo: dt.datetime, hi: dt.datetime) -> int:
    s = ClassSession
    stmt = (select(func.count()).select_from(s).join(Course, Course.id == s.course_id)
            .where(s.starts_at >= max(lo, ctx.window.start), s.starts_at < hi,
                   s.starts_at <= ctx.window.end, s.status != "cancelled", _judged(ctx)))
    return int(ctx.session.scalar(stmt) or 0)


# All of §2 judges subject-type courses of the configured grades: the scan's "judged" guard.
SESSION_RULES: dict[str, SessionRule] = {rule.code: rule for rule in (
    SessionRule("SUBJECT_ON_HOLIDAY", _on_holiday, _word_holiday, "judged"),
    SessionRule("SUBJECT_ON_WEEKEND", _on_weekend, _word_weekend, "judged"),
    SessionRule("SUBJECT_ON_ADJUSTED_WORKDAY", _on_adjusted_workday, _word_adjusted, "judged"),
    SessionRule("SUBJECT_IN_VACATION", _in_vacation, _word_vacation, "judged"),
    SessionRule("ONLINE_SESSION_TOO_LONG", _too_long, _word_too_long, "judged"),
    SessionRule("LATE_END_ONLINE", _late("online"), _word_late("late_end_online"), "judged"),
    SessionRule("LATE_END_OFFLINE", _late("offline"), _word_late("late_end_offline"),
                "judged"),
)}

EVALUATORS: dict[str, Evaluator] = {
    "ONLINE_INTERVAL_TOO_SHORT": online_interval_too_short,
    "CALENDAR_DATA_MISSING": calendar_data_missing,
}


# --- one proposed session, before it is saved ---------------------------------------------

def judged_course(policy: Mapping[str, Any], course: Course) -> bool:
    """The scan's "judged" guard (base.subject_type_course and in_rule_grades) on one course:
    subject-type by category or by subject, with grades overlapping the rules' range."""
    subject_types = {code for code, info in policy["subjects"].items()
                     if info.get("subject_type")}
    return ((course.category == "subject" or course.subject in subject_types)
            and course.grade_min <= parameter_value(policy, "subject_rules_grade_max")
            and course.grade_max >= parameter_value(policy, "subject_rules_grade_min"))


def proposed_session_codes(session: Session, policy: Mapping[str, Any], course: Course,
                           starts_at: dt.datetime, ends_at: dt.datetime) -> list[str]:
    """The §2 codes the engine would raise for one session of `course` not saved yet, for the
    institutions' schedule form to warn before saving. The same tests as SESSION_RULES above,
    read row by row: the day's kind and vacation from the calendar service the day table is
    built from, the same parameters; ONLINE_INTERVAL_TOO_SHORT (which needs the day's other
    sessions) and CALENDAR_DATA_MISSING (the regulator's to fix) are left to the run."""
    def param(name: str) -> Any:
        return parameter_value(policy, name)

    if not judged_course(policy, course):
        return []
    local_start = starts_at.astimezone(SHANGHAI)
    day = calendar.day_info(session, local_start.date())
    weekend = local_start.weekday() >= 5
    codes = []
    if day.kind == "holiday":
        codes.append("SUBJECT_ON_HOLIDAY")
    if weekend and day.kind == "weekend":
        codes.append("SUBJECT_ON_WEEKEND")
    if weekend and day.kind == "workday":
        codes.append("SUBJECT_ON_ADJUSTED_WORKDAY")
    if calendar.vacation_periods(session, day.date, day.date):
        codes.append("SUBJECT_IN_VACATION")
    limit = int(param("online_session_max_minutes"))
    if course.mode == "online" and (ends_at - starts_at).total_seconds() > limit * 60:
        codes.append("ONLINE_SESSION_TOO_LONG")
    midnight = dt.datetime.combine(local_start.date(), dt.time(), SHANGHAI)
    late_at = midnight + dt.timedelta(seconds=parse_hhmm(str(param(f"late_end_{course.mode}"))))
    if ends_at > late_at:
        codes.append(f"LATE_END_{course.mode.upper()}")
    return codes
