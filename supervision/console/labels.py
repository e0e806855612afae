"""How things read to an officer: Chinese labels for codes, money in yuan, Shanghai time.

Presentation only: the codes themselves come from the services and the spec.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, current_app

from ..clock import SHANGHAI
from ..vocab import SEVERITIES
from ..wording import holiday_zh, yuan, zh_date, zh_datetime

SEVERITY = {"critical": "严重", "high": "高", "medium": "中", "low": "低"}
SEVERITY_ORDER = SEVERITIES
FLAG_STATUS = {
    "open": "待处理", "acknowledged": "已受理", "rectification_ordered": "已责令整改",
    "rectification_submitted": "整改已提交", "resolved": "已办结", "dismissed": "已排除",
    "cleared": "已自动消除",
}
FLAG_ACTION = {
    "acknowledge": "受理", "order_rectification": "责令整改", "resolve": "办结",
    "dismiss": "排除（不予处理）", "reopen": "重新打开", "detected": "系统发现",
    "redetected": "再次发现", "cleared": "条件消失，自动消除", "respond": "机构提交整改",
    "response": "机构提交整改", "rectification_submitted": "机构提交整改",
}
INSTITUTION_STATUS = {"active": "正常", "suspended": "停业整顿", "revoked": "已吊销"}
CATEGORY = {"subject": "学科类", "non_subject": "非学科类"}
MODE = {"offline": "线下", "online": "线上"}
ESCROW_MODE = {"trust": "资金信托", "bank_custody": "银行存管", "risk_reserve": "风险保证金"}
BACKGROUND = {"clear": "无记录", "pending": "待查", "hit": "有记录"}
EMPLOYMENT = {"full_time": "专职", "part_time": "兼职"}
CERT_LEVEL = {"kindergarten": "幼儿园", "primary": "小学", "junior": "初级中学",
              "senior": "高级中学", "vocational": "中等职业学校",
              "vocational_practice": "中职实习指导",
              "higher": "高等学校"}
DAY_KIND = {"holiday": "法定节假日", "workday": "工作日", "weekend": "周末"}
DAY_SOURCE = {"package": "国务院安排（内置）", "override": "人工设定",
              "fallback": "推算（放假办法与周末）"}
SESSION_STATUS = {"scheduled": "已排课", "cancelled": "已取消"}
SUBJECT_TYPE = {"session": "课次", "course": "课程", "teacher": "从业人员",
                "institution": "机构", "enrollment": "报名", "refund": "退费",
                "consumption": "课消", "deposit": "入账", "statement": "对账单",
                "statement_line": "对账单明细", "ledger_entry": "账务分录", "calendar": "日历",
                "calendar_year": "日历年份", "school_year": "学年"}
BUCKETS = (
    ("held_fen", "托管中（未消课）"),
    ("pending_confirmation_fen", "已消课待家长确认"),
    ("confirmed_fen", "已确认待拨付"),
    ("released_fen", "已拨付机构"),
    ("refund_pending_fen", "退费处理中"),
    ("refunded_fen", "已退还家长"),
)
WEEKDAY = "一二三四五六日"


def label(mapping: dict[str, str], code: Any) -> str:
    if code is None:
        return "—"
    return mapping.get(str(code), str(code))


EXPIRED_LICENCE_TITLE = "办学许可证已过期"


def flag_title(flag: Any) -> str:
    """A flag's title: its rule's, except LICENSE_EXPIRING once the licence has expired (the
    code covers that case too, but "即将到期" would tell the officer the opposite)."""
    from ..compliance.catalogue import CATALOGUE

    spec = CATALOGUE.get(flag.rule)
    title = spec.title_zh if spec else str(flag.rule)
    if flag.rule == "LICENSE_EXPIRING":
        try:
            if int((flag.evidence or {}).get("days_left", 0)) < 0:
                return EXPIRED_LICENCE_TITLE
        except (TypeError, ValueError):
            pass
    return title


def local_dt(value: dt.datetime | None, fmt: str | None = None) -> str:
    """An instant in Shanghai time: 2026年12月3日 19:00, or `fmt` (e.g. "%H:%M")."""
    if value is None:
        return "—"
    if fmt is None:
        return zh_datetime(value)
    if value.tzinfo is None:  # our columns are aware; a naive value here would be a bug upstream
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(SHANGHAI).strftime(fmt)


def local_date(value: dt.date | dt.datetime | str | None) -> str:
    """A date as 2026年12月3日; an ISO date string (evidence keeps those) is read first."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            return zh_date(dt.date.fromisoformat(value))
        except ValueError:
            return value
    return zh_date(value)


def weekday(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        value = value.astimezone(SHANGHAI)
    return "周" + WEEKDAY[value.weekday()]


def district_name(code: str | None) -> str:
    if not code:
        return "—"
    districts = current_app.config["SUPERVISION"].policy.get("districts", {})
    return str(districts.get(code, code))


def subject_name(code: str | None) -> str:
    if not code:
        return "—"
    subjects = current_app.config["SUPERVISION"].policy.get("subjects", {})
    entry = subjects.get(code)
    return str(entry.get("name", code)) if isinstance(entry, dict) else str(code)


def grades(lo: int, hi: int) -> str:
    def one(g: int) -> str:
        if g == 0:
            return "学前"
        if g <= 6:
            return f"小学{g}年级"
        if g <= 9:
            return f"初{'一二三'[g - 7]}"
        return f"高{'一二三'[g - 10]}"

    return one(lo) if lo == hi else f"{one(lo)}至{one(hi)}"


ROLE = {"regulator": "监管", "institution": "机构", "parent": "家长", "trustee": "受托方"}


def actor_label(label: str | None) -> str:
    """An audit label ("regulator:梁溪区教育局#2", "system:system") as a person reads it."""
    if not label:
        return "—"
    role, _, rest = label.partition(":")
    if role == "system":
        return "系统（合规引擎）"
    name = rest.rsplit("#", 1)[0] or rest
    return name if role == "regulator" else f"{name}（{ROLE.get(role, role)}）"


def install_filters(app: Flask) -> None:
    app.jinja_env.filters.update(
        yuan=yuan, local_dt=local_dt, local_date=local_date, weekday=weekday,
        district=district_name, subject=subject_name,
        severity=lambda c: label(SEVERITY, c), flag_status=lambda c: label(FLAG_STATUS, c),
        flag_action=lambda c: label(FLAG_ACTION, c),
        inst_status=lambda c: label(INSTITUTION_STATUS, c),
        category=lambda c: label(CATEGORY, c), mode=lambda c: label(MODE, c),
        escrow_mode=lambda c: label(ESCROW_MODE, c),
        background=lambda c: label(BACKGROUND, c),
        employment=lambda c: label(EMPLOYMENT, c), cert_level=lambda c: label(CERT_LEVEL, c),
        day_kind=lambda c: label(DAY_KIND, c), day_source=lambda c: label(DAY_SOURCE, c),
        session_status=lambda c: label(SESSION_STATUS, c),
        subject_type=lambda c: label(SUBJECT_TYPE, c), actor=actor_label,
        holiday=lambda name: holiday_zh(name) or "—", flag_title=flag_title,
    )
    app.jinja_env.globals.update(console_buckets=BUCKETS, grades=grades)
