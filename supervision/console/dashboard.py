"""监管总览: outstanding flags by district and severity, custody held per district, as charts."""

from __future__ import annotations

from flask import current_app, render_template

from ..web.request import db_session
from . import bp, queries
from .charts import custody_by_district_chart, flags_by_district_chart, rule_chart
from .escrow_view import custody_by_district
from .labels import SEVERITY_ORDER
from .signin import console_actor

NO_DISTRICT_LABEL = "系统/未关联机构"


@bp.get("/dashboard")
def dashboard() -> str:
    actor = console_actor()
    session = db_session()
    districts: dict[str, str] = dict(current_app.config["SUPERVISION"].policy["districts"])
    if actor.district_code:
        districts = {actor.district_code: districts.get(actor.district_code,
                                                        actor.district_code)}
    flag_rows = queries.open_flags_by_district(session, actor)
    flag_districts = dict(districts)
    if any(d == queries.NO_DISTRICT for d, _s, _n in flag_rows):
        flag_districts[queries.NO_DISTRICT] = NO_DISTRICT_LABEL
    flag_counts = {d: sum(n for d2, _s, n in flag_rows if d2 == d) for d in flag_districts}
    by_rule = queries.open_flags_by_rule(session, actor)
    custody = custody_by_district(session, actor)
    totals = {s: sum(n for _d, sev, n in flag_rows if sev == s) for s in SEVERITY_ORDER}
    titles = queries.rule_titles()
    return render_template(
        "console/dashboard.html", totals=totals, districts=districts, custody=custody,
        custody_total=sum(custody.values()),
        institutions=queries.institution_counts(session, actor),
        flag_districts=flag_districts, flag_counts=flag_counts,
        flags_chart=flags_by_district_chart(flag_rows, flag_districts),
        custody_chart=custody_by_district_chart(custody, districts),
        rule_chart=rule_chart(by_rule[:12], titles) if by_rule else None)
