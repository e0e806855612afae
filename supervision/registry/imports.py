"""Spreadsheet import (API.md §3): teachers, courses or a term's sessions from one .xlsx/.csv.

A front desk keeps its records in a spreadsheet. Each row goes through the very checks of the
JSON create calls (`new_teacher`, `new_course`, `new_session`); the only work done here is to
read the file and turn cells into the values those calls take. All or nothing: every failing
row is reported as `errors.rows` = [{"line", "column", "message"}] and nothing is written.

Speed (5,000 rows within 10 s): the ids a file refers to are looked up in one query per kind
of object, never one per row, and the new rows go to the database in one flush.

Entry points: `import_rows(session, actor, kind, filename, data) -> ImportResult` and
`template(kind, fmt) -> Template`. The API and the institutions' portal both call them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import BigInteger, select
from sqlalchemy.orm import Session

from ..access.policy import require_role
from ..access.scope import Actor, get_in_scope
from ..clock import SHANGHAI
from ..db import fits_bigint
from ..errors import Invalid, NotFound
from ..models import ClassSession, Course, Institution, Teacher, Venue
from ..text import forbidden_char_message
from ._checks import Errors
from .courses import new_course, new_session, own_ids, own_teachers, require_may_schedule
from .teachers import new_teacher

KINDS = ("teachers", "courses", "sessions")
FORMATS = ("xlsx", "csv")
MAX_ROWS = 5000
# Far more than any template has: a sheet with thousands of columns is not read cell by cell.
MAX_COLUMNS = 64
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv"  # Flask adds "; charset=utf-8"
UNREADABLE = "not a readable .xlsx/.csv file"
INT32 = 2**31 - 1


@dataclass(frozen=True)
class Column:
    field: str  # the JSON field name of the create call
    label: str  # the template's Chinese header
    parse: str  # text | int | bool | date | datetime
    model: type[Any]  # whose column bounds the value (length, integer range)


def _columns(model: type[Any], spec: str) -> tuple[Column, ...]:
    out = []
    for line in spec.strip().splitlines():
        field, label, kind = line.split()
        out.append(Column(field, label, kind, model))
    return tuple(out)


COLUMNS: dict[str, tuple[Column, ...]] = {
    "teachers": _columns(Teacher, """
        name 姓名 text
        id_number 身份证号 text
        qualification_cert_no 教师资格证号 text
        cert_level 资格证学段 text
        cert_subject 资格证学科 text
        is_inservice_school_teacher 是否在职中小学教师 bool
        background_check_status 背景审查状态 text
        background_checked_on 背景审查日期 date
        employment 用工形式 text
        hired_on 入职日期 date
    """),
    "courses": _columns(Course, """
        name 课程名称 text
        subject 学科 text
        category 类别 text
        grade_min 最低年级 int
        grade_max 最高年级 int
        mode 授课方式 text
        class_size 班额 int
        minutes_per_class_hour 每课时分钟数 int
        price_per_class_hour_fen 课时单价（分） int
        venue_id 场地编号 int
    """),
    "sessions": _columns(ClassSession, """
        course_id 课程编号 int
        starts_at 开始时间 datetime
        ends_at 结束时间 datetime
        teacher_id 教师编号 int
        venue_id 场地编号 int
    """),
}

# A clerk may write the codes' Chinese names; anything else goes to the service as written
# (and is refused there with the list of codes).
ALIASES: dict[str, dict[str, str]] = {
    "mode": {"线上": "online", "线下": "offline"},
    "employment": {"全职": "full_time", "专职": "full_time", "兼职": "part_time"},
    "background_check_status": {"通过": "clear", "无异常": "clear", "待查": "pending",
                                "审查中": "pending", "有记录": "hit"},
    "category": {"学科类": "subject", "非学科类": "non_subject"},
    "cert_level": {"幼儿园": "kindergarten", "小学": "primary", "初中": "junior",
                   "高中": "senior", "中职": "vocational", "中职实习指导": "vocational_practice",
                   "高校": "higher"},
}
TRUE_WORDS = frozenset({"是", "true", "1", "yes", "y"})
FALSE_WORDS = frozenset({"否", "false", "0", "no", "n"})

# The services speak English to API clients; the front desk reads Chinese.
MESSAGES = {
    "required": "必填",
    "must be a date, YYYY-MM-DD": "必须是日期，格式 YYYY-MM-DD",
    "must not be below grade_min": "不能低于最低年级",
    "not a venue of this institution": "不是本机构的场地",
    "not a teacher of this institution": "不是本机构的教师",
    "required, with a UTC offset": "必填，须是日期时间",
    "must be after starts_at": "必须晚于开始时间",
    'not a subject of the catalogue (use "other")': "不是目录中的学科（其他学科填 other）",
    "must be 17 digits and a check character (digit or X)": "应为17位数字加1位校验码（数字或X）",
    "the birth date is not a real date": "出生日期不存在",
    "the birth date is out of range": "出生日期超出范围",
    "the check character is wrong": "校验码不正确",
    "must be 17 digits": "应为17位数字",
    "the year is out of range": "年份超出范围",
    "the type digit (10th) must be 1 to 7": "第10位（资格种类）应为1至7",
}
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"must be one of: (.*)"), "必须是以下之一：{0}"),
    (re.compile(r"must be between (\S+) and (\S+)"), "必须在 {0} 到 {1} 之间"),
    (re.compile(r"must be at least (\S+)"), "不能小于 {0}"),
    (re.compile(r"the certificate number is of level (\S+)"), "与证书号的学段（{0}）不符"),
]


def chinese(message: str) -> str:
    if message in MESSAGES:
        return MESSAGES[message]
    for pattern, text in PATTERNS:
        found = pattern.fullmatch(message)
        if found:
            return text.format(*found.groups())
    return message


@dataclass(frozen=True)
class ImportResult:
    kind: str
    created: int
    ids: list[int]


@dataclass(frozen=True)
class Template:
    content: bytes
    content_type: str
    filename: str


@dataclass
class Row:
    line: int
    values: dict[str, Any]  # field → value, converted for the service
    unreadable: set[str]  # fields whose cell could not be converted (already reported)


class Rejection:
    """The row errors of a file, collected before raising once."""

    def __init__(self, headers: dict[str, str], kind: str) -> None:
        self.rows: list[dict[str, Any]] = []
        self.headers = headers  # field → the header text as the file gives it
        self.labels = {c.field: c.label for c in COLUMNS[kind]}

    def add(self, line: int, field: str | None, message: str) -> None:
        column = self.headers.get(field or "") or self.labels.get(field or "", field or "")
        self.rows.append({"line": line, "column": column, "message": chinese(message)})

    def add_invalid(self, row: Row, error: Invalid, prefix: str = "") -> None:
        if not error.errors:
            self.add(row.line, None, error.message)
        for key, messages in error.errors.items():
            field = key.removeprefix(prefix)
            if field in row.unreadable:
                continue  # its cell's own problem is reported, not a "required" after it
            for message in messages:
                self.add(row.line, field, message)

    def raise_if_any(self) -> None:
        if self.rows:
            self.rows.sort(key=lambda r: r["line"])
            errors: dict[str, list[Any]] = {"rows": self.rows}
            raise Invalid(f"{len({r['line'] for r in self.rows})} row(s) of the file are not "
                          "valid: nothing was imported", errors=errors)


def import_rows(session: Session, actor: Actor, kind: str, filename: str,
                data: bytes) -> ImportResult:
    """Create the calling institution's teachers, courses or sessions from one file.

    Raises Invalid (nothing written) with `errors.rows` when any row fails, or with
    `errors.file` when the file cannot be read, has no rows or more than MAX_ROWS."""
    require_role(actor, "institution")
    if actor.institution_id is None:
        raise Invalid("an institution imports its own records")
    columns = _kind_columns(kind)
    header, lines = _read(filename, data)
    fields, rejection = _resolve_header(kind, columns, header)
    rows = _rows(columns, fields, lines, rejection)
    if not rows and not rejection.rows:
        raise Invalid.field("file", "no rows")
    build = {"teachers": _teachers, "courses": _courses, "sessions": _sessions}[kind]
    objects = build(session, actor, actor.institution_id, rows, rejection)
    rejection.raise_if_any()
    session.add_all(objects)
    # One flush: the ORM sends the rows as multi-row INSERT ... RETURNING statements.
    session.flush()
    return ImportResult(kind=kind, created=len(objects), ids=[o.id for o in objects])


def template(kind: str, fmt: str) -> Template:
    """The empty file to fill in: the Chinese header row only."""
    labels = [c.label for c in _kind_columns(kind)]
    name = f"import-{kind}.{fmt}"
    if fmt == "csv":
        # With a BOM, so that Excel opens the Chinese headers as UTF-8.
        return Template((",".join(labels) + "\r\n").encode("utf-8-sig"), CSV_TYPE, name)
    if fmt != "xlsx":
        raise Invalid.field("format", f"must be one of: {', '.join(FORMATS)}")
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = kind
    sheet.append(labels)
    for i in range(len(labels)):
        sheet.column_dimensions[get_column_letter(i + 1)].width = 18
    out = io.BytesIO()
    book.save(out)
    return Template(out.getvalue(), XLSX_TYPE, name)


def _kind_columns(kind: str) -> tuple[Column, ...]:
    if kind not in COLUMNS:
        raise NotFound("import kind")
    return COLUMNS[kind]


# --- reading the file ------------------------------------------------------------------------

Lines = Iterator[tuple[int, Sequence[Any]]]


def _read(filename: str, data: bytes) -> tuple[Sequence[Any], Lines]:
    """The header row and an iterator of (line number, cells) after it."""
    if data.startswith(b"PK\x03\x04") or filename.lower().endswith(".xlsx"):
        lines = _xlsx_lines(data)
    else:
        lines = _csv_lines(data)
    first = next(lines, None)
    if first is None or not any(_blank(v) is False for v in first[1]):
        raise Invalid.field("file", "the first row must name the columns")
    return first[1], lines


def _xlsx_lines(data: bytes) -> Lines:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
    # openpyxl reports a broken workbook with whatever its zip and XML layers raise.
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, OSError,
            AttributeError) as error:
        raise Invalid.field("file", UNREADABLE) from error
    try:
        yield from enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), 1)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError,
            AttributeError) as error:
        raise Invalid.field("file", UNREADABLE) from error
    finally:
        book.close()


def _csv_lines(data: bytes) -> Lines:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Invalid.field("file", UNREADABLE) from error
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for cells in reader:
            yield line, cells[:MAX_COLUMNS]
            line = reader.line_num + 1  # a quoted cell may span lines
    except csv.Error as error:
        raise Invalid.field("file", UNREADABLE) from error


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resolve_header(kind: str, columns: tuple[Column, ...],
                    header: Sequence[Any]) -> tuple[list[Column | None], Rejection]:
    by_name = {c.field: c for c in columns} | {c.label: c for c in columns}
    fields: list[Column | None] = []
    given: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for cell in header:
        text = "" if cell is None else str(cell).strip()
        column = by_name.get(text)
        if text and column is None:
            problems.append((text, "未知的列，可用：" + "、".join(c.label for c in columns)))
        elif column is not None and column.field in given:
            problems.append((text, "重复的列"))
        elif column is not None:
            given[column.field] = text
        fields.append(column)
    rejection = Rejection(given, kind)
    for text, message in problems:
        rejection.rows.append({"line": 1, "column": text, "message": message})
    rejection.raise_if_any()
    return fields, rejection


def _rows(columns: tuple[Column, ...], fields: list[Column | None], lines: Lines,
          rejection: Rejection) -> list[Row]:
    rows: list[Row] = []
    for line, cells in lines:
        if all(_blank(v) for v in cells):
            continue
        if len(rows) == MAX_ROWS:
            raise Invalid.field("file", f"at most {MAX_ROWS} rows in one file")
        values: dict[str, Any] = dict.fromkeys((c.field for c in columns if
                                                c.field in rejection.headers), None)
        unreadable: set[str] = set()
        for i, cell in enumerate(cells):
            column = fields[i] if i < len(fields) else None
            if column is None:
                if not _blank(cell):
                    rejection.add(line, f"第{i + 1}列", "这一列没有表头")
                continue
            try:
                values[column.field] = _convert(column, cell)
            except ValueError as error:
                rejection.add(line, column.field, str(error))
                unreadable.add(column.field)
        rows.append(Row(line, values, unreadable))
    return rows


def _convert(column: Column, cell: Any) -> Any:
    """A cell as the create call takes it; ValueError (in Chinese) when it cannot be."""
    if _blank(cell):
        return None
    if isinstance(cell, str):
        cell = cell.strip()
        problem = forbidden_char_message(cell)
        if problem:
            raise ValueError("含有不允许的字符（控制字符、零宽字符等）")
    converter = _CONVERTERS[column.parse]
    return converter(column, cell)


def _text(column: Column, cell: Any) -> Any:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # a number typed into a cell (a certificate number)
    if isinstance(cell, dt.datetime | dt.date):
        raise ValueError("应为文字，不是日期")
    text = str(cell)
    text = ALIASES.get(column.field, {}).get(text, text)
    sql_column = column.model.__table__.c.get(column.field)
    length = getattr(sql_column.type, "length", None) if sql_column is not None else None
    if length is not None and len(text) > length:
        raise ValueError(f"不能超过 {length} 个字")
    return text


def _int(column: Column, cell: Any) -> int:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, str) and re.fullmatch(r"[+-]?\d{1,20}", cell):
        cell = int(cell)
    if isinstance(cell, bool) or not isinstance(cell, int):
        raise ValueError("必须是整数")
    sql_column = column.model.__table__.c.get(column.field)
    wide = sql_column is not None and isinstance(sql_column.type, BigInteger)
    if not (fits_bigint(cell) if wide else -INT32 - 1 <= cell <= INT32):
        raise ValueError("数值超出范围")
    return cell


def _bool(column: Column, cell: Any) -> bool:
    if isinstance(cell, bool):
        return cell
    word = str(int(cell) if isinstance(cell, float) and cell.is_integer() else cell).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("应填“是”或“否”")


def _date(column: Column, cell: Any) -> Any:
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    return str(cell)  # the service reads YYYY-MM-DD and refuses the rest


def _datetime(column: Column, cell: Any) -> dt.datetime:
    if isinstance(cell, str):
        try:
            cell = dt.datetime.fromisoformat(cell)
        except ValueError:
            raise ValueError("必须是日期时间，如 2026-12-07 19:00") from None
    if not isinstance(cell, dt.datetime):
        raise ValueError("必须是日期时间，如 2026-12-07 19:00")
    # A spreadsheet's times are the wall clock of the city (Asia/Shanghai) unless they say.
    return cell if cell.tzinfo is not None else cell.replace(tzinfo=SHANGHAI)


_CONVERTERS: dict[str, Callable[[Column, Any], Any]] = {
    "text": _text, "int": _int, "bool": _bool, "date": _date, "datetime": _datetime}


# --- checking the rows through the services --------------------------------------------------

def _teachers(session: Session, actor: Actor, institution_id: int, rows: list[Row],
              rejection: Rejection) -> list[Any]:
    out = []
    for row in rows:
        try:
            out.append(new_teacher(session, actor, row.values))
        except Invalid as error:
            rejection.add_invalid(row, error)
    return out


def _courses(session: Session, actor: Actor, institution_id: int, rows: list[Row],
             rejection: Rejection) -> list[Any]:
    institution = get_in_scope(session, actor, Institution, institution_id)
    venues = own_ids(session, Venue, institution.id, {r.values.get("venue_id") for r in rows})
    out = []
    for row in rows:
        try:
            out.append(new_course(session, institution.id, row.values, own_venues=venues))
        except Invalid as error:
            rejection.add_invalid(row, error)
    return out


def _sessions(session: Session, actor: Actor, institution_id: int, rows: list[Row],
              rejection: Rejection) -> list[Any]:
    institution = get_in_scope(session, actor, Institution, institution_id)
    require_may_schedule(institution)
    wanted = {r.values.get("course_id") for r in rows} - {None}
    courses = {c.id: c for c in session.scalars(select(Course).where(
        Course.id.in_(wanted), Course.institution_id == institution.id))}
    teachers = own_teachers(session, institution.id, {r.values.get("teacher_id")
                                                      for r in rows})
    venues = own_ids(session, Venue, institution.id, {r.values.get("venue_id") for r in rows})
    out = []
    for row in rows:
        item = dict(row.values)
        course_id = item.pop("course_id", None)
        course = courses.get(course_id) if isinstance(course_id, int) else None
        if course is None and "course_id" not in row.unreadable:
            rejection.add(row.line, "course_id",
                          "required" if course_id is None else "不是本机构的课程")
        if course is None:
            continue
        errors: Errors = {}
        made = new_session(course, 0, item, teachers, venues, errors)
        if errors:
            rejection.add_invalid(row, Invalid("", errors=errors), prefix="sessions.0.")
        else:
            out.append(made)
    return out
