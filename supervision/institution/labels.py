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


def label(mapping: dict[str, str], code: str | None) -> str:
    return "—" if code is None else mapping.get(code, code)
