"""The institutions' portal driven in a real headless Chromium: a front-desk clerk signs in
with the demo institution's token, adds a teacher with a bad ID number (refused in Chinese)
and a good one and marks that one as having left (离职), edits a course (warned before saving
as a compliance run would flag it, then saved clean), takes attendance for a started session
and answers a rectification order;
then imports a term's sessions from an .xlsx with one bad row (refused, the row named, nothing
written), fixes it and imports again, and looks at 资金 and 机构信息.
Screenshots land in artifacts/screenshots/institution-*.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from supervision import clock
from supervision.models import ClassSession, Course, Flag, Institution, Teacher
from supervision.models.escrow import Consumption, Enrollment

from .conftest import Live
from .test_console_browser import find, find_all, problems, shoot, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.other_processes]

TOKEN = "demo-institution-xixin"


def submit(driver: Any, css: str) -> None:
    button = find(driver, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def fill_teacher(driver: Any, name: str, id_number: str) -> None:
    for css, value in (("#name", name), ("#id_number", id_number)):
        find(driver, css).clear()
        find(driver, css).send_keys(value)
    # A date input takes the digits in the browser's locale order; set it as the form posts it.
    driver.execute_script("document.getElementById('hired_on').value = '2026-09-01'")
    submit(driver, "#teacher-submit")


def xixin_id(live: Live) -> int:
    from supervision.access.principals import authenticate

    with live.session() as session:
        institution_id = authenticate(session, TOKEN).institution_id
        assert institution_id is not None
        return institution_id


def started_session_with_a_student_to_tick(live: Live, institution_id: int) -> tuple[int, int]:
    """A started session of the institution with an active enrollment not yet recorded."""
    now = clock.now()
    with live.session() as session:
        for cls in session.scalars(select(ClassSession).where(
                ClassSession.institution_id == institution_id,
                ClassSession.status == "scheduled", ClassSession.starts_at < now)
                .order_by(ClassSession.starts_at.desc())):
            recorded = set(session.scalars(select(Consumption.enrollment_id)
                                           .where(Consumption.session_id == cls.id)))
            for e in session.scalars(select(Enrollment).where(
                    Enrollment.course_id == cls.course_id, Enrollment.status == "active")):
                if e.id not in recorded and (e.paid_at is None or e.paid_at <= cls.starts_at):
                    return cls.id, e.id
    raise AssertionError("the demo has no started session with a student to tick")


def order_rectification(live: Live, institution_id: int) -> int:
    """A regulator's order on one of the institution's flags (the console's work, arranged)."""
    with live.session() as session:
        flag = session.scalars(select(Flag).where(
            Flag.institution_id == institution_id,
            Flag.status.in_(("open", "acknowledged")))).first()
        assert flag is not None
        flag.status, flag.due_on = "rectification_ordered", clock.today() + dt.timedelta(days=10)
        return flag.id


def test_a_clerk_files_a_teacher_takes_attendance_and_answers_the_regulator(
        driver: Any, live: Live, screenshots: Path) -> None:
    driver.get_log("browser")
    driver.delete_all_cookies()
    driver.get(f"{live.url}/institution/")
    wait_for(driver, "#signin-form")
    shoot(driver, screenshots, "institution-signin")
    find(driver, "#token").send_keys(TOKEN)
    submit(driver, "#signin-submit")
    wait_for(driver, "#week")
    shoot(driver, screenshots, "institution-week")

    driver.get(f"{live.url}/institution/teachers")
    wait_for(driver, "#teacher-form")
    fill_teacher(driver, "钱思远", "110105194912310021")  # the check character is wrong
    wait_for(driver, "#refusal")
    assert "身份证号校验位不正确" in find(driver, "#refusal").text
    shoot(driver, screenshots, "institution-teacher-refused")
    with live.session() as session:
        assert session.scalar(select(Teacher.id).where(Teacher.name == "钱思远")) is None
    fill_teacher(driver, "钱思远", "11010519491231002X")
    wait_for(driver, ".alert-success")
    assert "1101**********002X" in find(driver, "#teachers").text
    assert "11010519491231002X" not in driver.page_source
    shoot(driver, screenshots, "institution-teachers")

    institution_id = xixin_id(live)
    mark_the_new_teacher_left(driver, live, screenshots)
    edit_a_course(driver, live, screenshots, institution_id)
    session_id, enrollment_id = started_session_with_a_student_to_tick(live, institution_id)
    driver.get(f"{live.url}/institution/sessions/{session_id}/attendance")
    wait_for(driver, "#roster")
    find(driver, f"#tick-{enrollment_id}").click()
    shoot(driver, screenshots, "institution-attendance")
    submit(driver, "#attendance-submit")
    wait_for(driver, ".alert-success")
    assert find_all(driver, f"#tick-{enrollment_id}") == []  # now shown as recorded
    with live.session() as session:
        assert session.scalar(select(Consumption.id).where(
            Consumption.session_id == session_id,
            Consumption.enrollment_id == enrollment_id)) is not None

    flag_id = order_rectification(live, institution_id)
    driver.get(f"{live.url}/institution/todo")
    wait_for(driver, f"#respond-{flag_id}")
    shoot(driver, screenshots, "institution-todo")
    find(driver, f"#respond-{flag_id} textarea").send_keys("已将周末课程调整到周三下午。")
    submit(driver, f"#respond-submit-{flag_id}")
    wait_for(driver, ".alert-success")
    with live.session() as session:
        flag = session.get(Flag, flag_id)
        assert flag is not None and flag.status == "rectification_submitted"
    # The refused teacher was answered with a 422 on purpose; nothing else may fail.
    assert [p for p in problems(driver) if "422" not in p] == []


def mark_the_new_teacher_left(driver: Any, live: Live, screenshots: Path) -> None:
    """钱思远 leaves today (the form's default): listed as 已离职, no longer offered."""
    with live.session() as session:
        teacher_id = session.scalar(select(Teacher.id).where(Teacher.name == "钱思远"))
    assert teacher_id is not None
    assert find(driver, f"#left-on-{teacher_id}").get_attribute("value") == \
        clock.today().isoformat()
    submit(driver, f"#leave-submit-{teacher_id}")
    wait_for(driver, f"#teacher-left-{teacher_id}")
    assert "已离职" in find(driver, f"#teacher-{teacher_id}").text
    shoot(driver, screenshots, "institution-teacher-left")
    with live.session() as session:
        teacher = session.get(Teacher, teacher_id)
        assert teacher is not None and teacher.left_on == clock.today()
    driver.get(f"{live.url}/institution/week")
    wait_for(driver, "#teacher_id")
    assert find_all(driver, f"#teacher_id option[value='{teacher_id}']") == []


def edit_a_course(driver: Any, live: Live, screenshots: Path, institution_id: int) -> None:
    """A plain course of the clerk's own, renamed with a subject keyword: DISGUISED_SUBJECT
    is shown before saving; renamed plainly and repriced, it saves without a warning."""
    with live.session() as session:
        course = Course(institution_id=institution_id, name="少儿钢琴启蒙", subject="music",
                        category="non_subject", grade_min=3, grade_max=4, mode="offline",
                        class_size=8, minutes_per_class_hour=45,
                        price_per_class_hour_fen=12000, venue_id=None)
        session.add(course)
        session.flush()
        course_id = course.id
    driver.get(f"{live.url}/institution/courses")
    wait_for(driver, f"#edit-course-{course_id}")
    find(driver, f"#edit-course-{course_id}").click()
    wait_for(driver, "#edit-course")
    assert find(driver, "#name").get_attribute("value") == "少儿钢琴启蒙"
    assert find(driver, "#price_yuan").get_attribute("value") == "120.00"
    assert "只对今后的新报名生效" in find(driver, "#course-edit-note").text
    find(driver, "#name").clear()
    find(driver, "#name").send_keys("钢琴思维启蒙")
    submit(driver, "#course-submit")
    wait_for(driver, "#course-warnings")
    assert "DISGUISED_SUBJECT" in find(driver, "#course-warnings").text
    assert "思维" in find(driver, "#course-warnings").text
    shoot(driver, screenshots, "institution-course-edit")
    find(driver, "#name").clear()
    find(driver, "#name").send_keys("少儿钢琴启蒙（周六班）")
    find(driver, "#price_yuan").clear()
    find(driver, "#price_yuan").send_keys("135")
    submit(driver, "#course-submit")
    wait_for(driver, ".alert-success")
    assert "少儿钢琴启蒙（周六班）" in find(driver, f"#course-{course_id}").text
    with live.session() as session:
        saved = session.get(Course, course_id)
        assert saved is not None and saved.price_per_class_hour_fen == 13500


# Far enough ahead that the term is still to come when CI moves the clock a year on.
TERM = [("2030-03-05 16:00", "2030-03-05 17:30"), ("2030-03-12 16:00", "2030-03-12 17:30"),
        ("2030-03-19 16:00", "2030-03-19 17:30")]


def term_workbook(path: Path, course_id: int, teacher_id: int,
                  rows: list[tuple[str, str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["课程编号", "开始时间", "结束时间", "教师编号", "场地编号"])
    for starts, ends in rows:
        sheet.append([course_id, starts, ends, teacher_id, None])
    book.save(path)
    return path


def sessions_in_term(live: Live, course_id: int) -> int:
    with live.session() as session:
        return int(session.scalar(select(func.count()).select_from(ClassSession).where(
            ClassSession.course_id == course_id,
            ClassSession.starts_at >= dt.datetime(2030, 3, 1, tzinfo=clock.SHANGHAI),
            ClassSession.starts_at < dt.datetime(2030, 4, 1, tzinfo=clock.SHANGHAI))) or 0)


def a_course_and_teacher(live: Live, institution_id: int) -> tuple[int, int]:
    with live.session() as session:
        course_id = session.scalar(select(Course.id).where(
            Course.institution_id == institution_id).order_by(Course.id))
        teacher_id = session.scalar(select(Teacher.id).where(
            Teacher.institution_id == institution_id).order_by(Teacher.id))
        assert course_id is not None and teacher_id is not None
        return course_id, teacher_id


def upload_file(driver: Any, path: Path) -> None:
    driver.execute_script(
        "document.getElementById('kind').value = 'sessions'")
    find(driver, "#file").send_keys(str(path.resolve()))
    submit(driver, "#import-submit")


def test_a_clerk_imports_a_terms_sessions_fixing_a_bad_row_then_sees_money_and_registry(
        driver: Any, live: Live, screenshots: Path, tmp_path: Path) -> None:
    driver.get_log("browser")
    driver.delete_all_cookies()
    driver.get(f"{live.url}/institution/signin")
    wait_for(driver, "#signin-form")
    find(driver, "#token").send_keys(TOKEN)
    submit(driver, "#signin-submit")
    wait_for(driver, "#week")

    institution_id = xixin_id(live)
    course_id, teacher_id = a_course_and_teacher(live, institution_id)
    before = sessions_in_term(live, course_id)
    bad = [TERM[0], (TERM[1][0], "2030-03-12 15:00"), TERM[2]]  # line 3 ends before it starts
    driver.get(f"{live.url}/institution/import")
    wait_for(driver, "#import-form")
    upload_file(driver, term_workbook(tmp_path / "term-bad.xlsx", course_id, teacher_id, bad))
    wait_for(driver, "#import-error-rows")
    errors = find(driver, "#import-error-rows").text
    assert "第 3 行" in errors and "结束时间" in errors and "必须晚于开始时间" in errors
    assert "未导入任何记录" in find(driver, "#import-errors").text
    shoot(driver, screenshots, "institution-import-refused")
    assert sessions_in_term(live, course_id) == before

    upload_file(driver, term_workbook(tmp_path / "term.xlsx", course_id, teacher_id, TERM))
    wait_for(driver, ".alert-success")
    assert "已导入 3 条排课" in find(driver, ".alert-success").text
    shoot(driver, screenshots, "institution-import")
    assert sessions_in_term(live, course_id) == before + 3

    driver.get(f"{live.url}/institution/money")
    wait_for(driver, "#summary")
    assert "预收费监管账户" in find(driver, "#summary").text
    shoot(driver, screenshots, "institution-money")

    driver.get(f"{live.url}/institution/info")
    wait_for(driver, "#facts")
    with live.session() as session:
        inst = session.get(Institution, institution_id)
        assert inst is not None
        assert inst.uscc in find(driver, "#facts").text
    shoot(driver, screenshots, "institution-info")
    # The bad file was answered with a 422 on purpose; nothing else may fail.
    assert [p for p in problems(driver) if "422" not in p] == []
