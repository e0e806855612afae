"""日历与校历 in the console: statutory-day overrides and school-year vacations, through the
calendar services (the same as PUT/DELETE /api/v1/calendar/...)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import calendar as cal
from supervision.models import CalendarOverride, SchoolYear

from ..support.console import Browser
from ..support.factories import Factory


@pytest.fixture
def browser(client: FlaskClient, make: Factory) -> Browser:
    b = Browser(client)
    assert b.sign_in(make.token("regulator", name="无锡市教育局")).status_code == 302
    return b


def put_day(browser: Browser, day: str, kind: str, name: str = "") -> object:
    return browser.post("/console/calendar/days", {"date": day, "kind": kind, "name": name},
                        csrf_from="/console/calendar")


def text(resp: object) -> str:
    return resp.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_the_month_shows_statutory_holidays_and_adjusted_working_days(
        browser: Browser) -> None:
    page = text(browser.get("/console/calendar?month=2026-10"))
    assert "2026 年 10 月" in page
    assert "国庆节" in page
    assert "day-holiday" in page
    # 2026-10-10 (Saturday) is an adjusted working day in the State Council's schedule.
    assert "（调休上班）" in page


def test_a_year_without_statutory_data_is_announced(browser: Browser) -> None:
    page = text(browser.get("/console/calendar?month=2027-03"))
    assert 'id="coverage-2027"' in page
    assert "推算（放假办法与周末）" in page
    assert "调休安排尚未录入" in page


def test_a_regulator_loads_a_holiday_the_package_does_not_know(browser: Browser,
                                                                db: Session) -> None:
    resp = put_day(browser, "2027-01-01", "holiday", "元旦")
    assert resp.status_code == 302
    assert resp.location == "/console/calendar?month=2027-01"  # type: ignore[attr-defined]
    info = cal.day_info(db, dt.date(2027, 1, 1))
    assert (info.kind, info.name, info.source) == ("holiday", "元旦", "override")
    page = text(browser.get("/console/calendar?month=2027-01"))
    assert "元旦" in page.split('id="overrides"')[1]
    assert 'id="coverage-2027"' not in page  # 2027 now has statutory data


def test_a_holiday_needs_a_name(browser: Browser, db: Session) -> None:
    resp = put_day(browser, "2027-01-01", "holiday", "")
    assert resp.status_code == 422  # type: ignore[attr-defined]
    assert "法定节假日须填写名称" in text(resp)
    assert db.scalars(select(CalendarOverride)).first() is None


def test_a_malformed_date_is_refused(browser: Browser, db: Session) -> None:
    resp = put_day(browser, "2027-13-45", "holiday", "乱")
    assert resp.status_code == 422  # type: ignore[attr-defined]
    assert db.scalars(select(CalendarOverride)).first() is None


def test_deleting_an_override_restores_the_package_day(browser: Browser, db: Session) -> None:
    put_day(browser, "2026-10-10", "holiday", "演示休息日")
    assert cal.day_info(db, dt.date(2026, 10, 10)).kind == "holiday"
    resp = browser.post("/console/calendar/days/delete", {"date": "2026-10-10"},
                        csrf_from="/console/calendar")
    assert resp.status_code == 302
    info = cal.day_info(db, dt.date(2026, 10, 10))
    assert (info.kind, info.source) == ("workday", "package")
    again = browser.post("/console/calendar/days/delete", {"date": "2026-10-10"},
                         csrf_from="/console/calendar")
    assert again.status_code == 404


def test_a_regulator_sets_a_school_years_vacations(browser: Browser, db: Session) -> None:
    resp = browser.post("/console/calendar/school-years", {
        "name": "2027-2028", "winter_start": "2028-01-22", "winter_end": "2028-02-20",
        "summer_start": "2028-07-01", "summer_end": "2028-08-31"},
        csrf_from="/console/calendar")
    assert resp.status_code == 302
    row = db.scalars(select(SchoolYear).where(SchoolYear.name == "2027-2028")).one()
    assert (row.winter_start, row.summer_end) == (dt.date(2028, 1, 22), dt.date(2028, 8, 31))
    page = text(browser.get("/console/calendar?month=2028-02"))
    assert "寒假" in page
    assert "2028年1月22日 至 2028年2月20日" in page


def test_a_school_year_with_vacations_out_of_order_is_refused(browser: Browser,
                                                              db: Session) -> None:
    resp = browser.post("/console/calendar/school-years", {
        "name": "2027-2028", "winter_start": "2028-02-20", "winter_end": "2028-01-22",
        "summer_start": "2028-07-01", "summer_end": "2028-08-31"},
        csrf_from="/console/calendar")
    assert resp.status_code == 422
    assert "结束日期不能早于开始日期" in text(resp)
    assert db.scalars(select(SchoolYear)).first() is None


def test_the_edit_link_prefills_the_school_year_form(browser: Browser) -> None:
    page = text(browser.get("/console/calendar?edit=2026-2027"))
    form = page.split('id="school-year-form"')[1]
    assert 'value="2026-2027"' in form
    assert 'value="2027-01-23"' in form


def test_a_district_regulator_reads_the_calendar_but_its_changes_are_refused_in_chinese(
        client: FlaskClient, make: Factory, db: Session) -> None:
    # The calendar is the city's (API.md §5): the console refuses what the API refuses.
    b = Browser(client)
    b.sign_in(make.token("regulator", district_code="320213"))
    page = text(b.get("/console/calendar"))
    assert 'id="city-only"' in page and 'id="day-form"' not in page
    for url, data in (("/console/calendar/days",
                       {"date": "2027-01-01", "kind": "holiday", "name": "元旦"}),
                      ("/console/calendar/days/delete", {"date": "2026-10-01"}),
                      ("/console/calendar/school-years",
                       {"name": "2027-2028", "winter_start": "2028-01-22",
                        "winter_end": "2028-02-20", "summer_start": "2028-07-05",
                        "summer_end": "2028-08-31"})):
        resp = b.post(url, data, csrf_from="/console/calendar")
        assert resp.status_code == 403, url
        assert "区级监管人员只能查看" in text(resp), url
    assert db.scalars(select(CalendarOverride)).first() is None
    assert db.scalars(select(SchoolYear)).first() is None
