"""The console driven like an officer would, in a real headless Chromium (selenium).

Screenshots of the main pages land in artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from supervision import clock
from supervision.models import Flag, Institution
from supervision.wording import zh_date

from .conftest import Live

pytestmark = [pytest.mark.slow, pytest.mark.other_processes]

WUXI = "demo-regulator-wuxi"
LIANGXI = "demo-regulator-liangxi"
TIMEOUT = 15


def wait_until(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT).until(condition)


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def find(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def find_all(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def problems(driver: Any) -> list[str]:
    """Errors the page raised in the browser: CSP violations, failed assets, script errors."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def sign_in(driver: Any, live: Live, token: str) -> None:
    driver.get_log("browser")  # reading the log empties it: forget what earlier tests left
    driver.delete_all_cookies()
    driver.get(f"{live.url}/console/")
    wait_for(driver, "#signin-form")
    find(driver, "#token").send_keys(token)
    find(driver, "#signin-submit").click()
    wait_for(driver, "#flag-table")


def shoot(driver: Any, folder: Path, name: str) -> None:
    # The full page, not the window: set the window to the document's height first.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(1000, min(int(height) + 40, 6000)))
    driver.save_screenshot(str(folder / f"{name}.png"))
    driver.set_window_size(1440, 1000)


def flag_of(live: Live, district: str, status: str = "open") -> int:
    with live.session() as session:
        flag_id = session.scalar(
            select(Flag.id).join(Institution, Institution.id == Flag.institution_id)
            .where(Institution.district_code == district, Flag.status == status)
            .order_by(Flag.id))
    assert flag_id is not None
    return int(flag_id)


def test_an_officer_filters_the_queue_and_orders_rectification(
        driver: Any, live: Live, screenshots: Path) -> None:
    from selenium.webdriver.support.ui import Select

    sign_in(driver, live, WUXI)
    assert "今日待办" in driver.title
    shoot(driver, screenshots, "queue")
    assert problems(driver) == []

    Select(find(driver, "#f-severity")).select_by_value("critical")
    find(driver, "#apply-filters").click()
    # The old page has a #flag-table too: wait for the filtered page itself, not the element.
    wait_until(driver, lambda d: "severity=critical" in d.current_url)
    wait_for(driver, "#flag-table")
    rows = find_all(driver, "#flag-table tbody tr")
    assert rows, "the demo run finds critical problems"
    assert all(row.find_elements("css selector", ".badge.sev-critical") for row in rows)

    find(driver, "#flag-table a.flag-link").click()
    wait_for(driver, "#flag-title")
    history_before = len(find_all(driver, "#history li"))
    assert find_all(driver, "#form-order_rectification"), "an open flag may be ordered"
    shoot(driver, screenshots, "flag")

    due = (clock.today() + dt.timedelta(days=20)).isoformat()
    date_input = find(driver, "#due_on-order_rectification")
    driver.execute_script("arguments[0].value = arguments[1]", date_input, due)
    find(driver, "#note-order_rectification").send_keys("请于期限内完成整改并提交材料。")
    find(driver, "#do-order_rectification").click()
    wait_for(driver, ".alert-success")
    assert "已责令整改" in find(driver, "#flag-status").text
    assert len(find_all(driver, "#history li")) == history_before + 1
    assert "请于期限内完成整改并提交材料。" in find(driver, "#history").text
    assert zh_date(dt.date.fromisoformat(due)) in driver.page_source
    shoot(driver, screenshots, "flag_after_rectification")
    assert problems(driver) == []


def test_a_district_regulator_cannot_open_another_districts_flag(driver: Any,
                                                                 live: Live) -> None:
    sign_in(driver, live, LIANGXI)
    other = flag_of(live, "320214")
    driver.get(f"{live.url}/console/flags/{other}")
    wait_for(driver, ".error-page")
    assert "404" in find(driver, ".error-code").text
    assert "不在您的辖区范围内" in driver.page_source
    own = flag_of(live, "320213")
    driver.get(f"{live.url}/console/flags/{own}")
    wait_for(driver, "#flag-title")


@pytest.mark.parametrize(("name", "path", "marker"), [
    ("dashboard", "/console/dashboard", "#chart-flags svg"),
    ("institutions", "/console/institutions", "#institution-table"),
    ("calendar", "/console/calendar", "table.calendar"),
])
def test_the_main_pages_render_in_the_browser(driver: Any, live: Live, screenshots: Path,
                                              name: str, path: str, marker: str) -> None:
    sign_in(driver, live, WUXI)
    driver.get(live.url + path)
    wait_for(driver, marker)
    shoot(driver, screenshots, name)
    assert problems(driver) == []


def test_the_institution_page_renders_with_its_chart(driver: Any, live: Live,
                                                     screenshots: Path) -> None:
    sign_in(driver, live, WUXI)
    with live.session() as session:
        inst_id = session.scalar(select(Institution.id).where(
            Institution.name == "锡心学堂培训中心"))
    driver.get(f"{live.url}/console/institutions/{inst_id}")
    wait_for(driver, "#registry-facts")
    assert "锡心学堂培训中心" in find(driver, "#inst-name").text
    masked = [cell.text for cell in find_all(driver, "#teachers code.masked")]
    assert masked and all("**********" in m for m in masked)
    shoot(driver, screenshots, "institution")
    assert problems(driver) == []


def test_signing_out_returns_to_the_sign_in_page(driver: Any, live: Live) -> None:
    sign_in(driver, live, WUXI)
    find(driver, "#signout").click()
    wait_for(driver, "#signin-form")
    driver.get(f"{live.url}/console/dashboard")
    wait_for(driver, "#signin-form")
