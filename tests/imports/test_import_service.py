"""The spreadsheet import service: each kind from .xlsx and .csv, all or nothing, in Chinese."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.errors import Forbidden, Invalid, NotFound, RuleViolation
from supervision.models import ClassSession, Course, Institution, Teacher
from supervision.registry.imports import MAX_ROWS, import_rows, template

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import audit_count, count
from .files import (
    COURSE_FIELDS,
    COURSE_LABELS,
    FIRST_CLASS,
    SESSION_FIELDS,
    SESSION_LABELS,
    TEACHER_FIELDS,
    TEACHER_LABELS,
    course_row,
    csv_text,
    local,
    session_row,
    teacher_row,
    xlsx,
)


def run(db: Session, inst: Institution, kind: str, filename: str, data: bytes) -> Any:
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        return import_rows(db, actor, kind, filename, data)


def refused(db: Session, inst: Institution, kind: str, filename: str, data: bytes) -> Invalid:
    before = audit_count(db), count(db, Teacher), count(db, Course), count(db, ClassSession)
    with pytest.raises(Invalid) as caught:
        run(db, inst, kind, filename, data)
    after = audit_count(db), count(db, Teacher), count(db, Course), count(db, ClassSession)
    assert after == before  # nothing written, not even an audit row
    return caught.value


# --- each kind, each format ----------------------------------------------------------------

@pytest.mark.parametrize("header", [TEACHER_LABELS, TEACHER_FIELDS], ids=["labels", "fields"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv", "csv-bom"])
def test_teachers_import_from_xlsx_and_csv_by_labels_or_field_names(
        db: Session, make: Factory, header: list[str], fmt: str) -> None:
    inst = make.institution()
    rows = [teacher_row(n) for n in range(3)]
    data = xlsx(header, rows) if fmt == "xlsx" else csv_text(header, rows, bom=fmt == "csv-bom")
    result = run(db, inst, "teachers", f"staff.{fmt[:4]}", data)
    assert (result.kind, result.created) == ("teachers", 3)
    teachers = db.scalars(select(Teacher).where(Teacher.id.in_(result.ids))
                          .order_by(Teacher.id)).all()
    assert [t.name for t in teachers] == ["李老师0", "李老师1", "李老师2"]
    first = teachers[0]
    assert first.institution_id == inst.id
    assert first.id_number_masked == rows[0][1][:4] + "*" * 10 + rows[0][1][-4:]
    assert first.cert_level == "junior"  # derived from the certificate, as the API does
    assert first.hired_on == dt.date(2026, 2, 1)
    assert first.is_inservice_school_teacher is False


@pytest.mark.parametrize("header", [COURSE_LABELS, COURSE_FIELDS], ids=["labels", "fields"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv", "csv-bom"])
def test_courses_import_from_xlsx_and_csv_by_labels_or_field_names(
        db: Session, make: Factory, header: list[str], fmt: str) -> None:
    inst = make.institution()
    rows = [course_row(0), course_row(1, mode="线上", price_per_class_hour_fen=3500)]
    data = xlsx(header, rows) if fmt == "xlsx" else csv_text(header, rows, bom=fmt == "csv-bom")
    result = run(db, inst, "courses", f"courses.{fmt[:4]}", data)
    assert result.created == 2
    courses = db.scalars(select(Course).where(Course.id.in_(result.ids))
                         .order_by(Course.id)).all()
    assert [(c.name, c.mode, c.price_per_class_hour_fen, c.minutes_per_class_hour)
            for c in courses] == [("初一数学培优0", "offline", 4000, 45),
                                  ("初一数学培优1", "online", 3500, 30)]
    assert {c.institution_id for c in courses} == {inst.id}


@pytest.mark.parametrize("header", [SESSION_LABELS, SESSION_FIELDS], ids=["labels", "fields"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv", "csv-bom"])
def test_a_terms_sessions_import_from_xlsx_and_csv_in_shanghai_time(
        db: Session, make: Factory, header: list[str], fmt: str) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    rows = [session_row(course.id, teacher.id, n, text=fmt != "xlsx") for n in range(16)]
    data = xlsx(header, rows) if fmt == "xlsx" else csv_text(header, rows, bom=fmt == "csv-bom")
    result = run(db, inst, "sessions", f"term.{fmt[:4]}", data)
    assert result.created == 16
    made = db.scalars(select(ClassSession).where(ClassSession.id.in_(result.ids))
                      .order_by(ClassSession.starts_at)).all()
    assert made[0].starts_at == local(FIRST_CLASS)
    assert made[-1].starts_at == local(FIRST_CLASS + dt.timedelta(weeks=15))
    assert made[0].ends_at - made[0].starts_at == dt.timedelta(minutes=90)
    assert {(s.course_id, s.teacher_id, s.institution_id, s.status) for s in made} == {
        (course.id, teacher.id, inst.id, "scheduled")}


# --- all or nothing ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_one_bad_teacher_row_writes_nothing_and_names_its_line_column_and_reason(
        db: Session, make: Factory, fmt: str) -> None:
    inst = make.institution()
    rows = [teacher_row(n) for n in range(4)]
    rows[2][1] = rows[2][1][:-1] + ("0" if rows[2][1][-1] != "0" else "1")  # check character
    rows[3][7] = "临时工"
    data = xlsx(TEACHER_LABELS, rows) if fmt == "xlsx" else csv_text(TEACHER_LABELS, rows)
    error = refused(db, inst, "teachers", f"staff.{fmt}", data)
    assert error.errors == {"rows": [
        {"line": 4, "column": "身份证号", "message": "校验码不正确"},
        {"line": 5, "column": "用工形式", "message": "必须是以下之一：full_time, part_time"}]}


def test_a_bad_course_row_is_refused_with_the_header_as_the_file_spells_it(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    rows = [course_row(0), course_row(1, grade_min=9, grade_max=7), course_row(2, name="")]
    error = refused(db, inst, "courses", "c.csv", csv_text(COURSE_FIELDS, rows))
    assert error.errors["rows"] == [
        {"line": 3, "column": "grade_max", "message": "不能低于最低年级"},
        {"line": 4, "column": "name", "message": "必填"}]


def test_another_institutions_teacher_in_a_sessions_file_is_a_row_error(
        db: Session, make: Factory) -> None:
    inst, other = make.institution(), make.institution()
    course, own, foreign = make.course(inst), make.teacher(inst), make.teacher(other)
    foreign_course = make.course(other)
    rows = [session_row(course.id, own.id, 0), session_row(course.id, foreign.id, 1),
            session_row(foreign_course.id, own.id, 2)]
    error = refused(db, inst, "sessions", "term.xlsx", xlsx(SESSION_LABELS, rows))
    assert error.errors["rows"] == [
        {"line": 3, "column": "教师编号", "message": "不是本机构的教师"},
        {"line": 4, "column": "课程编号", "message": "不是本机构的课程"}]


def test_a_session_ending_before_it_starts_or_with_a_bad_time_is_a_row_error(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    rows = [session_row(course.id, teacher.id, 0, ends_at=FIRST_CLASS - dt.timedelta(hours=1)),
            session_row(course.id, teacher.id, 1, starts_at="下周一晚上")]
    error = refused(db, inst, "sessions", "term.xlsx", xlsx(SESSION_LABELS, rows))
    assert error.errors["rows"] == [
        {"line": 2, "column": "结束时间", "message": "必须晚于开始时间"},
        {"line": 3, "column": "开始时间", "message": "必须是日期时间，如 2026-12-07 19:00"}]


def test_a_suspended_institution_may_not_import_sessions(db: Session, make: Factory) -> None:
    inst = make.institution(status="suspended")
    course, teacher = make.course(inst), make.teacher(inst)
    with pytest.raises(RuleViolation) as caught:
        run(db, inst, "sessions", "t.csv",
            csv_text(SESSION_FIELDS, [session_row(course.id, teacher.id, text=True)]))
    assert caught.value.rule == "INSTITUTION_NOT_ACTIVE"
    assert count(db, ClassSession) == 0


def test_an_unknown_or_repeated_column_is_named_on_line_one(db: Session, make: Factory) -> None:
    inst = make.institution()
    header = [*COURSE_LABELS, "备注", "name"]
    error = refused(db, inst, "courses", "c.csv",
                    csv_text(header, [[*course_row(0), "x", "y"]]))
    rows = cast(list[dict[str, Any]], error.errors["rows"])
    assert [(r["line"], r["column"]) for r in rows] == [(1, "备注"), (1, "name")]
    assert rows[0]["message"].startswith("未知的列")
    assert rows[1]["message"] == "重复的列"


def test_a_csv_line_number_counts_blank_lines_and_multi_line_cells(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    good, bad = course_row(0), course_row(1, class_size=0)
    text = (",".join(COURSE_FIELDS) + "\n\n" + ",".join(map(str, good)).replace(
        "初一数学培优0", '"初一数学\n培优"') + "\n" + ",".join(map(str, bad)) + "\n")
    error = refused(db, inst, "courses", "c.csv", text.encode())
    assert error.errors["rows"] == [{"line": 5, "column": "class_size",
                                     "message": "不能小于 1"}]


def test_a_control_character_in_a_cell_is_refused_with_its_column(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    error = refused(db, inst, "courses", "c.csv",
                    csv_text(COURSE_LABELS, [course_row(0, name="初一\x00数学")]))
    assert error.errors["rows"] == [{"line": 2, "column": "课程名称",
                                     "message": "含有不允许的字符（控制字符、零宽字符等）"}]


# --- the file itself -----------------------------------------------------------------------

def test_more_than_five_thousand_rows_are_refused(db: Session, make: Factory) -> None:
    inst = make.institution()
    rows = [course_row(n) for n in range(MAX_ROWS + 1)]
    error = refused(db, inst, "courses", "c.csv", csv_text(COURSE_FIELDS, rows))
    assert error.errors == {"file": ["at most 5000 rows in one file"]}


@pytest.mark.parametrize("filename, data", [
    ("x.xlsx", b"PK\x03\x04 not really a zip"),
    ("x.xlsx", b"\x00\x01\x02garbage"),
    ("x.csv", b"\xff\xfe\x00n\x00a"),
], ids=["bad-zip", "bad-xlsx", "utf16"])
def test_an_unreadable_file_is_refused(db: Session, make: Factory, filename: str,
                                       data: bytes) -> None:
    inst = make.institution()
    error = refused(db, inst, "courses", filename, data)
    assert error.errors == {"file": ["not a readable .xlsx/.csv file"]}


@pytest.mark.parametrize("kind", ["teachers", "courses", "sessions"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_empty_template_reimported_is_refused_as_having_no_rows(
        db: Session, make: Factory, kind: str, fmt: str) -> None:
    inst = make.institution()
    blank = template(kind, fmt)
    assert blank.filename == f"import-{kind}.{fmt}"
    error = refused(db, inst, kind, blank.filename, blank.content)
    assert error.errors == {"file": ["no rows"]}


def test_an_unknown_kind_is_not_found(db: Session, make: Factory) -> None:
    with pytest.raises(NotFound):
        run(db, make.institution(), "students", "s.csv", b"name\nx\n")


@pytest.mark.parametrize("role", ["regulator", "parent"])
def test_only_an_institution_imports(db: Session, make: Factory, role: str) -> None:
    with acting_as(db, role) as actor, pytest.raises(Forbidden):
        import_rows(db, actor, "courses", "c.csv", csv_text(COURSE_FIELDS, [course_row()]))
    assert count(db, Course) == 0
