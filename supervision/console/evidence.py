"""A flag's evidence, told to a person: the session's day and time, the teacher, the parameter
it broke, the legal basis from the catalogue. Presentation only; the facts are the engine's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from ..access.scope import policy_of
from ..compliance.catalogue import CATALOGUE, parameter_value
from ..models import Flag, Institution
from ..wording import holiday_zh, yuan
from .labels import (
    BACKGROUND,
    CATEGORY,
    CERT_LEVEL,
    DAY_KIND,
    DAY_SOURCE,
    INSTITUTION_STATUS,
    MODE,
    flag_title,
    local_date,
    subject_name,
)

PARAMETER_LABELS = {
    "subject_rules_grade_min": "适用年级（起）",
    "subject_rules_grade_max": "适用年级（止）",
    "disguised_subject_keywords": "学科类关键词",
    "online_session_max_minutes": "线上单次课时上限（分钟）",
    "online_interval_min_minutes": "线上课间隔下限（分钟）",
    "late_end_online": "线上培训最晚结束时间",
    "late_end_offline": "线下培训最晚结束时间",
    "prepay_max_class_hours": "一次预收课时上限",
    "prepay_max_amount_fen": "一次预收金额上限",
    "consumption_auto_confirm_working_days": "课消自动确认（工作日）",
    "refund_auto_approve_working_days": "退费自动批准（工作日）",
    "refund_execution_working_days": "退费执行时限（工作日）",
    "absconding_idle_days": "连续无课天数阈值",
    "absconding_refund_ratio": "退费申请比例阈值",
    "absconding_refund_window_days": "退费申请统计窗口（天）",
    "license_expiring_days": "许可证到期预警（天）",
    "background_check_max_age_days": "背景查询有效期（天）",
    "nonprofit_uscc_prefix": "非营利组织信用代码前缀",
    "standard_minutes_offline": "线下标准课时（分钟）",
    "standard_minutes_online": "线上标准课时（分钟）",
    "offline_float": "线下上浮比例",
    "online_float": "线上上浮比例",
}
# Evidence keys the engines write, in the order a person reads them; others follow as they are.
EVIDENCE_LABELS = {
    "course_name": "课程", "subject": "科目", "teacher_name": "授课人员",
    "institution_name": "机构", "day_kind": "日期类型", "day_name": "节日名称",
    "vacation": "假期", "calendar_source": "日历数据来源", "minutes": "时长（分钟）",
    "limit_minutes": "限值（分钟）", "interval_minutes": "间隔（分钟）",
    "previous_ends_at_local": "上一节结束时间", "limit": "限值", "grades": "年级范围",
    "course_grade_max": "课程最高年级", "category": "申报类别",
    "institution_category": "机构类别", "basis": "判定依据", "keywords": "命中关键词",
    "mode": "授课形式", "licensed_modes": "许可办学形式", "venue_id": "场所",
    "license_no": "办学许可证号", "license_valid_until": "许可证有效期至",
    "days_left": "距到期天数", "limit_days": "预警天数", "institution_status": "机构状态",
    "status_reason": "状态原因", "uscc_prefix": "信用代码前两位",
    "required_prefix": "应为", "reasons": "具体情况", "cert_level": "教师资格学段",
    "required_level": "应具备学段", "id_number_masked": "身份证号（脱敏）",
    "declared": "本人申报在职", "on_roster": "在在职教师名册中", "roster_reason": "名单原因",
    "background_check_status": "背景查询结果", "background_checked_on": "背景查询日期",
    "hired_on": "入职日期", "max_age_days": "背景查询有效期（天）",
    "price_per_class_hour_fen": "课时单价", "minutes_per_class_hour": "每课时分钟数",
    "class_size": "班额", "band": "班型", "benchmark_fen": "基准价", "float": "上浮比例",
    "ceiling_fen": "指导价上限", "student_grade": "学生年级", "class_hours": "课时",
    "amount_fen": "金额", "status": "状态", "approved_on": "批准日期", "due_on": "应执行日期",
    "limit_working_days": "时限（工作日）", "idle_days": "无课天数",
    "enrollments_holding_escrow": "持有资金的报名数", "refund_requests": "退费申请数",
    "active_enrollments": "在读报名数", "refund_window_days": "统计窗口（天）",
    "ratio_limit": "比例阈值", "signals": "信号", "reason": "原因",
    "parent_reason": "家长申请理由", "payment_reference": "付款参考号",
    "trustee_txn_id": "受托方流水号", "event_id": "事件编号", "account_no": "监管账户",
    "date": "日期", "value_date": "起息日", "direction": "方向", "reference": "摘要",
    "ledger_custody_fen": "账面应存", "statement_closing_fen": "对账单期末余额",
    "difference_fen": "差额", "count": "笔数", "missing": "缺失数据", "period": "期间",
    "from": "起", "to": "止", "sessions_affected": "涉及课次",
    "session_count": "涉及课次数", "sessions_shown": "列出课次数",
    "first_session_date": "最早课次日期", "last_session_date": "最晚课次日期",
    "sessions": "涉及课次", "limit_fen": "上限", "limit_hours": "课时上限",
    "student_unconsumed_hours": "未消课时合计", "capacity": "场所容量",
    "checked_on": "检查日期", "reused_trustee_txn_id": "被重复使用的流水号",
    "first_payment_reference": "首笔付款参考号", "first_amount_fen": "首笔金额",
}
# Evidence values that are ISO dates (the engines store them so): shown as 2026年12月3日.
DATE_KEYS = {"date", "license_valid_until", "background_checked_on", "hired_on",
             "approved_on", "due_on", "value_date", "from", "to", "first_session_date",
             "last_session_date", "ends_on_local", "checked_on"}
# Codes inside the evidence, shown in words.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "category": CATEGORY, "institution_category": CATEGORY, "mode": MODE,
    "licensed_modes": MODE, "institution_status": INSTITUTION_STATUS,
    "background_check_status": BACKGROUND, "cert_level": CERT_LEVEL,
    "required_level": CERT_LEVEL, "day_kind": DAY_KIND, "calendar_source": DAY_SOURCE,
    "band": {"small": "小班（≤10人）", "middle": "中班（11-34人）", "large": "大班（≥35人）"},
    "basis": {"subject": "科目属学科类", "keywords": "课程名称命中学科类关键词"},
    "direction": {"credit": "收入", "debit": "支出"},
    "status": {"awaiting_payment": "待缴费", "active": "在读", "completed": "已结课",
               "refunded": "已退费", "requested": "已申请", "rejected": "已拒绝",
               "instructed": "已指令受托方", "pending_confirmation": "待家长确认",
               "confirmed": "已确认", "disputed": "有异议"},
}
PERCENT_KEYS = {"float", "ratio_limit"}
# Shown in the session block or the institution line above the table: not repeated in it.
SESSION_KEYS = {"session_id", "date", "weekday", "starts_at_local", "ends_at_local",
                "ends_on_local", "course_id", "teacher_id", "course_name", "subject",
                "teacher_name"}


@dataclass
class FlagView:
    title: str
    legal_basis: str
    parameters: list[tuple[str, str]]
    session: dict[str, Any] | None
    facts: list[tuple[str, str]] = field(default_factory=list)
    institution: Institution | None = None


def show(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in DATE_KEYS and isinstance(value, str):
        return local_date(value)
    if key == "day_name" and isinstance(value, str):
        return holiday_zh(value) or "—"
    if key == "sessions" and isinstance(value, list):
        return "；".join(_session_line(item) for item in value if isinstance(item, dict))
    if key.endswith("_fen") and (isinstance(value, int) or str(value).lstrip("-").isdigit()):
        return yuan(int(value))
    if key.endswith("_fen"):
        try:  # a pro-rated ceiling may hold a fraction of a fen: whole fen, rounded down
            return yuan(math.floor(Decimal(str(value))))
        except (InvalidOperation, ValueError):
            return str(value)
    if key in PERCENT_KEYS and isinstance(value, int | float):
        return f"{value:.0%}"
    if key in VALUE_LABELS:
        words = VALUE_LABELS[key]
        if isinstance(value, list):
            return "、".join(words.get(str(v), str(v)) for v in value)
        return words.get(str(value), str(value))
    if key == "subject" and isinstance(value, str):
        return subject_name(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{EVIDENCE_LABELS.get(k, k)}：{show(k, v)}" for k, v in value.items())
    return str(value)


def _session_line(item: dict[str, Any]) -> str:
    """One session of an institution-level flag: 2026年12月1日 18:00–19:30 课程（课次#12）."""
    when = f"{local_date(item.get('date'))} {item.get('starts_at_local', '')}–" \
           f"{item.get('ends_at_local', '')}"
    return f"{when} {item.get('course_name', '')}（课次#{item.get('session_id')}）"


def _parameters(session: Session, codes: tuple[str, ...]) -> list[tuple[str, str]]:
    policy = policy_of(session)
    out = []
    for name in codes:
        try:
            value = parameter_value(policy, name)
        except KeyError:
            continue
        out.append((PARAMETER_LABELS.get(name, name), show(name, value)))
    return out


def describe_flag(session: Session, flag: Flag) -> FlagView:
    spec = CATALOGUE.get(flag.rule)
    evidence = dict(flag.evidence or {})
    view = FlagView(
        title=flag_title(flag),
        legal_basis=spec.legal_basis if spec else "（规则目录中无此规则）",
        parameters=_parameters(session, spec.parameters) if spec else [],
        session=evidence if "starts_at_local" in evidence else None,
        institution=session.get(Institution, flag.institution_id)
        if flag.institution_id else None)
    hidden = (SESSION_KEYS if view.session else set()) | (
        {"institution_name"} if view.institution else set())
    ordered = [k for k in EVIDENCE_LABELS if k in evidence]
    ordered += sorted(k for k in evidence if k not in EVIDENCE_LABELS)
    for key in ordered:
        if key in hidden or key.endswith("_id") or key == "weekday":
            continue
        view.facts.append((EVIDENCE_LABELS.get(key, key), show(key, evidence[key])))
    return view
