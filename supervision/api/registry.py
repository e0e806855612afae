"""Registries (API.md §3), /me (§2) and the audit log (§7)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from .. import audit
from ..auth import current_actor, requires
from .common import Blueprint, Query, QuerySchema, Schema, Str
from .common import DateTime as DateTimeField
from .context import db_session

me_bp = Blueprint("me", __name__, description="Who is calling")
audit_bp = Blueprint("audit", __name__, description="The append-only audit log (§7)")


class MeSchema(Schema):
    role = Str()
    name = Str()
    institution_id = ma.fields.Integer(allow_none=True)
    district_code = Str(allow_none=True)
    parent_id = ma.fields.Integer(allow_none=True)


@me_bp.route("/me")
class Me(MethodView):
    @me_bp.response(200, MeSchema)
    def get(self) -> Any:
        return current_actor()


class AuditArgs(QuerySchema):
    entity = Str()
    entity_id = Str()


class AuditSchema(Schema):
    at = DateTimeField()
    actor = Str()
    action = Str()
    entity = Str()
    entity_id = Str()
    changes = ma.fields.Dict()


@audit_bp.route("/audit")
class AuditList(MethodView):
    @requires("regulator")
    @audit_bp.arguments(AuditArgs, location="query")
    @audit_bp.response(200, AuditSchema(many=True))
    @audit_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        stmt = audit.audit_query(current_actor(), entity=args.get("entity"),
                                 entity_id=args.get("entity_id"))
        return Query(db_session(), stmt)


blueprints = [me_bp, audit_bp]
