"""The parents' app and the public look-up driven in a real headless Chromium at a phone's size
(390×844): a parent from sign-in to confirm, dispute, refund request, complaint and review; a
visitor from search to tip-off. Screenshots of each page land in artifacts/screenshots/.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from supervision.models import Complaint, Review, Tip
from supervision.models.escrow import Consumption, Refund

from .conftest import Live
from .test_console_browser import find, find_all, problems, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.other_processes]

PHONE = (390, 844)


@pytest.fixture
def phone(driver: Any) -> Iterator[Any]:
    driver.set_window_size(*PHONE)
    driver.get_log("browser")  # reading the log empties it: forget what earlier tests left
    driver.delete_all_cookies()
    yield driver
    driver.set_window_size(1440, 1000)


def shot(driver: Any, folder: Path, name: str) -> None:
    # The whole page, not only the first screen: the buckets and timeline run long on a phone.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(PHONE[0], max(PHONE[1], min(int(height) + 120, 4000)))
    driver.save_screenshot(str(folder / f"{name}.png"))
    driver.set_window_size(*PHONE)


def no_horizontal_scroll(driver: Any) -> bool:
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"))


def submit(driver: Any, css: str) -> None:
    button = find(driver, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def two_classes_to_answer(live: Live) -> None:
    """The demo family's math enrollment gets two more attended classes: one to confirm, one
    to dispute (the demo itself leaves none unanswered)."""
    from supervision import clock
    from supervision.access.principals import authenticate
    from supervision.escrow.consumption import record_attendance
    from supervision.models import ClassSession, Course
    from supervision.models.escrow import Enrollment

    with live.session() as session:
        zhang = authenticate(session, "demo-parent-zhang")
        xixin = authenticate(session, "demo-institution-xixin")
        enrollment = session.scalars(select(Enrollment).join(Course).where(
            Enrollment.parent_id == zhang.principal_id,
            Course.name == "五年级数学同步提高班")).one()
        # The demo answers its own past classes on some days of the week: two extra classes
        # of the last two afternoons, after the payment, whatever day it is.
        template = session.scalars(select(ClassSession).where(
            ClassSession.course_id == enrollment.course_id)).first()
        assert template is not None
        today = clock.local_now().date()
        past = []
        for days in (2, 1):
            day = today - dt.timedelta(days=days)
            begins = dt.datetime(day.year, day.month, day.day, 16, 0, tzinfo=clock.SHANGHAI)
            cls = ClassSession(course_id=template.course_id,
                               institution_id=template.institution_id, starts_at=begins,
                               ends_at=begins + dt.timedelta(minutes=90),
                               teacher_id=template.teacher_id, venue_id=template.venue_id,
                               status="scheduled")
            session.add(cls)
            past.append(cls)
        session.flush()
        for cls in past:
            record_attendance(session, xixin, session_id=cls.id,
                              enrollment_ids=[enrollment.id], class_hours=None,
                              as_of=clock.now())


def test_a_parent_on_a_phone_confirms_disputes_asks_a_refund_complains_and_reviews(
        phone: Any, live: Live, screenshots: Path) -> None:
    two_classes_to_answer(live)
    d = phone
    d.get(f"{live.url}/parent/")
    wait_for(d, "#signin-form")
    shot(d, screenshots, "parent-01-signin")
    find(d, "#token").send_keys("demo-parent-zhang")
    submit(d, "#signin-submit")
    wait_for(d, "a.enrollment")
    assert "我的报名" in d.page_source and no_horizontal_scroll(d)
    shot(d, screenshots, "parent-02-enrollments")

    # The demo family's enrollment with classes waiting for their answer.
    links = [a.get_attribute("href") for a in find_all(d, "a.enrollment")]
    page = None
    for href in links:
        d.get(href)
        wait_for(d, "#buckets")
        if len(find_all(d, "[id^=dispute-open-]")) >= 2:
            page = href
            break
    assert page, "no demo enrollment has a consumption to answer"
    assert no_horizontal_scroll(d)
    shot(d, screenshots, "parent-03-enrollment")
    enrollment_id = int(page.rstrip("/").rsplit("/", 1)[1])

    opener = find_all(d, "[id^=dispute-open-]")[0]  # a class awaiting the answer
    consumption_id = int(opener.get_attribute("id").rsplit("-", 1)[1])
    submit(d, f"#confirm-{consumption_id}")
    wait_for(d, ".alert-success")
    assert "已确认本次课消" in d.page_source

    disputed = int(find_all(d, "[id^=dispute-open-]")[0].get_attribute("id").rsplit("-", 1)[1])
    submit(d, f"#dispute-open-{disputed}")
    find(d, f"#consumption-{disputed} textarea").send_keys("孩子当天请假，没有上课")
    submit(d, f"#dispute-{disputed}")
    wait_for(d, ".alert-warning")
    assert "已提交异议" in d.page_source

    find(d, "#refund-form #amount").send_keys("10")
    find(d, "#refund-form textarea").send_keys("下学期不上了，退部分课时")
    submit(d, "#refund-submit")
    wait_for(d, ".alert-success")
    assert "退费申请已提交" in d.page_source
    shot(d, screenshots, "parent-04-after-actions")

    submit(d, "#complain")
    wait_for(d, "#complaint-form")
    find(d, "#complaint-form textarea").send_keys("老师临时换人，没有提前通知")
    shot(d, screenshots, "parent-05-complaint")
    submit(d, "#complaint-submit")
    wait_for(d, ".alert-success")
    assert "投诉已提交" in d.page_source

    submit(d, "#write-review")
    wait_for(d, "#review-form")
    find(d, "#review-form textarea").send_keys("老师认真，进步明显")
    shot(d, screenshots, "parent-06-review")
    submit(d, "#review-submit")
    wait_for(d, ".alert-success")
    assert "感谢评价" in d.page_source
    shot(d, screenshots, "parent-07-enrollment-end")
    assert problems(d) == []

    with live.session() as session:
        statuses = {c.id: c.status for c in session.scalars(select(Consumption).where(
            Consumption.id.in_([consumption_id, disputed])))}
        assert statuses == {consumption_id: "confirmed", disputed: "disputed"}
        assert session.scalars(select(Complaint).where(
            Complaint.enrollment_id == enrollment_id)).first() is not None
        assert session.scalars(select(Refund).where(
            Refund.enrollment_id == enrollment_id, Refund.amount_fen == 1000)).first()
        assert session.scalars(select(Review).where(
            Review.enrollment_id == enrollment_id)).first() is not None


def test_a_visitor_on_a_phone_looks_an_institution_up_and_tips_one_off(
        phone: Any, live: Live, screenshots: Path) -> None:
    d = phone
    d.get(f"{live.url}/public/")
    wait_for(d, "#search-form")
    shot(d, screenshots, "public-01-search")
    find(d, "#q").send_keys("锡心")
    submit(d, "#search-submit")
    wait_for(d, "a.institution")
    assert no_horizontal_scroll(d)
    submit(d, "a.institution")
    wait_for(d, "#courses")
    assert "明码标价" in d.page_source and "教师资格证" in d.page_source
    assert no_horizontal_scroll(d)
    shot(d, screenshots, "public-02-institution")

    submit(d, "#nav-tip")
    wait_for(d, "#tip-form")
    from selenium.webdriver.support.ui import Select

    Select(find(d, "#district_code")).select_by_value("320213")
    find(d, "#address").send_keys("梁溪区某小区 3 栋 201 室")
    find(d, "#description").send_keys("每周六上午有十几个初中生上数学课")
    shot(d, screenshots, "public-03-tip")
    submit(d, "#tip-submit")
    wait_for(d, "#tip-reference")
    reference = find(d, "#tip-reference").text
    assert len(reference) >= 16 and "已收到，等待核查" in d.page_source
    shot(d, screenshots, "public-04-tip-check")
    assert problems(d) == []
    with live.session() as session:
        tip = session.scalars(select(Tip).where(Tip.reference == reference)).one()
        assert tip.district_code == "320213" and tip.status == "submitted"


DESKTOP = (1280, 800)


def test_the_parent_enrollment_and_public_institution_pages_fit_a_desktop_screen(
        driver: Any, live: Live, screenshots: Path) -> None:
    d = driver
    d.set_window_size(*DESKTOP)
    d.get_log("browser")  # forget what earlier tests left
    d.delete_all_cookies()
    try:
        d.get(f"{live.url}/parent/")
        wait_for(d, "#signin-form")
        find(d, "#token").send_keys("demo-parent-zhang")
        submit(d, "#signin-submit")
        wait_for(d, "a.enrollment")
        d.get(find_all(d, "a.enrollment")[0].get_attribute("href"))
        wait_for(d, "#buckets")
        assert no_horizontal_scroll(d)
        d.save_screenshot(str(screenshots / "parent-desktop-enrollment.png"))

        # The search form itself is driven by the phone tour; here only the layout matters,
        # so the search is opened by its address (typing CJK into headless Chrome was flaky).
        d.get(f"{live.url}/public/?q=%E9%94%A1%E5%BF%83")
        wait_for(d, "a.institution")
        submit(d, "a.institution")
        wait_for(d, "#courses")
        assert "明码标价" in d.page_source and no_horizontal_scroll(d)
        d.save_screenshot(str(screenshots / "public-desktop-institution.png"))
        assert problems(d) == []
    finally:
        d.set_window_size(1440, 1000)
