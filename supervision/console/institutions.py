"""Institutions: the list, and one institution's whole picture (registry, teachers, courses,
next sessions, open flags, escrow summary and a 90-day custody chart)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, render_template, request
from sqlalchemy.orm import Session

from .. import clock, registry
from ..compliance import workflow
from ..compliance.flags import OUTSTANDING
from ..models import Course, Flag, Institution, Teacher
from ..web.replica import replica_reads
from ..web.request import db_session
from . import bp, queries
from .charts import custody_chart
from .escrow_view import custody_history, institution_summary
from .labels import district_name
from .paging import page_number, paginate
from .risk import FACTOR_ZH, LEVEL_CSS, LEVEL_ZH, institution_risk
from .signin import console_actor

NEXT_SESSIONS = 12
CHART_DAYS = 90


@bp.get("/institutions")
@replica_reads
def institutions() -> str:
    actor = console_actor()
    districts = current_app.config["SUPERVISION"].policy["districts"]
    district = request.args.get("district") or None
    status = request.args.get("status") or None
    q = (request.args.get("q") or "").strip()[:100] or None
    session = db_session()
    stmt = registry.institutions_query(
        session, actor, district_code=district if district in districts else None,
        status=status if status in registry.INSTITUTION_STATUSES else None, q=q)
    page = paginate(session, stmt, page_number(request.args.get("page")))
    counts = queries.open_flag_counts(session, actor, [i.id for i in page.items])
    choices = ([(actor.district_code, district_name(actor.district_code))]
               if actor.district_code else [("", "全部辖区"), *districts.items()])
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("console/institutions.html", page=page, counts=counts,
                           district_choices=choices, district=district, status=status,
                           q=q or "", args=args, statuses=registry.INSTITUTION_STATUSES,
                           today=clock.today())


def _next_sessions(session: Session, institution_id: int,
                   now: dt.datetime) -> list[Any]:
    stmt = registry.sessions_query(session, console_actor(), institution_id=institution_id,
                                   starts_from=now)
    return list(session.scalars(stmt.limit(NEXT_SESSIONS)))


def _open_flags(session: Session, institution_id: int, today: dt.date) -> list[Flag]:
    filters = workflow.FlagFilters(institution_id=institution_id)
    stmt = workflow.flags_query(console_actor(), filters, today)
    return list(session.scalars(stmt.where(Flag.status.in_(OUTSTANDING)).limit(100)))


@bp.get("/institutions/<int:institution_id>")
def institution_page(institution_id: int) -> str:
    session, actor = db_session(), console_actor()
    institution: Institution = registry.get_institution(session, actor, institution_id)
    now = clock.local_now()
    teachers: list[Teacher] = list(session.scalars(
        registry.teachers_query(session, actor, institution_id=institution.id)))
    courses: list[Course] = list(session.scalars(
        registry.courses_query(session, actor, institution_id=institution.id)))
    venues = list(session.scalars(registry.venues_query(session, actor, institution.id)))
    summary = institution_summary(session, actor, institution.id)
    history = custody_history(session, institution.id, now.date(), CHART_DAYS)
    return render_template(
        "console/institution.html", inst=institution, teachers=teachers, courses=courses,
        venues=venues, courses_by_id={c.id: c for c in courses},
        teachers_by_id={t.id: t for t in teachers},
        sessions=_next_sessions(session, institution.id, now),
        flags=_open_flags(session, institution.id, now.date()),
        titles=queries.rule_titles(), summary=summary,
        chart=custody_chart(history) if history else None, chart_days=CHART_DAYS,
        risk=institution_risk(session, actor, institution.id), risk_zh=LEVEL_ZH,
        risk_css=LEVEL_CSS, factor_zh=FACTOR_ZH,
        today=now.date())
