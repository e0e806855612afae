"""The 风险预警 page in a real headless Chromium: it renders without a browser error, every
institution has its line, and a full-page screenshot lands in
artifacts/screenshots/console-risk.png (the closing note's picture)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from supervision import clock
from supervision.access.scope import SYSTEM
from supervision.devtools.demo import RISK_PLANT
from supervision.risk import score_institutions
from tests.browser.conftest import Live, driver, live, screenshots  # noqa: F401  (fixtures)
from tests.browser.test_console_browser import find_all, problems, shoot, sign_in, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.other_processes]

DAYS = 90


def test_the_risk_page_renders_in_the_browser_with_a_line_per_institution(
        driver: Any, live: Live, screenshots: Path) -> None:  # noqa: F811
    # The demo scored on each of the last 90 days, as the daily job would have.
    with live.session() as session:
        for days_ago in range(DAYS - 1, -1, -1):
            score_institutions(session, SYSTEM,
                               as_of=clock.now() - dt.timedelta(days=days_ago))
    sign_in(driver, live, "demo-regulator-wuxi")
    driver.get(f"{live.url}/console/risk")
    wait_for(driver, "#risk-table")
    rows = find_all(driver, "tr.risk-row")
    assert len(rows) >= 2
    assert RISK_PLANT in rows[0].text and "高风险" in rows[0].text
    assert len(find_all(driver, "tr.risk-row svg.spark polyline")) == len(rows)
    assert problems(driver) == []
    shoot(driver, screenshots, "console-risk")
    assert (screenshots / "console-risk.png").stat().st_size > 10_000
