"""What every rule module shares: the run's context, the subject-type predicates, and turning
a result row into a readable Finding."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from ...access.scope import settings_of
from ...models import Course
from ...wording import zh_date
from ..catalogue import CATALOGUE, parameter_value
from ..model import Finding, Window

Evaluator = Callable[["Context"], Iterator[Finding]]
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass
class Context:
    """One evaluation: the session, the window, the policy and the local clock."""

    session: Session
    window: Window
    policy: Mapping[str, Any]
    zone: ZoneInfo
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session, window: Window) -> Context:
        settings = settings_of(session)
        zone = ZoneInfo(settings.timezone)
        return cls(session=session, window=window, policy=settings.policy, zone=zone)

    def param(self, name: str) -> Any:
        return parameter_value(self.policy, name)

    @cached_property
    def offset_seconds(self) -> int:
        """The zone's UTC offset. The SQL assumes it is fixed (true of China: no DST)."""
        offsets = {self.window.start.astimezone(self.zone).utcoffset(),
                   self.window.end.astimezone(self.zone).utcoffset()}
        if len(offsets) != 1:
            raise ValueError(f"{self.zone} changes its UTC offset inside the window")
        offset = offsets.pop()
        assert offset is not None
        return int(offset.total_seconds())

    @property
    def as_of_date(self) -> dt.date:
        return self.window.as_of.astimezone(self.zone).date()

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.zone)

    def utc_midnight(self, day: dt.date) -> dt.datetime:
        """The instant local `day` begins."""
        return dt.datetime.combine(day, dt.time(), self.zone).astimezone(dt.UTC)

    @cached_property
    def subject_type_codes(self) -> list[str]:
        return sorted(code for code, info in self.policy["subjects"].items()
                      if info.get("subject_type"))

    def finding(self, code: str, *, institution_id: int | None, subject_type: str,
                subject_id: Any, summary: str, evidence: dict[str, Any],
                severity: str | None = None) -> Finding:
        spec = CATALOGUE[code]
        return Finding(rule=code, severity=severity or spec.severity,
                       institution_id=institution_id, subject_type=subject_type,
                       subject_id=str(subject_id), summary=summary, evidence=evidence)


def subject_type_course(ctx: Context) -> ColumnElement[bool]:
    """A subject-type course: declared `subject`, OR teaching a subject-type subject.

    Either is enough: a course declared non_subject that teaches math is subject-type training
    in disguise (DISGUISED_SUBJECT), and must not escape the timing and price rules by it.
    Keyword hits alone do not make a course subject-type (they are a review signal only).
    """
    return or_(Course.category == "subject", Course.subject.in_(ctx.subject_type_codes))


def in_rule_grades(ctx: Context) -> ColumnElement[bool]:
    """The course's grades overlap the grades the §2/§4 rules cover (1-9 by default)."""
    return and_(Course.grade_min <= ctx.param("subject_rules_grade_max"),
                Course.grade_max >= ctx.param("subject_rules_grade_min"))


def hhmm(moment: dt.datetime) -> str:
    return f"{moment:%H:%M}"


def session_evidence(ctx: Context, row: Any) -> dict[str, Any]:
    starts, ends = ctx.local(row.starts_at), ctx.local(row.ends_at)
    evidence: dict[str, Any] = {
        "session_id": row.id, "date": starts.date().isoformat(),
        "weekday": WEEKDAYS_ZH[starts.weekday()],
        "starts_at_local": hhmm(starts), "ends_at_local": hhmm(ends),
        "course_id": row.course_id, "course_name": row.course_name, "subject": row.subject,
        "teacher_id": row.teacher_id, "teacher_name": row.teacher_name,
    }
    if ends.date() != starts.date():
        evidence["ends_on_local"] = ends.date().isoformat()
    return evidence


def starts_date(ctx: Context, row: Any) -> dt.date:
    return ctx.local(row.starts_at).date()


def session_finding(ctx: Context, code: str, row: Any, detail: str,
                    **extra: Any) -> Finding:
    """A finding about one session, its summary naming the course, the day and the times."""
    evidence = session_evidence(ctx, row)
    evidence.update(extra)
    summary = (f"{CATALOGUE[code].title_zh}：{row.course_name}，{zh_date(starts_date(ctx, row))}"
               f"（{evidence['weekday']}）{evidence['starts_at_local']}–"
               f"{evidence['ends_at_local']}，{detail}")
    return ctx.finding(code, institution_id=row.institution_id, subject_type="session",
                       subject_id=row.id, summary=summary, evidence=evidence)
