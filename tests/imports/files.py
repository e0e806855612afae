"""Building the files a front desk would upload: .xlsx workbooks and .csv texts."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

from supervision.clock import SHANGHAI

from ..support.registry_bodies import new_cert_no, new_id_number

TEACHER_LABELS = ["姓名", "身份证号", "教师资格证号", "资格证学科", "是否在职中小学教师",
                  "背景审查状态", "背景审查日期", "用工形式", "入职日期"]
TEACHER_FIELDS = ["name", "id_number", "qualification_cert_no", "cert_subject",
                  "is_inservice_school_teacher", "background_check_status",
                  "background_checked_on", "employment", "hired_on"]
COURSE_LABELS = ["课程名称", "学科", "类别", "最低年级", "最高年级", "授课方式", "班额",
                 "课时单价（分）"]
COURSE_FIELDS = ["name", "subject", "category", "grade_min", "grade_max", "mode", "class_size",
                 "price_per_class_hour_fen"]
SESSION_LABELS = ["课程编号", "开始时间", "结束时间", "教师编号"]
SESSION_FIELDS = ["course_id", "starts_at", "ends_at", "teacher_id"]
FIRST_CLASS = dt.datetime(2027, 3, 1, 18, 0)  # a Monday of the spring term, Shanghai time


def teacher_row(n: int = 0, **kw: Any) -> list[Any]:
    values: dict[str, Any] = {
        "name": f"李老师{n}", "id_number": new_id_number(),
        "qualification_cert_no": new_cert_no("3"), "cert_subject": "math",
        "is_inservice_school_teacher": "否", "background_check_status": "clear",
        "background_checked_on": "2026-01-10", "employment": "full_time",
        "hired_on": "2026-02-01"}
    values.update(kw)
    return [values[f] for f in TEACHER_FIELDS]


def course_row(n: int = 0, **kw: Any) -> list[Any]:
    values: dict[str, Any] = {
        "name": f"初一数学培优{n}", "subject": "math", "category": "subject", "grade_min": 7,
        "grade_max": 7, "mode": "offline", "class_size": 20, "price_per_class_hour_fen": 4000}
    values.update(kw)
    return [values[f] for f in COURSE_FIELDS]


def session_row(course_id: int, teacher_id: int, n: int = 0, *, text: bool = False,
                **kw: Any) -> list[Any]:
    """Session `n`, a week after session n-1; naive times (a spreadsheet's wall clock)."""
    starts = FIRST_CLASS + dt.timedelta(days=7 * (n % 700), minutes=n // 700)
    values: dict[str, Any] = {"course_id": course_id, "teacher_id": teacher_id,
                              "starts_at": starts, "ends_at": starts + dt.timedelta(minutes=90)}
    if text:
        values["starts_at"] = starts.strftime("%Y-%m-%d %H:%M")
        values["ends_at"] = (starts + dt.timedelta(minutes=90)).isoformat() + "+08:00"
    values.update(kw)
    return [values[f] for f in SESSION_FIELDS]


def xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]], *, bom: bool = False) -> bytes:
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row)
                                  for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig" if bom else "utf-8")


def local(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=SHANGHAI)
