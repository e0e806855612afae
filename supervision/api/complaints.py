"""Complaints, tips and reviews (API.md §11) and the public's tip-offs (§10): load with a
schema, call one service, dump."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from .. import complaints as svc
from ..web.auth import current_actor, requires
from ..web.request import db_session
from . import complaints_schemas as s
from .common import Blueprint, Query

complaints_bp = Blueprint("complaints", __name__,
                          description="Complaints, 投诉: parent → institution → regulator (§11)")
tips_bp = Blueprint("tips", __name__, description="Tip-offs, 举报, for regulators (§11)")
reviews_bp = Blueprint("reviews", __name__, description="Reviews, 评价 (§11)")
public_tips_bp = Blueprint("public_tips", __name__,
                           description="The public's tip-offs: no token (§10)")
ANYONE = ("regulator", "institution", "parent")


@complaints_bp.route("/complaints")
class Complaints(MethodView):
    @requires(*ANYONE)
    @complaints_bp.arguments(s.ComplaintArgs, location="query")
    @complaints_bp.response(200, s.ComplaintOut(many=True))
    @complaints_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, svc.complaints_query(session, current_actor(), **args))

    @requires("parent")
    @complaints_bp.arguments(s.ComplaintIn)
    @complaints_bp.response(201, s.ComplaintOut)
    def post(self, data: dict[str, Any]) -> Any:
        return svc.submit_complaint(db_session(), current_actor(), **data)


@complaints_bp.route("/complaints/<int:complaint_id>")
class ComplaintItem(MethodView):
    @requires(*ANYONE)
    @complaints_bp.response(200, s.ComplaintDetailOut)
    def get(self, complaint_id: int) -> Any:
        return svc.get_complaint(db_session(), current_actor(), complaint_id)


@complaints_bp.route("/complaints/<int:complaint_id>/responses")
class ComplaintResponses(MethodView):
    @requires("institution")
    @complaints_bp.arguments(s.ComplaintResponseIn)
    @complaints_bp.response(201, s.ComplaintResponseCreatedOut)
    def post(self, data: dict[str, Any], complaint_id: int) -> Any:
        return svc.respond_to_complaint(db_session(), current_actor(), complaint_id, **data)


@complaints_bp.route("/complaints/<int:complaint_id>/close")
class ComplaintClose(MethodView):
    @requires("regulator")
    @complaints_bp.arguments(s.ComplaintCloseIn)
    @complaints_bp.response(200, s.ComplaintDetailOut)
    def post(self, data: dict[str, Any], complaint_id: int) -> Any:
        return svc.close_complaint(db_session(), current_actor(), complaint_id, **data)


@tips_bp.route("/tips")
class Tips(MethodView):
    @requires("regulator")
    @tips_bp.arguments(s.TipArgs, location="query")
    @tips_bp.response(200, s.TipOut(many=True))
    @tips_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, svc.tips_query(session, current_actor(), **args))


@tips_bp.route("/tips/<int:tip_id>")
class TipItem(MethodView):
    @requires("regulator")
    @tips_bp.response(200, s.TipOut)
    def get(self, tip_id: int) -> Any:
        return svc.get_tip(db_session(), current_actor(), tip_id)


@tips_bp.route("/tips/<int:tip_id>/actions")
class TipActions(MethodView):
    @requires("regulator")
    @tips_bp.arguments(s.TipActionIn)
    @tips_bp.response(200, s.TipOut)
    def post(self, data: dict[str, Any], tip_id: int) -> Any:
        return svc.act_on_tip(db_session(), current_actor(), tip_id, **data)


@reviews_bp.route("/enrollments/<int:enrollment_id>/review")
class EnrollmentReview(MethodView):
    @requires("parent")
    @reviews_bp.arguments(s.ReviewIn)
    @reviews_bp.response(201, s.ReviewOut)
    def post(self, data: dict[str, Any], enrollment_id: int) -> Any:
        return svc.submit_review(db_session(), current_actor(), enrollment_id, **data)


@public_tips_bp.route("/public/tips")
class PublicTips(MethodView):
    @public_tips_bp.doc(security=[])
    @public_tips_bp.arguments(s.PublicTipIn)
    @public_tips_bp.response(201, s.PublicTipOut)
    def post(self, data: dict[str, Any]) -> Any:
        session = db_session()
        # No token: the audit trail names the public, not the system.
        session.info["actor"] = svc.PUBLIC
        return svc.submit_tip(session, svc.PUBLIC, **data)


@public_tips_bp.route("/public/tips/<string:reference>")
class PublicTipItem(MethodView):
    @public_tips_bp.doc(security=[])
    @public_tips_bp.response(200, s.PublicTipOut)
    def get(self, reference: str) -> Any:
        return svc.tip_status(db_session(), reference)


blueprints = [complaints_bp, tips_bp, reviews_bp, public_tips_bp]
