"""The public's front door (API.md §10, 一网): the institution look-up, without a token.

Rate limited per client address (SUPERVISION_RATELIMIT_PUBLIC, web/security.py). The schemas
below are the whole of what is shown: the services pick the same fields column by column.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from ..registry import public
from ..web.replica import replica_reads
from ..web.request import db_session
from .common import Blueprint, DateTime, Int, Query, QuerySchema, Schema, Str

bp = Blueprint("public", __name__,
               description="The public look-up: no token, rate limited per address (§10)")
NO_TOKEN: list[dict[str, list[str]]] = []  # OpenAPI: these operations need no bearer token


class InstitutionArgs(QuerySchema):
    q = Str(validate=ma.validate.Length(max=200), metadata={"example": "锡心"})
    district_code = Str(validate=ma.validate.Regexp(r"^[0-9]{6}$"),
                        metadata={"example": "320213"})
    status = Str(validate=ma.validate.OneOf(["active", "suspended", "revoked"]),
                 metadata={"example": "active"})


class Rating(Schema):
    average = ma.fields.Float(allow_none=True, metadata={"example": 4.5})
    count = Int(metadata={"example": 12})


class LookUpInstitutionOut(Schema):
    id = Int(metadata={"example": 12})
    name = Str(metadata={"example": "锡心学堂培训中心"})
    uscc = Str(metadata={"example": "52320213MJ1234567X"})
    district_code = Str(metadata={"example": "320213"})
    address = Str(metadata={"example": "梁溪区中山路100号3楼"})
    status = Str(metadata={"example": "active"})
    subject_type = Str(metadata={"example": "subject"})
    online = ma.fields.Boolean(metadata={"example": False})
    rating = ma.fields.Nested(Rating)


class PublicCourse(Schema):
    id = Int(metadata={"example": 7})
    name = Str(metadata={"example": "初二数学提高班"})
    subject = Str(metadata={"example": "math"})
    grade_min = Int(metadata={"example": 7})
    grade_max = Int(metadata={"example": 8})
    price_per_class_hour_fen = Int(metadata={"example": 6000})


class PublicTeacher(Schema):
    name = Str(metadata={"example": "王老师"})
    subjects = ma.fields.List(Str(), metadata={"example": ["math"]})
    certified = ma.fields.Boolean(metadata={"example": True})


class PublicReview(Schema):
    stars = Int(metadata={"example": 5})
    text = Str(metadata={"example": "老师讲得清楚，孩子愿意去"})
    at = DateTime(metadata={"example": "2026-11-20T20:15:00+08:00"})


class Sanction(Schema):
    rule = Str(metadata={"example": "SUBJECT_ON_WEEKEND"})
    title = Str(metadata={"example": "周末开展学科类培训"})
    at = DateTime(metadata={"example": "2026-10-09T10:30:00+08:00"})


class LookUpInstitutionDetailOut(LookUpInstitutionOut):
    courses = ma.fields.List(ma.fields.Nested(PublicCourse))
    teachers = ma.fields.List(ma.fields.Nested(PublicTeacher))
    recent_reviews = ma.fields.List(ma.fields.Nested(PublicReview))
    sanctions = ma.fields.List(ma.fields.Nested(Sanction))


@bp.route("/public/institutions")
class PublicInstitutions(MethodView):
    @replica_reads
    @bp.doc(security=NO_TOKEN)
    @bp.arguments(InstitutionArgs, location="query")
    @bp.response(200, LookUpInstitutionOut(many=True))
    @bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, public.institutions_query(session, **args),
                     present=lambda page: public.public_institutions(session, page))


@bp.route("/public/institutions/<int:institution_id>")
class PublicInstitution(MethodView):
    @replica_reads
    @bp.doc(security=NO_TOKEN)
    @bp.response(200, LookUpInstitutionDetailOut)
    def get(self, institution_id: int) -> Any:
        return public.public_institution(db_session(), institution_id)


blueprints = [bp]
