"""The institutions' portal driven in a real headless Chromium: a front-desk clerk signs in
with the demo institution's token, adds a teacher with a bad ID number (refused in Chinese)
and a good one, takes attendance for a started session and answers a rectification order.
Screenshots land in artifacts/screenshots/institution-*.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from supervision import clock
from supervision.models import ClassSession, Flag, Teacher
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
