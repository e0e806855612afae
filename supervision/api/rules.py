"""The rule catalogue (API.md §5): every code of RULES.md with the parameters in force."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from ..access.scope import policy_of
from ..compliance.catalogue import catalogue_with_parameters
from ..vocab import SEVERITIES
from ..web.auth import requires
from ..web.request import db_session
from .common import Blueprint, Schema, Str

bp = Blueprint("rules", __name__, description="The rulebook: codes, severity, legal basis")


class RuleSchema(Schema):
    code = Str(metadata={"example": "LATE_END_OFFLINE"})
    title = Str(metadata={"description": "中文标题 / English title",
                          "example": "线下培训结束时间晚于20:30 / Offline session ends too late"})
    severity = Str(metadata={"enum": list(SEVERITIES), "example": "medium"})
    legal_basis = Str(metadata={"example": "中办发〔2021〕40号《关于进一步减轻义务教育阶段学生"
                                           "作业负担和校外培训负担的意见》"})
    parameters = ma.fields.Dict(keys=Str(), values=ma.fields.Raw(),
                                metadata={"description": "name → value from config/policy.toml",
                                          "example": {"late_end_offline": "20:30"}})


@bp.route("/rules")
class Rules(MethodView):
    @requires("regulator", "institution")
    @bp.response(200, RuleSchema(many=True))
    def get(self) -> Any:
        """The whole catalogue (a fixed list of RULES.md's codes, not paginated)."""
        return catalogue_with_parameters(policy_of(db_session()))


blueprints = [bp]
