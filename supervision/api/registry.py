"""Registries (API.md §3), /me (§2) and the audit log (§7)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from .. import registry
from ..access import audit
from ..web.auth import current_actor, requires
from ..web.request import db_session
from . import registry_schemas as rs
from .common import Blueprint, Query, QuerySchema, Schema, Str
from .common import DateTime as DateTimeField

me_bp = Blueprint("me", __name__, description="Who is calling")
audit_bp = Blueprint("audit", __name__, description="The append-only audit log (§7)")


class MeSchema(Schema):
    role = Str(metadata={"example": "institution"})
    name = Str(metadata={"example": "锡心学堂培训中心"})
    institution_id = ma.fields.Integer(allow_none=True, metadata={"example": 12})
    district_code = Str(allow_none=True, metadata={"example": "320213"})
    parent_id = ma.fields.Integer(allow_none=True, metadata={"example": None})


@me_bp.route("/me")
class Me(MethodView):
    @me_bp.response(200, MeSchema)
    def get(self) -> Any:
        return current_actor()


class AuditArgs(QuerySchema):
    entity = Str(metadata={"example": "institutions"})
    entity_id = Str(metadata={"example": "12"})


class AuditSchema(Schema):
    at = DateTimeField(metadata={"example": "2026-11-28T15:12:09+08:00"})
    actor = Str(metadata={"example": "regulator:梁溪区教育局#3"})
    action = Str(metadata={"example": "update"})
    entity = Str(metadata={"example": "institutions"})
    entity_id = Str(metadata={"example": "12"})
    changes = ma.fields.Dict(metadata={"example": {"status": ["active", "suspended"]}})


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


institutions_bp = Blueprint("institutions", __name__,
                            description="Institutions and their venues (§3)")
teachers_bp = Blueprint("teachers", __name__, description="Teachers, 从业人员 (§3)")
rosters_bp = Blueprint("rosters", __name__,
                       description="The regulator's rosters of ID numbers (§3)")
courses_bp = Blueprint("courses", __name__, description="Courses and their sessions (§3)")
STAFF = ("regulator", "institution")
ANYONE = ("regulator", "institution", "parent")


@institutions_bp.route("/institutions")
class Institutions(MethodView):
    @requires(*STAFF)
    @institutions_bp.arguments(rs.InstitutionArgs, location="query")
    @institutions_bp.response(200, rs.InstitutionOut(many=True))
    @institutions_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, registry.institutions_query(session, current_actor(), **args))

    @requires("regulator")
    @institutions_bp.arguments(rs.InstitutionIn)
    @institutions_bp.response(201, rs.InstitutionOut)
    def post(self, data: dict[str, Any]) -> Any:
        return registry.register_institution(db_session(), current_actor(), data)


@institutions_bp.route("/institutions/<int:institution_id>")
class InstitutionItem(MethodView):
    @requires(*STAFF)
    @institutions_bp.response(200, rs.InstitutionOut)
    def get(self, institution_id: int) -> Any:
        return registry.get_institution(db_session(), current_actor(), institution_id)

    @requires(*STAFF)
    @institutions_bp.arguments(rs.InstitutionPatch, required=False)
    @institutions_bp.response(200, rs.InstitutionOut)
    def patch(self, data: dict[str, Any], institution_id: int) -> Any:
        return registry.update_institution(db_session(), current_actor(), institution_id, data)


@institutions_bp.route("/institutions/<int:institution_id>/status")
class InstitutionStatus(MethodView):
    @requires("regulator")
    @institutions_bp.arguments(rs.StatusIn)
    @institutions_bp.response(200, rs.InstitutionOut)
    def post(self, data: dict[str, Any], institution_id: int) -> Any:
        return registry.change_institution_status(db_session(), current_actor(),
                                                  institution_id, **data)


@institutions_bp.route("/institutions/<int:institution_id>/public")
class InstitutionPublic(MethodView):
    @requires(*ANYONE)
    @institutions_bp.response(200, rs.PublicInstitutionOut)
    def get(self, institution_id: int) -> Any:
        return registry.public_profile(db_session(), institution_id)


@institutions_bp.route("/institutions/<int:institution_id>/venues")
class Venues(MethodView):
    @requires(*STAFF)
    @institutions_bp.response(200, rs.VenueOut(many=True))
    @institutions_bp.paginate_sql()
    def get(self, institution_id: int) -> Any:
        session = db_session()
        return Query(session, registry.venues_query(session, current_actor(), institution_id))

    @requires(*STAFF)
    @institutions_bp.arguments(rs.VenueIn)
    @institutions_bp.response(201, rs.VenueOut)
    def post(self, data: dict[str, Any], institution_id: int) -> Any:
        return registry.add_venue(db_session(), current_actor(), institution_id, **data)


@teachers_bp.route("/teachers")
class Teachers(MethodView):
    @requires(*STAFF)
    @teachers_bp.arguments(rs.OwnerArgs, location="query")
    @teachers_bp.response(200, rs.TeacherOut(many=True))
    @teachers_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        return Query(db_session(), registry.teachers_query(db_session(), current_actor(), **args))

    @requires(*STAFF)
    @teachers_bp.arguments(rs.TeacherIn)
    @teachers_bp.response(201, rs.TeacherOut)
    def post(self, data: dict[str, Any]) -> Any:
        return registry.register_teacher(db_session(), current_actor(), data)


@teachers_bp.route("/teachers/<int:teacher_id>")
class TeacherItem(MethodView):
    @requires(*STAFF)
    @teachers_bp.response(200, rs.TeacherOut)
    def get(self, teacher_id: int) -> Any:
        return registry.get_teacher(db_session(), current_actor(), teacher_id)

    @requires(*STAFF)
    @teachers_bp.arguments(rs.TeacherPatch, required=False)
    @teachers_bp.response(200, rs.TeacherOut)
    def patch(self, data: dict[str, Any], teacher_id: int) -> Any:
        return registry.update_teacher(db_session(), current_actor(), teacher_id, data)


@rosters_bp.route("/rosters/inservice-teachers")
class InserviceRoster(MethodView):
    @requires("regulator")
    @rosters_bp.arguments(rs.InserviceRosterIn)
    @rosters_bp.response(200, rs.AddedOut)
    def post(self, data: dict[str, Any]) -> Any:
        return {"added": registry.add_to_roster(db_session(), current_actor(), "inservice",
                                                data["id_numbers"])}


@rosters_bp.route("/rosters/blacklist")
class Blacklist(MethodView):
    @requires("regulator")
    @rosters_bp.arguments(rs.BlacklistIn)
    @rosters_bp.response(200, rs.AddedOut)
    def post(self, data: dict[str, Any]) -> Any:
        return {"added": registry.add_to_roster(db_session(), current_actor(), "blacklist", **data)}


@courses_bp.route("/courses")
class Courses(MethodView):
    @requires(*ANYONE)
    @courses_bp.arguments(rs.OwnerArgs, location="query")
    @courses_bp.response(200, rs.CourseOut(many=True))
    @courses_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        return Query(db_session(), registry.courses_query(db_session(), current_actor(), **args))

    @requires("institution")
    @courses_bp.arguments(rs.CourseIn)
    @courses_bp.response(201, rs.CourseOut)
    def post(self, data: dict[str, Any]) -> Any:
        return registry.create_course(db_session(), current_actor(), data)


@courses_bp.route("/courses/<int:course_id>")
class CourseItem(MethodView):
    @requires(*ANYONE)
    @courses_bp.response(200, rs.CourseOut)
    def get(self, course_id: int) -> Any:
        return registry.get_course(db_session(), current_actor(), course_id)

    @requires(*STAFF)
    @courses_bp.arguments(rs.CoursePatch, required=False)
    @courses_bp.response(200, rs.CourseOut)
    def patch(self, data: dict[str, Any], course_id: int) -> Any:
        """Edit a course (an addition to API.md §3, in the style of PATCH /teachers/{id})."""
        return registry.update_course(db_session(), current_actor(), course_id, data)


@courses_bp.route("/courses/<int:course_id>/sessions")
class CourseSessions(MethodView):
    @requires("institution")
    @courses_bp.arguments(rs.SessionsIn)
    @courses_bp.response(201, rs.SessionOut(many=True))
    def post(self, data: dict[str, Any], course_id: int) -> Any:
        return registry.schedule_sessions(db_session(), current_actor(), course_id,
                                          data["sessions"])


@courses_bp.route("/sessions")
class Sessions(MethodView):
    @requires(*ANYONE)
    @courses_bp.arguments(rs.SessionArgs, location="query")
    @courses_bp.response(200, rs.SessionOut(many=True))
    @courses_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        return Query(db_session(), registry.sessions_query(db_session(), current_actor(), **args))


@courses_bp.route("/sessions/<int:session_id>/cancel")
class SessionCancel(MethodView):
    @requires("institution")
    @courses_bp.response(200, rs.SessionOut)
    def post(self, session_id: int) -> Any:
        return registry.cancel_session(db_session(), current_actor(), session_id)


blueprints = [me_bp, audit_bp, institutions_bp, teachers_bp, rosters_bp, courses_bp]
