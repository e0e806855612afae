"""The console's 风险预警 page (issue 11, API.md §12): the district × level table, the ranked
list with Chinese explanations and a 90-day SVG line each, the institution page's score, and a
district regulator seeing only its district."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.devtools.demo import RISK_NEIGHBOUR, RISK_PLANT, seed_demo
from supervision.models import Institution, RiskScore
from supervision.risk import score_institutions
from tests.support.console import LIANGXI, WUXI, Browser, institution_named

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ROW = re.compile(r'<tr class="risk-row" data-institution="(\d+)" data-score="(\d+)">(.*?)</tr>',
                 re.S)


def _rows(html: str) -> list[tuple[int, int, str]]:
    return [(int(i), int(s), body) for i, s, body in ROW.findall(html)]


@pytest.fixture
def scored(db: Session) -> Session:
    """The demo, scored on three days so that the lines have more than one point."""
    seed_demo(db, now=NOW)
    for days_ago in (2, 1, 0):
        score_institutions(db, SYSTEM, as_of=NOW - dt.timedelta(days=days_ago))
    db.flush()
    return db


def _page(client: FlaskClient, token: str, url: str = "/console/risk") -> str:
    browser = Browser(client)
    browser.sign_in(token)
    response = browser.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_page_ranks_institutions_by_score_with_the_planted_collapse_first(
        client: FlaskClient, scored: Session) -> None:
    html = _page(client, WUXI)
    rows = _rows(html)
    day_scores = scored.scalar(select(func.count()).select_from(RiskScore)
                               .where(RiskScore.day == NOW.date()))
    assert len(rows) == day_scores and day_scores >= 2
    scores = [s for _i, s, _b in rows]
    assert scores == sorted(scores, reverse=True)
    plant = institution_named(scored, RISK_PLANT)
    neighbour = institution_named(scored, RISK_NEIGHBOUR)
    ids = [i for i, _s, _b in rows]
    assert ids[0] == plant.id
    assert ids.index(plant.id) < ids.index(neighbour.id)
    assert f'href="/console/institutions/{plant.id}"' in rows[0][2]
    assert "高风险" in rows[0][2]


def test_each_row_explains_its_top_factors_in_chinese(client: FlaskClient,
                                                       scored: Session) -> None:
    rows = _rows(_page(client, WUXI))
    plant = institution_named(scored, RISK_PLANT)
    body = next(b for i, _s, b in rows if i == plant.id)
    assert "近14天退费申请 9 笔" in body
    assert "近30天无任何课消" in body
    assert body.count('class="factor"') == 3  # the top three of its seven moving factors
    shown = [int(n) for n in re.findall(r"（\+(\d+)）", body)]
    assert shown == [25, 20, 15]  # largest first: the surge, the runway, then coverage
    assert "30至60天前授课" not in body  # teachers leaving adds 5: not among the top three
    neighbour = institution_named(scored, RISK_NEIGHBOUR)
    quiet = next(b for i, _s, b in rows if i == neighbour.id)
    assert "无明显风险因素" in quiet and 'class="factor"' not in quiet


def test_each_row_has_its_own_svg_line_of_the_days_scored(client: FlaskClient,
                                                          scored: Session) -> None:
    rows = _rows(_page(client, WUXI))
    for _i, _s, body in rows:
        assert body.count("<svg") == 1 and body.count("<polyline") == 1
        points = re.search(r'points="([^"]*)"', body)
        assert points is not None
        assert len(points.group(1).split()) == 3  # one point per day scored
    plant_body = rows[0][2]
    # A score of 81 on a 36-pixel-high line: y = 36 - 81 * 36 / 100.
    last_point = re.search(r'points="([^"]*)"', plant_body).group(1).split()[-1]  # type: ignore[union-attr]
    assert last_point == f"180.0,{36 - rows[0][1] * 36 / 100:.1f}"


def test_the_district_table_counts_each_level(client: FlaskClient, scored: Session) -> None:
    html = _page(client, WUXI)
    table = html.split('id="risk-districts"')[1].split("</table>")[0]
    xishan = table.split('data-district="320205"')[1].split("</tr>")[0]
    assert re.search(r'data-level="high"><a [^>]*>1</a>', xishan)
    counts = dict(scored.execute(
        select(RiskScore.level, func.count()).where(RiskScore.day == NOW.date())
        .group_by(RiskScore.level)).all())
    total = table.split('class="total"')[1]
    assert re.findall(r"<td>(\d+)</td>", total) == [
        str(counts.get(lv, 0)) for lv in ("high", "medium", "low")] + [str(sum(counts.values()))]


def test_a_district_regulator_sees_only_its_district(client: FlaskClient,
                                                      scored: Session) -> None:
    html = _page(client, LIANGXI)
    rows = _rows(html)
    in_district = set(scored.scalars(
        select(RiskScore.institution_id).join(Institution,
                                              Institution.id == RiskScore.institution_id)
        .where(RiskScore.day == NOW.date(), Institution.district_code == "320213")))
    assert in_district and {i for i, _s, _b in rows} == in_district
    assert RISK_PLANT not in html
    table = html.split('id="risk-districts"')[1].split("</table>")[0]
    assert re.findall(r'data-district="(\d+)"', table) == ["320213"]
    total = table.split('class="total"')[1]
    assert re.findall(r"<td>(\d+)</td>", total)[-1] == str(len(in_district))
    # Asking for another district by its code shows nothing of it either.
    other = _rows(_page(client, LIANGXI, "/console/risk?district=320205"))
    assert {i for i, _s, _b in other} == in_district


def test_the_level_filter_lists_only_that_level(client: FlaskClient, scored: Session) -> None:
    rows = _rows(_page(client, WUXI, "/console/risk?level=high"))
    plant = institution_named(scored, RISK_PLANT)
    assert [i for i, _s, _b in rows] == [plant.id]


def test_before_any_run_the_page_says_so(client: FlaskClient, db: Session) -> None:
    seed_demo(db, now=NOW)
    html = _page(client, WUXI)
    assert 'id="risk-empty"' in html and not _rows(html)


def test_the_institution_page_shows_its_score_and_every_factor(client: FlaskClient,
                                                               scored: Session) -> None:
    plant = institution_named(scored, RISK_PLANT)
    html = _page(client, WUXI, f"/console/institutions/{plant.id}")
    section = html.split('id="risk-score"')[1].split("</section>")[0]
    score = scored.scalars(select(RiskScore).where(RiskScore.institution_id == plant.id,
                                                   RiskScore.day == NOW.date())).one()
    assert f'<strong class="risk-score">{score.score}</strong>' in section
    assert "高风险" in section and section.count("<polyline") == 1
    for f in score.factors:
        assert f["explanation"] in section
    assert "<td>退费激增</td>" in section and "<td>refund_surge</td>" not in section
    assert section.count("<tr data-code=") == len(score.factors) == 8


def test_the_navigation_links_the_risk_page(client: FlaskClient, scored: Session) -> None:
    html = _page(client, WUXI, "/console/dashboard")
    assert '<a href="/console/risk"' in html and "风险预警" in html
