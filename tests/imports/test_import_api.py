"""POST /api/v1/imports/{kind} and its templates (API.md §3), through the HTTP API."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision.models import ClassSession, Course, Institution, Teacher

from ..support.factories import Factory
from ..support.registry_bodies import audit_count, count
from .files import (
    COURSE_FIELDS,
    COURSE_LABELS,
    SESSION_LABELS,
    TEACHER_LABELS,
    course_row,
    csv_text,
    session_row,
    teacher_row,
    xlsx,
)

API = "/api/v1/imports"


def upload(client: FlaskClient, headers: dict[str, str], kind: str, filename: str,
           data: bytes) -> TestResponse:
    return client.post(f"{API}/{kind}", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename)})


def written(db: Session) -> tuple[int, ...]:
    return audit_count(db), count(db, Teacher), count(db, Course), count(db, ClassSession)


def test_an_institution_imports_a_terms_sessions_from_an_xlsx(
        client: FlaskClient, db: Session, make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    rows = [session_row(course.id, teacher.id, n) for n in range(12)]
    resp = upload(client, make.headers("institution", institution=inst), "sessions",
                  "春季课表.xlsx", xlsx(SESSION_LABELS, rows))
    assert resp.status_code == 201, resp.json
    assert resp.json["kind"] == "sessions" and resp.json["created"] == 12
    made = db.scalars(select(ClassSession).where(ClassSession.id.in_(resp.json["ids"]))).all()
    assert {(s.course_id, s.teacher_id) for s in made} == {(course.id, teacher.id)}
    assert len(made) == 12


@pytest.mark.parametrize("bom", [False, True])
def test_an_institution_imports_teachers_from_a_csv(
        client: FlaskClient, db: Session, make: Factory, bom: bool) -> None:
    inst = make.institution()
    resp = upload(client, make.headers("institution", institution=inst), "teachers",
                  "staff.csv", csv_text(TEACHER_LABELS, [teacher_row(1), teacher_row(2)],
                                        bom=bom))
    assert resp.status_code == 201, resp.json
    assert resp.json["created"] == 2
    names = db.scalars(select(Teacher.name).where(Teacher.institution_id == inst.id)
                       .order_by(Teacher.id)).all()
    assert names == ["李老师1", "李老师2"]


def test_a_file_with_one_bad_row_is_refused_whole_and_names_the_row(
        client: FlaskClient, db: Session, make: Factory) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    before = written(db)
    rows = [course_row(0), course_row(1), course_row(2, subject="炒股")]
    resp = upload(client, headers, "courses", "c.csv", csv_text(COURSE_FIELDS, rows))
    assert resp.status_code == 422
    assert set(resp.json) == {"code", "status", "message", "errors"}
    assert resp.json["errors"] == {"rows": [
        {"line": 4, "column": "subject", "message": "不是目录中的学科（其他学科填 other）"}]}
    assert written(db) == before


def test_a_sessions_file_naming_another_institutions_teacher_is_refused_without_naming_it(
        client: FlaskClient, db: Session, make: Factory) -> None:
    inst, other = make.institution(), make.institution()
    course, foreign = make.course(inst), make.teacher(other, name="乙机构钱老师")
    headers = make.headers("institution", institution=inst)
    before = written(db)
    resp = upload(client, headers, "sessions", "t.xlsx",
                  xlsx(SESSION_LABELS, [session_row(course.id, foreign.id)]))
    assert resp.status_code == 422
    assert resp.json["errors"]["rows"] == [
        {"line": 2, "column": "教师编号", "message": "不是本机构的教师"}]
    assert "钱老师" not in resp.get_data(as_text=True)
    assert written(db) == before


@pytest.mark.parametrize("role", ["regulator", "parent"])
def test_only_an_institution_may_import_or_download_a_template(
        client: FlaskClient, db: Session, make: Factory, role: str) -> None:
    headers = make.headers(role)
    before = written(db)
    resp = upload(client, headers, "courses", "c.csv",
                  csv_text(COURSE_FIELDS, [course_row()]))
    assert resp.status_code == 403
    assert written(db) == before
    assert client.get(f"{API}/courses/template", headers=headers).status_code == 403


@pytest.mark.parametrize("filename, data, message", [
    ("x.xlsx", b"PK\x03\x04\x14\x00garbage", "not a readable .xlsx/.csv file"),
    ("x.xlsx", b"", "not a readable .xlsx/.csv file"),
    ("x.jpg", b"\xff\xd8\xff\xe0 a jpeg", "not a readable .xlsx/.csv file"),
    ("x.csv", b"", "the first row must name the columns"),
    ("x.csv", b"\r\n\r\n", "the first row must name the columns"),
], ids=["broken-xlsx", "empty-xlsx", "jpeg", "empty-csv", "blank-csv"])
def test_an_unreadable_file_is_a_422_that_writes_nothing(
        client: FlaskClient, db: Session, make: Factory, filename: str, data: bytes,
        message: str) -> None:
    headers = make.headers("institution", institution=make.institution())
    before = written(db)
    resp = upload(client, headers, "teachers", filename, data)
    assert resp.status_code == 422
    assert resp.json["errors"] == {"file": [message]}
    assert written(db) == before


def test_a_request_without_the_file_part_is_a_422(client: FlaskClient, db: Session,
                                                  make: Factory) -> None:
    headers = make.headers("institution", institution=make.institution())
    before = written(db)
    resp = client.post(f"{API}/teachers", headers=headers, content_type="multipart/form-data",
                       data={"other": "x"})
    assert resp.status_code == 422
    assert "file" in resp.json["errors"]
    assert written(db) == before


def test_five_thousand_and_one_rows_are_a_422(client: FlaskClient, db: Session,
                                              make: Factory) -> None:
    headers = make.headers("institution", institution=make.institution())
    before = written(db)
    rows = [course_row(n) for n in range(5001)]
    resp = upload(client, headers, "courses", "c.csv", csv_text(COURSE_FIELDS, rows))
    assert resp.status_code == 422
    assert resp.json["errors"] == {"file": ["at most 5000 rows in one file"]}
    assert written(db) == before


def test_an_unknown_kind_is_404(client: FlaskClient, make: Factory) -> None:
    headers = make.headers("institution", institution=make.institution())
    assert upload(client, headers, "students", "s.csv", b"name\nx\n").status_code == 404
    assert client.get(f"{API}/students/template", headers=headers).status_code == 404


def template_of(client: FlaskClient, headers: dict[str, str], kind: str,
                fmt: str) -> TestResponse:
    resp = client.get(f"{API}/{kind}/template?format={fmt}", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == f"attachment; filename=import-{kind}.{fmt}"
    return resp


def header_of(resp: TestResponse, fmt: str) -> list[Any]:
    if fmt == "csv":
        assert resp.data.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
        return resp.data.decode("utf-8-sig").strip().split(",")
    book = load_workbook(io.BytesIO(resp.data), read_only=True)
    return list(next(book.worksheets[0].iter_rows(values_only=True)))


@pytest.mark.parametrize("kind, first, last", [
    ("teachers", "姓名", "入职日期"), ("courses", "课程名称", "场地编号"),
    ("sessions", "课程编号", "场地编号")])
@pytest.mark.parametrize("fmt, content_type", [
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("csv", "text/csv; charset=utf-8")])
def test_the_templates_download_with_the_chinese_header_and_reimport_as_no_rows(
        client: FlaskClient, db: Session, make: Factory, kind: str, first: str, last: str,
        fmt: str, content_type: str) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    resp = template_of(client, headers, kind, fmt)
    assert resp.headers["Content-Type"] == content_type
    header = header_of(resp, fmt)
    assert (header[0], header[-1]) == (first, last)
    before = written(db)
    again = upload(client, headers, kind, f"import-{kind}.{fmt}", resp.data)
    assert again.status_code == 422
    assert again.json["errors"] == {"file": ["no rows"]}
    assert written(db) == before


def test_the_filled_in_template_imports(client: FlaskClient, db: Session,
                                        make: Factory) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    book = load_workbook(io.BytesIO(template_of(client, headers, "courses", "xlsx").data))
    sheet = book.active
    assert sheet is not None
    values = dict(zip(COURSE_FIELDS, course_row(7), strict=True))
    labels = dict(zip(COURSE_FIELDS, COURSE_LABELS, strict=True))
    by_label = {labels[f]: v for f, v in values.items()}
    sheet.append([by_label.get(str(cell.value)) for cell in sheet[1]])
    out = io.BytesIO()
    book.save(out)
    resp = upload(client, headers, "courses", "filled.xlsx", out.getvalue())
    assert resp.status_code == 201, resp.json
    course = db.get(Course, resp.json["ids"][0])
    assert course is not None and course.name == "初一数学培优7"
    assert db.get(Institution, course.institution_id) is inst
