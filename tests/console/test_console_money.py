"""The money on the console: an institution's escrow summary and 90-day chart, the dashboard's
custody per district, from real bookings made through the escrow services."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import SYSTEM
from supervision.console.escrow_view import custody_history
from supervision.escrow.consumption import record_attendance
from supervision.escrow.deposits import apply_deposit
from supervision.escrow.enrollments import create_enrollment
from supervision.models import ClassSession, Course, Enrollment, Institution

from ..support.console import LIANGXI, WUXI, Browser, institution_named, load_demo, now_local


def enroll_and_pay(db: Session, course: Course, hours: int) -> Enrollment:
    parent, _token = create_principal(db, role="parent", name="测试家长")
    enrollment = create_enrollment(db, actor_for(parent), course_id=course.id, student_name="小明",
                                   student_grade=course.grade_max, class_hours=hours)
    apply_deposit(db, SYSTEM, event_id=f"evt-{enrollment.id}",
                  trustee_txn_id=f"txn-{enrollment.id}",
                  payment_reference=enrollment.payment_reference,
                  amount_fen=enrollment.amount_fen,
                  # Paid before the demo's first class (a week ago), which `attend` bills.
                  received_at=clock.now() - dt.timedelta(days=8))
    return enrollment


def attend(db: Session, enrollment: Enrollment, hours: int) -> None:
    started = db.scalars(select(ClassSession).where(
        ClassSession.course_id == enrollment.course_id,
        ClassSession.starts_at < clock.now()).order_by(ClassSession.starts_at)).first()
    assert started is not None, "the demo has sessions from a week ago"
    record_attendance(db, SYSTEM, session_id=started.id, enrollment_ids=[enrollment.id],
                      class_hours=hours, as_of=now_local())


@pytest.fixture
def money(db: Session) -> tuple[Institution, Enrollment]:
    load_demo(db)
    inst = institution_named(db, "锡心学堂培训中心")
    course = db.scalars(select(Course).where(Course.name == "五年级数学同步提高班")).one()
    enrollment = enroll_and_pay(db, course, 20)  # 20 × 40.00 = 800.00 yuan
    attend(db, enrollment, 2)
    return inst, enrollment


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


def test_the_institution_page_shows_the_six_buckets_and_custody(
        browser: Browser, money: tuple[Institution, Enrollment]) -> None:
    inst, enrollment = money
    browser.sign_in(WUXI)
    page = browser.get(f"/console/institutions/{inst.id}").get_data(as_text=True)
    summary = page.split('id="escrow-summary"')[1].split("</section>")[0]
    assert '<strong id="custody-fen">¥800.00</strong>' in summary
    rows = dict(re.findall(r"<tr><th>([^<]+)</th><td class=\"num\">([^<]+)</td></tr>", summary))
    assert rows["托管中（未消课）"] == "¥720.00"
    assert rows["已消课待家长确认"] == "¥80.00"
    assert rows["已确认待拨付"] == "¥0.00"
    assert enrollment.amount_fen == 80000


def test_the_custody_chart_is_an_inline_svg_of_the_last_90_days(
        browser: Browser, money: tuple[Institution, Enrollment]) -> None:
    inst, _enrollment = money
    browser.sign_in(WUXI)
    page = browser.get(f"/console/institutions/{inst.id}").get_data(as_text=True)
    chart = page.split('id="custody-chart"')[1].split("</section>")[0]
    assert "<svg" in chart
    assert "监管账户余额（日终）" in chart and "期内累计课消" in chart
    assert "<script" not in chart


def test_custody_history_sums_entries_by_local_day(db: Session,
                                                   money: tuple[Institution, Enrollment]) -> None:
    inst, _enrollment = money
    today = now_local().date()
    points = custody_history(db, inst.id, today, 90)
    assert len(points) == 90
    assert points[0].day == today - dt.timedelta(days=89)
    assert points[-1].day == today
    assert points[-1].custody_fen == 80000
    assert points[-1].consumed_fen == 8000
    assert all(p.custody_fen == 0 for p in points[:-1])


def test_an_institution_without_money_has_no_chart(browser: Browser, db: Session) -> None:
    load_demo(db)
    browser.sign_in(WUXI)
    inst = institution_named(db, "宜兴紫砂书院")
    page = browser.get(f"/console/institutions/{inst.id}").get_data(as_text=True)
    assert "近 90 天没有资金变动" in page


def test_the_dashboard_charts_custody_per_district(browser: Browser,
                                                   money: tuple[Institution, Enrollment]) -> None:
    browser.sign_in(WUXI)
    page = browser.get("/console/dashboard").get_data(as_text=True)
    assert page.count("<svg") >= 3
    assert '<span class="count-n">¥800.00</span>' in page
    table = page.split("数据表")[1]
    assert re.search(r"<td>梁溪区</td><td class=\"num\">¥800.00</td>", table)
    assert re.search(r"<td>新吴区</td><td class=\"num\">¥0.00</td>", table)


def test_another_districts_regulator_does_not_count_that_custody(
        browser: Browser, money: tuple[Institution, Enrollment], db: Session) -> None:
    from supervision.access.principals import hash_token
    from supervision.models import Principal

    browser.sign_in(LIANGXI)
    assert '<span class="count-n">¥800.00</span>' in browser.get("/console/dashboard").get_data(
        as_text=True)
    liangxi = db.scalars(select(Principal).where(Principal.token_hash == hash_token(LIANGXI))
                         ).one()
    liangxi.district_code = "320214"  # now 新吴区's regulator
    db.flush()
    assert '<span class="count-n">¥0.00</span>' in browser.get("/console/dashboard").get_data(
        as_text=True)
