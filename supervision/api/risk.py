"""Risk early warning (API.md §12): the ranked list, one institution's score and history,
and the scoring run. Views load, call one service of supervision.risk, dump."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow.validate import Length, OneOf

from .. import risk
from ..errors import NotFound
from ..web.auth import current_actor, requires
from ..web.request import db_session
from .common import Blueprint, Query, QuerySchema, Schema, Str, shanghai_now
from .common import DateTime as DateTimeField

bp = Blueprint("risk", __name__, description="Risk early warning 风险预警 (§12)")

_FACTOR_EXAMPLE = {"code": "refund_surge", "value": 6.0, "contribution": 20,
                   "explanation": "近14天退费申请 12 笔，为其90天平均水平的 6.0 倍"}


class RiskArgs(QuerySchema):
    district_code = Str(validate=Length(max=6), metadata={"example": "320213"})
    level = Str(validate=OneOf(risk.LEVELS), metadata={"example": "high"})


class FactorOut(Schema):
    code = Str(metadata={"example": "refund_surge"})
    # None when there is nothing to measure (no statement yet; no classes at all to divide by).
    value = ma.fields.Float(allow_none=True, metadata={"example": 6.0})
    contribution = ma.fields.Integer(metadata={"example": 20})
    explanation = Str(metadata={"example": "近14天退费申请 12 笔，为其90天平均水平的 6.0 倍"})


class RiskOut(Schema):
    institution_id = ma.fields.Integer(metadata={"example": 12})
    name = Str(metadata={"example": "无锡市梁溪区启航培训学校"})
    score = ma.fields.Integer(metadata={"example": 72})
    level = Str(metadata={"example": "high"})
    factors = ma.fields.List(ma.fields.Nested(FactorOut), metadata={"example": [_FACTOR_EXAMPLE]})
    computed_at = DateTimeField(metadata={"example": "2026-12-03T02:00:04+08:00"})


class HistoryPointOut(Schema):
    date = ma.fields.Date(metadata={"example": "2026-12-03"})
    score = ma.fields.Integer(metadata={"example": 72})
    level = Str(metadata={"example": "high"})


class RiskDetailOut(RiskOut):
    history = ma.fields.List(ma.fields.Nested(HistoryPointOut), metadata={"example": [
        {"date": "2026-12-02", "score": 64, "level": "medium"},
        {"date": "2026-12-03", "score": 72, "level": "high"}]})


class RiskRunOut(Schema):
    id = ma.fields.Integer(metadata={"example": 7})
    computed_at = DateTimeField(metadata={"example": "2026-12-03T02:00:04+08:00"})
    institutions_scored = ma.fields.Integer(metadata={"example": 1843})


@bp.route("/risk/institutions")
class RankedRisk(MethodView):
    @requires("regulator")
    @bp.arguments(RiskArgs, location="query")
    @bp.response(200, RiskOut(many=True))
    @bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, risk.ranked_query(current_actor(), **args),
                     present=lambda rows: risk.score_view(session, rows))


@bp.route("/institutions/<int:institution_id>/risk")
class InstitutionRisk(MethodView):
    @requires("regulator", "institution")
    @bp.response(200, RiskDetailOut)
    def get(self, institution_id: int) -> Any:
        view = risk.institution_risk(db_session(), current_actor(), institution_id)
        if view is None:
            # In scope but never scored: it has had no money in custody.
            raise NotFound("risk score")
        return view


@bp.route("/risk/runs")
class RiskRuns(MethodView):
    # City-wide regulators only (the service says so too): a run rescores every district.
    @requires("regulator")
    @bp.response(201, RiskRunOut)
    def post(self) -> Any:
        return risk.score_institutions(db_session(), current_actor(), as_of=shanghai_now())


blueprints = [bp]
