"""RULES.md §7: institutions (双减; 53号令). The registry facts are judged at as_of's local
date; the "operating" rules judge the window's sessions. An expired licence or a suspension is
the institution's breach, so those two make one finding per institution listing its sessions;
a session taught online or off the registered venue is that session's own breach."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import aliased

from ...models import ClassSession, Course, Institution
from ...wording import zh_date
from ..catalogue import CATALOGUE
from ..model import Finding
from .base import Context, Evaluator
from .scan import Joined, SessionRule
from .sql import epoch_day

STATUS_ZH = {"suspended": "停业整顿", "revoked": "吊销许可"}
# LICENSE_EXPIRING's wording once the day has passed: the catalogue's title ("即将到期") would
# tell the officer the opposite of the fact. The code stays (RULES.md defines no other).
EXPIRED_TITLE = "办学许可证已过期"
MODE_ZH = {"online": "线上", "offline": "线下"}


def institution_finding(ctx: Context, code: str, row: Any, detail: str, *,
                        title: str | None = None, **extra: Any) -> Finding:
    evidence = {"institution_id": row.id, "institution_name": row.name, **extra}
    return ctx.finding(code, institution_id=row.id, subject_type="institution",
                       subject_id=row.id, evidence=evidence,
                       summary=f"{title or CATALOGUE[code].title_zh}：{row.name}，{detail}")


def not_nonprofit(ctx: Context) -> Iterator[Finding]:
    prefix = str(ctx.param("nonprofit_uscc_prefix"))
    i = Institution
    no_registration = or_(i.nonprofit_registration_no.is_(None),
                          func.trim(i.nonprofit_registration_no) == "")
    wrong_prefix = func.substr(i.uscc, 1, len(prefix)) != prefix
    stmt = (select(i.id, i.name, i.uscc, i.nonprofit_registration_no)
            .where(i.category == "subject", or_(no_registration, wrong_prefix)).order_by(i.id))
    for row in ctx.session.execute(stmt):
        reasons = []
        if not (row.nonprofit_registration_no or "").strip():
            reasons.append("无民办非企业单位登记证号")
        if not row.uscc.startswith(prefix):
            reasons.append(f"统一社会信用代码不以{prefix}开头（{row.uscc[:2]}）")
        yield institution_finding(ctx, "NOT_NONPROFIT", row, "；".join(reasons),
                                  reasons=reasons, uscc_prefix=row.uscc[:2],
                                  required_prefix=prefix)


def license_expiring(ctx: Context) -> Iterator[Finding]:
    """Expiring within the configured days of as_of's date (that day included); a licence
    already expired is reported too, with negative days left: it is a fortiori for review."""
    days = int(ctx.param("license_expiring_days"))
    limit = ctx.as_of_date + dt.timedelta(days=days)
    i = Institution
    stmt = (select(i.id, i.name, i.license_no, i.license_valid_until)
            .where(i.license_valid_until <= limit, i.status != "revoked").order_by(i.id))
    for row in ctx.session.execute(stmt):
        left = (row.license_valid_until - ctx.as_of_date).days
        until = zh_date(row.license_valid_until)
        if left >= 0:
            title = None
            detail = f"办学许可证{row.license_no}将于{until}到期（剩余{left}天）"
        else:
            title = EXPIRED_TITLE
            detail = f"办学许可证{row.license_no}已于{until}到期（过期{-left}天）"
        yield institution_finding(ctx, "LICENSE_EXPIRING", row, detail, title=title,
                                  license_valid_until=row.license_valid_until.isoformat(),
                                  days_left=left, limit_days=days)


def _unlicensed(ctx: Context, j: Joined) -> Any:
    """Sessions on a local day after the licence's last valid day, when it has expired as of
    as_of (a licence still valid today may yet be renewed: LICENSE_EXPIRING warns of it)."""
    return and_(Institution.license_valid_until < ctx.as_of_date,
                j.day.c.day_no > epoch_day(Institution.license_valid_until))


def _word_unlicensed(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    return (f"办学许可证{row.license_no}已于{zh_date(row.license_valid_until)}到期",
            {"license_no": row.license_no,
             "license_valid_until": row.license_valid_until.isoformat()})


def _suspended(ctx: Context, j: Joined) -> Any:
    """Sessions still scheduled at a suspended or revoked institution: every session from
    as_of on, and past sessions of the window that began after the institution's record last
    changed (no later than the suspension itself, since the status change updated it; we do
    not know the suspension's exact time, so earlier sessions are not judged)."""
    s, i = ClassSession, Institution
    return and_(i.status.in_(tuple(STATUS_ZH)),
                or_(s.starts_at >= ctx.window.as_of, s.starts_at >= i.updated_at))


def _word_suspended(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    return (f"机构处于{STATUS_ZH[row.institution_status]}状态仍安排课程",
            {"institution_status": row.institution_status, "status_reason": row.status_reason})


def enrollments_while_suspended(ctx: Context) -> Iterator[Finding]:
    from .escrow import enrollments_while_suspended

    yield from enrollments_while_suspended(ctx)


def _outside_licence(ctx: Context, j: Joined) -> Any:
    # licensed_modes is a JSON list; its text holds '"online"' exactly when online is
    # licensed (the quotes keep "online" from matching inside "offline"), on both databases.
    # Judged once per institution in an uncorrelated subquery, not once per session.
    other = aliased(Institution)
    text = cast(other.licensed_modes, String)
    return or_(*[and_(Course.mode == mode, ClassSession.institution_id.in_(
        select(other.id).where(~text.contains(f'"{mode}"', autoescape=True))))
        for mode in MODE_ZH])


def _word_outside(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    allowed = "、".join(MODE_ZH.get(m, m) for m in row.licensed_modes) or "无"
    return (f"{MODE_ZH[row.mode]}授课，许可形式仅为{allowed}",
            {"mode": row.mode, "licensed_modes": list(row.licensed_modes)})


def _unregistered(ctx: Context, j: Joined) -> Any:
    """An offline session whose venue (its own, else its course's) is not a registered venue
    of the same institution."""
    return and_(Course.mode == "offline", j.venue.id.is_(None))


def _word_unregistered(ctx: Context, row: Any) -> tuple[str, dict[str, Any]]:
    detail = "线下课程未指定登记场所" if row.venue_id is None \
        else f"场所{row.venue_id}不是本机构登记的培训场所"
    return detail, {"venue_id": row.venue_id}


SESSION_RULES: dict[str, SessionRule] = {rule.code: rule for rule in (
    SessionRule("UNLICENSED_OPERATION", _unlicensed, _word_unlicensed, per_institution=True),
    SessionRule("OPERATING_WHILE_SUSPENDED", _suspended, _word_suspended,
                per_institution=True),
    SessionRule("MODE_OUTSIDE_LICENSE", _outside_licence, _word_outside),
    SessionRule("VENUE_UNREGISTERED", _unregistered, _word_unregistered),
)}

EVALUATORS: dict[str, Evaluator] = {
    "NOT_NONPROFIT": not_nonprofit,
    "LICENSE_EXPIRING": license_expiring,
    # The "enrollments taken" half; the sessions half is a session rule above.
    "OPERATING_WHILE_SUSPENDED": enrollments_while_suspended,
}
