"""RULES.md §6: teachers and staff (从业人员管理办法).

TEACHER_UNQUALIFIED is judged per session (the course decides the grade the certificate must
reach); the others per teacher, over the whole registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import aliased

from ...identifiers import CERT_TYPE_LEVEL, LEVEL_MAX_GRADE, cert_error, cert_level
from ...models import Course, RosterEntry, Teacher
from ...wording import zh_date
from ..catalogue import CATALOGUE
from ..model import Finding
from .base import Context, Evaluator
from .scan import Joined, SessionRule
from .sql import all_digits

# identifiers.cert_error's plausible certificate years; a test holds the SQL below to
# identifiers.cert_covers_grade on the same numbers.
CERT_YEAR_MIN, CERT_YEAR_MAX = "1950", "2100"
# What a background check found, as the officer reads it (RULES.md §6 wants `clear`).
BACKGROUND_ZH = {"clear": "无记录", "pending": "待查", "hit": "有记录"}
LEVEL_ZH = {"kindergarten": "幼儿园", "primary": "小学", "junior": "初级中学",
            "senior": "高级中学", "vocational": "中等职业学校",
            "vocational_practice": "中职实习指导", "higher": "高等学校"}


def cert_reach(cert: Any) -> ColumnElement[int]:
    """The highest grade a certificate number covers (-1: none), as identifiers does it:
    17 digits, a plausible year, the 10th digit the type; the level covers those below."""
    valid = and_(cert.is_not(None), func.length(cert) == 17, all_digits(cert),
                 func.substr(cert, 1, 4).between(CERT_YEAR_MIN, CERT_YEAR_MAX))
    reach = case({digit: LEVEL_MAX_GRADE[level] for digit, level in CERT_TYPE_LEVEL.items()},
                 value=func.substr(cert, 10, 1), else_=-1)
    return case((valid, reach), else_=-1)


def _required_level(ctx: Context, grade: int) -> str:
    for band, (low, high) in ctx.policy["grade_bands"].items():
        if low <= grade <= high:
            return {"preschool": "kindergarten"}.get(band, band)
    return "senior"


def _unqualified(ctx: Context, j: Joined) -> Any:
    return cert_reach(Teacher.qualification_cert_no) < Course.grade_max


def _word_unqualified(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    required = _required_level(ctx, row.grade_max)
    held = cert_level(row.qualification_cert_no) if cert_reach_py(
        row.qualification_cert_no) >= 0 else None
    if held is None:
        detail = f"授课教师{row.teacher_name}无有效教师资格证"
    else:
        detail = (f"授课教师{row.teacher_name}持{LEVEL_ZH[held]}教师资格，"
                  f"低于课程最高年级{row.grade_max}所需的{LEVEL_ZH[required]}")
    return detail, {"cert_level": held, "required_level": required,
                    "course_grade_max": row.grade_max}


def cert_reach_py(cert: str | None) -> int:
    """cert_reach in Python, for wording a row (identifiers' own semantics)."""
    if not cert or cert_error(cert):
        return -1
    return LEVEL_MAX_GRADE[cert_level(cert)]


def _teachers(ctx: Context, *columns: Any) -> Any:
    """The staff as of the run's day. A teacher who left (离职) before it is no longer
    employed: §6's staff rules judge the people an institution employs, and leaving is how a
    blacklisted or in-service teacher's case is put right. (No session may be scheduled after
    left_on, so a left teacher cannot go on teaching unseen: registry/courses.py.)"""
    return select(Teacher.id, Teacher.institution_id, Teacher.name, Teacher.id_number_masked,
                  *columns).where(or_(Teacher.left_on.is_(None),
                                      Teacher.left_on >= ctx.as_of_date))


def teacher_finding(ctx: Context, code: str, row: Any, detail: str,
                    **extra: Any) -> Finding:
    evidence = {"teacher_id": row.id, "teacher_name": row.name,
                "id_number_masked": row.id_number_masked, **extra}
    return ctx.finding(code, institution_id=row.institution_id, subject_type="teacher",
                       subject_id=row.id, evidence=evidence,
                       summary=f"{CATALOGUE[code].title_zh}：{row.name}"
                               f"（{row.id_number_masked}），{detail}")


def _roster(kind: str) -> Any:
    """The roster of one kind, to outer-join on the teacher's ID hash (a hash join over the
    whole registry, rather than a probe per teacher); (kind, hash) is unique."""
    return aliased(RosterEntry, select(RosterEntry).where(RosterEntry.kind == kind).subquery(),
                   name=f"{kind}_roster")


def inservice_teacher(ctx: Context) -> Iterator[Finding]:
    roster = _roster("inservice")
    on_roster = roster.id.is_not(None)
    stmt = (_teachers(ctx, Teacher.is_inservice_school_teacher.label("declared"),
                      on_roster.label("on_roster"))
            .outerjoin(roster, roster.id_number_hash == Teacher.id_number_hash)
            .where(or_(Teacher.is_inservice_school_teacher.is_(True), on_roster))
            .order_by(Teacher.id))
    for row in ctx.session.execute(stmt):
        how = [text for flag, text in ((row.declared, "本人申报在职"),
                                       (row.on_roster, "在教育局在职教师名单中")) if flag]
        yield teacher_finding(ctx, "INSERVICE_TEACHER", row, "、".join(how),
                              declared=bool(row.declared), on_roster=bool(row.on_roster))


def staff_blacklisted(ctx: Context) -> Iterator[Finding]:
    roster = _roster("blacklist")
    stmt = (_teachers(ctx, roster.reason.label("reason"))
            .join(roster, roster.id_number_hash == Teacher.id_number_hash)
            .order_by(Teacher.id))
    for row in ctx.session.execute(stmt):
        yield teacher_finding(ctx, "STAFF_BLACKLISTED", row, "身份证号在黑名单中",
                              roster_reason=row.reason)


def staff_background_missing(ctx: Context) -> Iterator[Finding]:
    max_age = int(ctx.param("background_check_max_age_days"))
    oldest = ctx.as_of_date - dt.timedelta(days=max_age)
    checked = Teacher.background_checked_on
    stmt = (_teachers(ctx, Teacher.background_check_status, checked, Teacher.hired_on)
            .where(or_(Teacher.background_check_status != "clear", checked.is_(None),
                       checked > Teacher.hired_on, checked < oldest))
            .order_by(Teacher.id))
    for row in ctx.session.execute(stmt):
        reasons = _background_reasons(row, oldest, max_age)
        yield teacher_finding(
            ctx, "STAFF_BACKGROUND_MISSING", row, "；".join(reasons), reasons=reasons,
            background_check_status=row.background_check_status,
            background_checked_on=_iso(row.background_checked_on),
            hired_on=_iso(row.hired_on), max_age_days=max_age)


def _background_reasons(row: Any, oldest: dt.date, max_age: int) -> list[str]:
    reasons = []
    if row.background_check_status != "clear":
        status = row.background_check_status
        reasons.append(f"背景查询结果为{BACKGROUND_ZH.get(status, '未知') if status else '无'}")
    if row.background_checked_on is None:
        reasons.append("无背景查询日期")
    else:
        if row.background_checked_on > row.hired_on:
            reasons.append(f"入职（{zh_date(row.hired_on)}）后才查询"
                           f"（{zh_date(row.background_checked_on)}）")
        if row.background_checked_on < oldest:
            reasons.append(f"查询（{zh_date(row.background_checked_on)}）已超过{max_age}天")
    return reasons


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


SESSION_RULES: dict[str, SessionRule] = {
    # Any subject-type course needs a certificate, whatever its grades.
    "TEACHER_UNQUALIFIED": SessionRule("TEACHER_UNQUALIFIED", _unqualified, _word_unqualified,
                                       "subject_type"),
}

EVALUATORS: dict[str, Evaluator] = {
    "INSERVICE_TEACHER": inservice_teacher,
    "STAFF_BLACKLISTED": staff_blacklisted,
    "STAFF_BACKGROUND_MISSING": staff_background_missing,
}
