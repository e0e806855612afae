"""RULES.md §1 (subject-type or not) and the preschool rules of §2: judged per course."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, or_, select

from ...models import Course, Institution
from ..catalogue import CATALOGUE
from ..model import Finding
from .base import Context, Evaluator, in_rule_grades, subject_type_course


def course_select(*columns: Any) -> Any:
    return select(Course.id, Course.institution_id, Course.name, Course.subject,
                  Course.category, Course.mode, Course.grade_min, Course.grade_max, *columns)


def course_evidence(row: Any, **extra: Any) -> dict[str, Any]:
    evidence = {"course_id": row.id, "course_name": row.name, "subject": row.subject,
                "category": row.category, "mode": row.mode,
                "grades": f"{row.grade_min}-{row.grade_max}"}
    evidence.update(extra)
    return evidence


def course_finding(ctx: Context, code: str, row: Any, detail: str, *,
                   severity: str | None = None, **extra: Any) -> Finding:
    return ctx.finding(code, institution_id=row.institution_id, subject_type="course",
                       subject_id=row.id, severity=severity,
                       summary=f"{CATALOGUE[code].title_zh}：{row.name}，{detail}",
                       evidence=course_evidence(row, **extra))


def _subject_name(ctx: Context, code: str) -> str:
    return str(ctx.policy["subjects"].get(code, {}).get("name", code))


def disguised_subject(ctx: Context) -> Iterator[Finding]:
    """High when the declared non_subject course teaches a subject-type subject; low (review)
    when only its name hits a keyword."""
    keywords = [str(k) for k in ctx.param("disguised_subject_keywords")]
    subject_type = Course.subject.in_(ctx.subject_type_codes)
    keyword_hit = or_(*[Course.name.contains(k, autoescape=True) for k in keywords])
    stmt = (course_select().where(Course.category == "non_subject", in_rule_grades(ctx),
                             or_(subject_type, keyword_hit)).order_by(Course.id))
    subject_codes = set(ctx.subject_type_codes)
    for row in ctx.session.execute(stmt):
        hits = [k for k in keywords if k in row.name]
        if row.subject in subject_codes:
            detail = f"申报为非学科类，科目为学科类科目“{_subject_name(ctx, row.subject)}”"
            yield course_finding(ctx, "DISGUISED_SUBJECT", row, detail, severity="high",
                                 keywords=hits, basis="subject")
        else:
            detail = f"课程名称含学科类关键词（{'、'.join(hits)}），请复核"
            yield course_finding(ctx, "DISGUISED_SUBJECT", row, detail, severity="low",
                                 keywords=hits, basis="keywords")


def category_outside_license(ctx: Context) -> Iterator[Finding]:
    stmt = (course_select(Institution.name.label("institution_name"))
            .join(Institution, Institution.id == Course.institution_id)
            .where(Institution.category == "non_subject", subject_type_course(ctx))
            .order_by(Course.id))
    for row in ctx.session.execute(stmt):
        yield course_finding(ctx, "CATEGORY_OUTSIDE_LICENSE", row,
                             f"非学科类机构（{row.institution_name}）开设学科类课程",
                             institution_category="non_subject")


def _preschool(ctx: Context) -> Any:
    low, high = ctx.policy["grade_bands"]["preschool"]
    return and_(Course.grade_min <= high, Course.grade_max >= low)


def preschool_online(ctx: Context) -> Iterator[Finding]:
    stmt = course_select().where(Course.mode == "online", _preschool(ctx)).order_by(Course.id)
    for row in ctx.session.execute(stmt):
        yield course_finding(ctx, "PRESCHOOL_ONLINE", row, "面向学龄前儿童开展线上培训")


def preschool_subject(ctx: Context) -> Iterator[Finding]:
    stmt = course_select().where(subject_type_course(ctx), _preschool(ctx)).order_by(Course.id)
    for row in ctx.session.execute(stmt):
        yield course_finding(ctx, "PRESCHOOL_SUBJECT", row,
                             f"面向学龄前儿童开展学科类培训（{_subject_name(ctx, row.subject)}）")


EVALUATORS: dict[str, Evaluator] = {
    "DISGUISED_SUBJECT": disguised_subject,
    "CATEGORY_OUTSIDE_LICENSE": category_outside_license,
    "PRESCHOOL_ONLINE": preschool_online,
    "PRESCHOOL_SUBJECT": preschool_subject,
}
