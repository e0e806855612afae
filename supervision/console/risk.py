"""风险预警: who to visit this week, and why (API.md §12).

The page reads the scores the daily risk run stored (one row per institution per day): the
latest day any institution in the officer's scope was scored, a district × level table of it,
the institutions ranked by score with their largest factors, and each one's last 90 days as a
small server-drawn SVG line (no JavaScript: the console's CSP allows none).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, request
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import risk
from ..access.scope import Actor, scope_clause
from ..models import Institution, RiskScore
from ..web.replica import replica_reads
from ..web.request import db_session
from . import bp
from .signin import console_actor

LEVELS = ("high", "medium", "low")
LEVEL_ZH = {"high": "高风险", "medium": "中风险", "low": "低风险"}
LEVEL_CSS = {"high": "sev-critical", "medium": "sev-medium", "low": "sev-low"}
LEVEL_COLOUR = {"high": "#b71c1c", "medium": "#f9a825", "low": "#78909c"}
# The factors of RULES.md §11 as an officer names them.
FACTOR_ZH = {"refund_surge": "退费激增", "prepaid_runway": "预收款消课周期",
             "custody_coverage": "托管资金覆盖", "dispute_rate": "课消异议率",
             "cancellations": "停课比例", "complaints": "近期投诉", "teachers_left": "教师流失",
             "critical_flags": "严重合规问题"}
SPARK_DAYS = 90
SPARK_WIDTH, SPARK_HEIGHT = 180, 36
TOP_FACTORS = 3
# A district's whole list fits one page; the city's is cut here (the table above still counts
# every institution, and the district filter narrows the list).
RANKED_LIMIT = 200


@dataclass(frozen=True)
class Ranked:
    institution: Institution
    score: RiskScore
    top_factors: list[dict[str, Any]]
    sparkline: Markup


def latest_day(session: Session) -> dt.date | None:
    """The last day scored (the day risk.ranked_query lists): the page shows that day, not an
    empty 'today' when the morning's run has not happened yet."""
    return session.scalar(select(func.max(RiskScore.day)))


def district_levels(session: Session, actor: Actor, day: dt.date) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(Institution.district_code, RiskScore.level, func.count())
        .join(Institution, Institution.id == RiskScore.institution_id)
        .where(RiskScore.day == day, scope_clause(actor, RiskScore))
        .group_by(Institution.district_code, RiskScore.level))
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LEVELS, 0))
    for district, level, n in rows:
        table[district][level] = n
    return dict(table)


def top_factors(factors: Sequence[dict[str, Any]], n: int = TOP_FACTORS) -> list[dict[str, Any]]:
    """The factors that add most to the score; a factor that adds nothing explains nothing."""
    moving = [f for f in factors if (f.get("contribution") or 0) > 0]
    return sorted(moving, key=lambda f: -float(f["contribution"]))[:n]


def sparkline(points: Sequence[tuple[dt.date, int]], last: dt.date, level: str) -> Markup:
    """Scores of the SPARK_DAYS days up to `last` as one polyline (0 at the bottom, 100 at the
    top); days without a score are left out rather than drawn as 0."""
    first = last - dt.timedelta(days=SPARK_DAYS - 1)
    step = SPARK_WIDTH / (SPARK_DAYS - 1)
    coords = " ".join(
        f"{(day - first).days * step:.1f},{SPARK_HEIGHT - score * SPARK_HEIGHT / 100:.1f}"
        for day, score in points if first <= day <= last)
    label = f"近{SPARK_DAYS}天风险分走势"
    # Built from numbers and fixed strings only, so nothing here needs escaping.
    return Markup(
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{SPARK_WIDTH}" '
        f'height="{SPARK_HEIGHT}" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" role="img" '
        f'aria-label="{label}"><title>{label}</title>'
        f'<rect width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" fill="#f5f7f8"/>'
        f'<polyline fill="none" stroke="{LEVEL_COLOUR.get(level, "#607d8b")}" '
        f'stroke-width="1.5" points="{coords}"/></svg>')


def histories(session: Session, ids: Sequence[int],
              last: dt.date) -> dict[int, list[tuple[dt.date, int]]]:
    """Every listed institution's last SPARK_DAYS scores in one query."""
    out: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
    if not ids:
        return out
    rows = session.execute(
        select(RiskScore.institution_id, RiskScore.day, RiskScore.score)
        .where(RiskScore.institution_id.in_(ids),
               RiskScore.day > last - dt.timedelta(days=SPARK_DAYS), RiskScore.day <= last)
        .order_by(RiskScore.institution_id, RiskScore.day))
    for institution_id, day, score in rows:
        out[institution_id].append((day, score))
    return out


def ranked(session: Session, actor: Actor, day: dt.date, *, district: str | None,
           level: str | None) -> list[Ranked]:
    # The API's ranked list (same scope, same order); the page also wants each institution.
    stmt = risk.ranked_query(actor, district_code=district, level=level)
    rows = session.execute(stmt.add_columns(Institution).limit(RANKED_LIMIT)).all()
    history = histories(session, [inst.id for _s, inst in rows], day)
    return [Ranked(inst, score, top_factors(score.factors or []),
                   sparkline(history.get(inst.id, []), day, score.level))
            for score, inst in rows]


def institution_risk(session: Session, actor: Actor,
                     institution_id: int) -> tuple[risk.RiskView, Markup] | None:
    """What the institution page shows: the API's view (latest score, factors, history) and
    its sparkline; None when it was never scored (no money in custody)."""
    view = risk.institution_risk(session, actor, institution_id)
    if view is None:
        return None
    points = [(h["date"], int(h["score"])) for h in view.history]
    return view, sparkline(points, view.day, view.level)


@bp.get("/risk")
@replica_reads
def risk_page() -> str:
    actor = console_actor()
    session = db_session()
    districts: dict[str, str] = dict(current_app.config["SUPERVISION"].policy["districts"])
    if actor.district_code:
        districts = {actor.district_code: districts.get(actor.district_code,
                                                        actor.district_code)}
    district = request.args.get("district") or None
    district = district if district in districts else None
    level = request.args.get("level") or None
    level = level if level in LEVELS else None
    day = latest_day(session)
    table = district_levels(session, actor, day) if day else {}
    totals = {lv: sum(row[lv] for row in table.values()) for lv in LEVELS}
    rows = ranked(session, actor, day, district=district, level=level) if day else []
    return render_template(
        "console/risk.html", day=day, districts=districts, table=table, totals=totals,
        rows=rows, levels=LEVELS, level_zh=LEVEL_ZH, level_css=LEVEL_CSS,
        district=district, level=level, spark_days=SPARK_DAYS, limit=RANKED_LIMIT)
