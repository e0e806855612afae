"""The rulebook of RULES.md as data: every code, its titles, severity, legal basis and the
config parameters it reads. The numbers themselves live in config/policy.toml ([rules] and
[prices]); `catalogue_with_parameters` shows the values in force (GET /api/v1/rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import DetectedBy, RuleSpec, Scope

_S1 = ("教监管厅函〔2021〕3号《关于进一步明确义务教育阶段校外培训学科类和非学科类范围的通知》；"
       "《义务教育阶段校外培训项目分类鉴别指南》（2021-11）")
_S2 = ("中办发〔2021〕40号《关于进一步减轻义务教育阶段学生作业负担和校外培训负担的意见》；"
       "教育部办公厅《关于进一步加强中小学生睡眠管理工作的通知》（2021-04）")
_S3 = ("教监管函〔2021〕2号《关于加强校外培训机构预收费监管工作的通知》；江苏省七部门预收费监管通知"
       "（2021-12）；十三部门《关于加强校外培训机构预收费监管的意见》（2022-12）；"
       "全国校外教育培训监管与服务综合平台实践；无锡“锡心教培”资金托管（2021-11）")
_S4 = ("发改价格〔2021〕1279号《关于加强义务教育阶段学科类校外培训收费监管的通知》；"
       "苏发改收费发〔2021〕1325号；无锡市学科类校外培训政府指导价通知（2022）")
_S5 = "教监管函〔2021〕2号（预收费全部进入监管账户）；资金托管（信托）协议的对账约定"
_S6 = ("《校外培训机构从业人员管理办法（试行）》（2021）；教监管厅函〔2023〕9号；"
       "GB 11643 公民身份号码")
_S7 = ("中办发〔2021〕40号（学科类机构统一登记为非营利性机构）；"
       "教育部令第53号《校外培训行政处罚暂行办法》（2023）")

_S10 = ("《信访工作条例》（2022）；12345政务服务便民热线办理时限惯例；"
        "十三部门《关于加强校外培训机构预收费监管的意见》（2022-12，畅通投诉渠道）")

_S11 = ("全国校外教育培训监管与服务综合平台（风险预警）；十三部门《关于加强校外培训机构预收费监管的"
        "意见》（2022-12，防范“关门跑路”风险）")

_SUBJECT = ("subject_rules_grade_min", "subject_rules_grade_max")


def _spec(code: str, zh: str, en: str, severity: str, basis: str, parameters: tuple[str, ...],
          scope: Scope, detected_by: DetectedBy = "scan") -> RuleSpec:
    return RuleSpec(code=code, title_zh=zh, title_en=en, severity=severity, legal_basis=basis,
                    parameters=parameters, scope=scope, detected_by=detected_by)


_RULES = (
    # §1 subject-type or not
    _spec("DISGUISED_SUBJECT", "以非学科类名义开展学科类培训", "Subject-type training disguised as "
          "non-subject", "high", _S1, (*_SUBJECT, "disguised_subject_keywords"), "registry"),
    _spec("CATEGORY_OUTSIDE_LICENSE", "非学科类机构开设学科类课程", "Subject-type course at a "
          "non-subject institution", "high", _S1, (), "registry"),
    # §2 when subject-type training may happen
    _spec("SUBJECT_ON_HOLIDAY", "法定节假日开展学科类培训", "Subject-type session on a statutory "
          "holiday", "high", _S2, _SUBJECT, "session"),
    _spec("SUBJECT_ON_WEEKEND", "周末开展学科类培训", "Subject-type session on a weekend", "high",
          _S2, _SUBJECT, "session"),
    _spec("SUBJECT_ON_ADJUSTED_WORKDAY", "调休上班日（周末）开展学科类培训",
          "Subject-type session on a weekend adjusted working day", "low", _S2, _SUBJECT,
          "session"),
    _spec("SUBJECT_IN_VACATION", "寒暑假开展学科类培训", "Subject-type session in the winter or "
          "summer vacation", "high", _S2, _SUBJECT, "session"),
    _spec("ONLINE_SESSION_TOO_LONG", "线上培训单次课时超过30分钟", "Online session too long",
          "medium", _S2, (*_SUBJECT, "online_session_max_minutes"), "session"),
    _spec("ONLINE_INTERVAL_TOO_SHORT", "线上培训课程间隔不足10分钟", "Too short a break between "
          "online sessions", "medium", _S2, (*_SUBJECT, "online_interval_min_minutes"),
          "session"),
    _spec("LATE_END_ONLINE", "线上培训结束时间晚于21:00", "Online session ends too late",
          "medium", _S2, (*_SUBJECT, "late_end_online"), "session"),
    _spec("LATE_END_OFFLINE", "线下培训结束时间晚于20:30", "Offline session ends too late",
          "medium", _S2, (*_SUBJECT, "late_end_offline"), "session"),
    _spec("PRESCHOOL_ONLINE", "面向学龄前儿童的线上培训", "Online training for preschool children",
          "high", _S2, (), "registry"),
    _spec("PRESCHOOL_SUBJECT", "面向学龄前儿童的学科类（含外语）培训", "Subject-type training "
          "(foreign languages included) for preschool children", "high", _S2, (), "registry"),
    _spec("CALENDAR_DATA_MISSING", "节假日或校历数据缺失", "Calendar data missing", "low", _S2,
          (), "session"),
    # §3 fees, pre-payment and escrow
    _spec("PREPAY_OVER_HOURS", "一次性预收超过60课时", "Pre-payment over the class-hour cap",
          "high", _S3, ("prepay_max_class_hours",), "escrow"),
    _spec("PREPAY_OVER_AMOUNT", "一次性预收超过5000元", "Pre-payment over the amount cap", "high",
          _S3, ("prepay_max_amount_fen",), "escrow"),
    _spec("CONSUMPTION_DISPUTED", "家长对课消有异议", "Consumption disputed by the parent",
          "medium", _S3, ("consumption_auto_confirm_working_days",), "escrow", "event"),
    _spec("REFUND_REJECTED", "机构拒绝退费申请", "Refund request rejected by the institution",
          "medium", _S3, ("refund_auto_approve_working_days",), "escrow", "event"),
    _spec("REFUND_OVERDUE", "已批准退费逾期未执行", "Approved refund not executed in time",
          "high", _S3, ("refund_execution_working_days",), "escrow"),
    _spec("ABSCONDING_SIGNAL", "机构疑似“跑路”信号", "Absconding signal", "critical", _S3,
          ("absconding_idle_days", "absconding_refund_ratio", "absconding_refund_window_days"),
          "escrow"),
    # §4 prices
    _spec("PRICE_ABOVE_GUIDE", "收费超过政府指导价上限", "Price above the government-guided "
          "ceiling", "high", _S4,
          (*_SUBJECT, "standard_minutes_offline", "standard_minutes_online", "small_class_max",
           "large_class_min", "offline_small_benchmark_fen", "offline_middle_benchmark_fen",
           "offline_large_benchmark_fen", "online_benchmark_fen", "offline_float",
           "online_float"), "registry"),
    # §5 money in custody (raised by reconciliation and deposits, never by the scan)
    _spec("FUND_UNMATCHED_DEPOSIT", "未匹配的入账（挂账）", "Unmatched deposit", "critical", _S5,
          (), "escrow", "event"),
    _spec("FUND_MISSING_IN_STATEMENT", "托管对账单缺少账务流水", "Ledger movement missing from the "
          "trustee statement", "high", _S5, (), "escrow", "event"),
    _spec("FUND_SHORTFALL", "托管账户余额不足", "Custody account shortfall", "critical", _S5, (),
          "escrow", "event"),
    # §6 teachers
    _spec("TEACHER_UNQUALIFIED", "学科类培训教师无相应教师资格", "Teacher without a qualifying "
          "certificate", "high", _S6, (), "session"),
    _spec("INSERVICE_TEACHER", "中小学在职教师在校外培训机构任职", "In-service school teacher "
          "employed", "critical", _S6, (), "registry"),
    _spec("STAFF_BLACKLISTED", "从业人员在黑名单中", "Blacklisted staff member", "critical", _S6,
          (), "registry"),
    _spec("STAFF_BACKGROUND_MISSING", "从业人员背景查询缺失或过期",
          "Staff background check missing or stale", "critical", _S6,
          ("background_check_max_age_days",), "registry"),
    # §7 institutions
    _spec("NOT_NONPROFIT", "学科类机构未登记为非营利性", "Subject-type institution not registered "
          "as non-profit", "critical", _S7, ("nonprofit_uscc_prefix",), "registry"),
    _spec("UNLICENSED_OPERATION", "办学许可证过期仍在开课", "Sessions while the licence has "
          "expired", "critical", _S7, (), "session"),
    _spec("LICENSE_EXPIRING", "办学许可证即将到期", "Licence expiring soon", "low", _S7,
          ("license_expiring_days",), "registry"),
    _spec("OPERATING_WHILE_SUSPENDED", "停业整顿或吊销期间仍在开课或招生", "Operating while "
          "suspended or revoked", "critical", _S7, (), "session"),
    _spec("MODE_OUTSIDE_LICENSE", "超出许可的办学形式（线下转线上等）", "Teaching mode outside "
          "the licence", "high", _S7, (), "session"),
    _spec("VENUE_UNREGISTERED", "线下培训不在登记的培训场所", "Offline session at no registered "
          "venue", "high", _S7, (), "session"),
    _spec("VENUE_OVER_CAPACITY", "在读人数超过场所容量", "Active enrollments over the venue's "
          "capacity", "medium", _S7, (), "escrow"),
    # §10 complaints (judged whole every run: they clear once answered, closed or calmed)
    _spec("COMPLAINT_UNANSWERED", "投诉逾期未答复", "Complaint not answered in time", "medium",
          _S10, ("complaint_respond_working_days",), "registry"),
    _spec("COMPLAINT_OVERDUE", "投诉逾期未办结", "Complaint not closed in time", "high", _S10,
          ("complaint_due_working_days",), "registry"),
    _spec("COMPLAINTS_SURGE", "机构短期内投诉集中", "Surge of complaints about one institution",
          "high", _S10, ("complaints_surge_count", "complaints_surge_days"), "registry"),
    # §11 risk early warning: raised and cleared by the risk run (supervision/risk), which
    # judges every institution with money in custody; a compliance run never touches it.
    _spec("RISK_HIGH", "机构风险评分达到高风险", "Institution's risk score is high", "critical",
          _S11, (), "registry", "event"),
)

CATALOGUE: dict[str, RuleSpec] = {spec.code: spec for spec in _RULES}


def parameter_value(policy: Mapping[str, Any], name: str) -> Any:
    """A rule parameter from the policy's [rules] or [prices] table (names are unique)."""
    for table in ("rules", "prices"):
        section = policy.get(table, {})
        if name in section:
            return section[name]
    raise KeyError(f"rule parameter {name!r} is missing from config/policy.toml")


def title(spec: RuleSpec) -> str:
    return f"{spec.title_zh} / {spec.title_en}"


def catalogue_with_parameters(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The catalogue with the parameter values in force, in RULES.md order."""
    return [{"code": spec.code, "title": title(spec), "severity": spec.severity,
             "legal_basis": spec.legal_basis,
             "parameters": {name: parameter_value(policy, name) for name in spec.parameters}}
            for spec in CATALOGUE.values()]
