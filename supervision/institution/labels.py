"""How the records read to a clerk: the services' codes in Chinese."""

from __future__ import annotations

BACKGROUND = {"clear": "无异常", "pending": "审查中", "hit": "有记录"}
EMPLOYMENT = {"full_time": "全职", "part_time": "兼职"}
CERT_LEVEL = {"kindergarten": "幼儿园", "primary": "小学", "junior": "初中", "senior": "高中",
              "vocational": "中职", "vocational_practice": "中职实习指导", "higher": "高校"}
MODE = {"online": "线上", "offline": "线下"}
CATEGORY = {"subject": "学科类", "non_subject": "非学科类"}
SESSION_STATUS = {"scheduled": "已排课", "cancelled": "已取消"}
FLAG_STATUS = {"open": "待监管部门处理", "acknowledged": "监管部门已受理",
               "rectification_ordered": "责令整改（请回复）",
               "rectification_submitted": "已提交整改，待监管部门复核", "resolved": "已办结",
               "dismissed": "已撤销", "cleared": "已消除"}
WEEKDAYS = "一二三四五六日"
REFUND_STATUS = {"requested": "待机构处理", "rejected": "已拒绝",
                 "instructed": "已同意，已向托管银行发出退款指令", "completed": "已退回家长"}
INSTRUCTION_STATUS = {"pending": "待发送", "sent": "已发送托管银行", "executed": "已到账",
                      "failed": "失败（将重试）"}
ESCROW_MODE = {"trust": "资金信托", "bank_custody": "银行存管", "risk_reserve": "风险保证金"}
INSTITUTION_STATUS = {"active": "正常经营", "suspended": "暂停", "revoked": "吊销"}
IMPORT_KIND = {"teachers": "从业人员", "courses": "课程", "sessions": "排课（一学期课次）"}


def label(mapping: dict[str, str], code: str | None) -> str:
    return "—" if code is None else mapping.get(code, code)
