"""Compliance (API.md §5): runs, flags and their review, the working calendar."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow.validate import Length, OneOf, Range

from ..auth import current_actor, requires
from ..compliance import calendar, runs, workflow
from ..compliance.flags import SEVERITY_RANK, rule_title
from ..errors import Invalid, NotFound
from ..models.compliance import ComplianceRun
from .common import Blueprint, Date, Int, Query, QuerySchema, Schema, Str, shanghai_now
from .common import DateTime as DateTimeField
from .context import db_session

runs_bp = Blueprint("compliance", __name__, description="Compliance runs (§5)")
flags_bp = Blueprint("flags", __name__, description="Compliance flags and their review (§5)")
calendar_bp = Blueprint("calendar", __name__,
                        description="Statutory holidays, adjusted working days, school years")
MAX_CALENDAR_DAYS = 366


def today() -> dt.date:
    """Business dates are Asia/Shanghai dates."""
    return shanghai_now().date()


# --- Runs ----------------------------------------------------------------------------------

YEARS = Range(min=2000, max=2199, error="year out of range")


class RunIn(Schema):
    as_of = DateTimeField(load_default=None, allow_none=True,
                          validate=lambda v: YEARS(v.year) is not None)
    horizon_days = Int(load_default=30, validate=Range(min=0, max=366))
    lookback_days = Int(load_default=7, validate=Range(min=0, max=366))


class RuleCountOut(Schema):
    rule = Str()
    title = Str()
    count = ma.fields.Integer()


class RunOut(Schema):
    id = ma.fields.Integer()
    as_of = DateTimeField()
    started_at = DateTimeField()
    finished_at = DateTimeField()
    sessions_scanned = ma.fields.Integer()
    flags_opened = ma.fields.Integer()
    flags_cleared = ma.fields.Integer()
    flags_open = ma.fields.Integer()
    flags_reopened = ma.fields.Integer()
    findings = ma.fields.Integer()
    window_start = DateTimeField()
    window_end = DateTimeField()
    horizon_days = ma.fields.Integer()
    lookback_days = ma.fields.Integer()
    triggered_by = Str()
    by_rule = ma.fields.Method("_by_rule")

    def _by_rule(self, run: ComplianceRun) -> list[dict[str, Any]]:
        counts = sorted((run.by_rule or {}).items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"rule": code, "title": rule_title(code), "count": n} for code, n in counts]


@runs_bp.route("/compliance/runs")
class Runs(MethodView):
    @requires("regulator")
    @runs_bp.response(200, RunOut(many=True))
    @runs_bp.paginate_sql()
    def get(self) -> Any:
        return Query(db_session(), runs.runs_query())

    @requires("regulator")
    @runs_bp.arguments(RunIn, required=False)  # every field has a default (API.md §5)
    @runs_bp.response(201, RunOut)
    def post(self, data: dict[str, Any]) -> Any:
        return runs.run_compliance(db_session(), as_of=data["as_of"] or shanghai_now(),
                                   horizon_days=data["horizon_days"],
                                   lookback_days=data["lookback_days"])


@runs_bp.route("/compliance/runs/<int:run_id>")
class RunItem(MethodView):
    @requires("regulator")
    @runs_bp.response(200, RunOut)
    def get(self, run_id: int) -> Any:
        return runs.get_run(db_session(), run_id)


# --- Flags ---------------------------------------------------------------------------------

class FlagArgs(QuerySchema):
    status = Str(validate=OneOf(workflow.STATUSES))
    severity = Str(validate=OneOf(tuple(SEVERITY_RANK)))
    rule = Str(validate=Length(max=40))
    district_code = Str(validate=Length(max=6))
    institution_id = ma.fields.Integer(validate=Range(min=1, max=2**63 - 1))
    overdue = ma.fields.Boolean(truthy={"true", "1"}, falsy={"false", "0"})


class FlagOut(Schema):
    id = ma.fields.Integer()
    rule = Str()
    title = ma.fields.Function(lambda flag: rule_title(flag.rule))
    severity = Str()
    status = Str()
    institution_id = ma.fields.Integer(allow_none=True)
    subject_type = Str()
    subject_id = Str()
    summary = Str()
    evidence = ma.fields.Dict()
    first_detected_at = DateTimeField()
    last_detected_at = DateTimeField()
    due_on = ma.fields.Date(allow_none=True)
    overdue = ma.fields.Function(lambda flag: workflow.is_overdue(flag, today()))


class EventOut(Schema):
    at = DateTimeField()
    actor = Str()
    action = Str()
    note = Str(allow_none=True)
    from_status = Str(allow_none=True)
    to_status = Str()


class FlagDetailOut(FlagOut):
    history = ma.fields.Method("_history")

    def _history(self, flag: Any) -> Any:
        return EventOut(many=True).dump(workflow.history(db_session(), flag))


class ActionIn(Schema):
    action = Str(required=True, validate=OneOf(tuple(workflow.TRANSITIONS)))
    note = Str(allow_none=True, load_default=None, validate=Length(max=2000))
    due_on = Date(allow_none=True, load_default=None)


class ResponseIn(Schema):
    note = Str(required=True, validate=Length(min=1, max=2000))


@flags_bp.route("/flags")
class Flags(MethodView):
    @requires("regulator", "institution")
    @flags_bp.arguments(FlagArgs, location="query")
    @flags_bp.response(200, FlagOut(many=True))
    @flags_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        filters = workflow.FlagFilters(**args)
        return Query(db_session(), workflow.flags_query(current_actor(), filters, today()))


@flags_bp.route("/flags/<int:flag_id>")
class FlagItem(MethodView):
    @requires("regulator", "institution")
    @flags_bp.response(200, FlagDetailOut)
    def get(self, flag_id: int) -> Any:
        return workflow.get_flag(db_session(), current_actor(), flag_id)


@flags_bp.route("/flags/<int:flag_id>/actions")
class FlagActions(MethodView):
    @requires("regulator")
    @flags_bp.arguments(ActionIn)
    @flags_bp.response(200, FlagDetailOut)
    def post(self, data: dict[str, Any], flag_id: int) -> Any:
        return workflow.apply_action(db_session(), current_actor(), flag_id, today=today(),
                                     **data)


@flags_bp.route("/flags/<int:flag_id>/responses")
class FlagResponses(MethodView):
    @requires("institution")
    @flags_bp.arguments(ResponseIn)
    @flags_bp.response(201, FlagDetailOut)
    def post(self, data: dict[str, Any], flag_id: int) -> Any:
        return workflow.respond(db_session(), current_actor(), flag_id, note=data["note"])


# --- Calendar ------------------------------------------------------------------------------

class DaysArgs(QuerySchema):
    from_ = Date(required=True, data_key="from")
    to = Date(required=True)

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **_kw: Any) -> None:
        YEARS(data["from_"].year)
        if data["to"] < data["from_"]:
            raise ma.ValidationError("must not be before from", "to")
        if (data["to"] - data["from_"]).days >= MAX_CALENDAR_DAYS:
            raise ma.ValidationError(f"at most {MAX_CALENDAR_DAYS} days at once", "to")


class DayOut(Schema):
    date = ma.fields.Date()
    kind = Str()
    name = Str(allow_none=True)
    source = Str()


class OverrideIn(Schema):
    kind = Str(required=True, validate=OneOf(("holiday", "workday")))
    name = Str(allow_none=True, load_default=None, validate=Length(max=100))


class SpanIO(Schema):
    start = Date(required=True)
    end = Date(required=True)


class SchoolYearIn(Schema):
    winter_vacation = ma.fields.Nested(SpanIO, required=True)
    summer_vacation = ma.fields.Nested(SpanIO, required=True)


class SchoolYearOut(Schema):
    name = Str()
    winter_vacation = ma.fields.Function(
        lambda sy: {"start": sy.winter_vacation[0].isoformat(),
                    "end": sy.winter_vacation[1].isoformat()})
    summer_vacation = ma.fields.Function(
        lambda sy: {"start": sy.summer_vacation[0].isoformat(),
                    "end": sy.summer_vacation[1].isoformat()})
    source = Str()


def _path_date(value: str) -> dt.date:
    try:
        day: dt.date = Date().deserialize(value)
        YEARS(day.year)
    except ma.ValidationError:
        raise Invalid.field("date", "not a date (YYYY-MM-DD) from 2000 to 2199") from None
    return day


def _path_school_year(name: str) -> str:
    calendar.school_year_bounds(name)  # 422 for anything not named like 2026-2027
    return name


@calendar_bp.route("/calendar/days")
class CalendarDays(MethodView):
    @requires("regulator")
    @calendar_bp.arguments(DaysArgs, location="query")
    @calendar_bp.response(200, DayOut(many=True))
    @calendar_bp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        days = calendar.calendar_days(db_session(), args["from_"], args["to"])
        pagination_parameters.item_count = len(days)
        first = pagination_parameters.first_item
        return days[first:first + pagination_parameters.page_size]


@calendar_bp.route("/calendar/days/<string:day>", parameters=[
    {"in": "path", "name": "day", "schema": {"type": "string", "format": "date"}}])
class CalendarDay(MethodView):
    @requires("regulator")
    @calendar_bp.arguments(OverrideIn)
    @calendar_bp.response(200, DayOut)
    def put(self, data: dict[str, Any], day: str) -> Any:
        return calendar.put_override(db_session(), _path_date(day), **data)

    @requires("regulator")
    @calendar_bp.response(204)
    def delete(self, day: str) -> None:
        calendar.delete_override(db_session(), _path_date(day))


@calendar_bp.route("/calendar/school-years")
class SchoolYears(MethodView):
    @requires("regulator")
    @calendar_bp.response(200, SchoolYearOut(many=True))
    @calendar_bp.paginate()
    def get(self, pagination_parameters: Any) -> Any:
        years = calendar.school_years(db_session())
        pagination_parameters.item_count = len(years)
        first = pagination_parameters.first_item
        return years[first:first + pagination_parameters.page_size]


@calendar_bp.route("/calendar/school-years/<string:name>", parameters=[
    {"in": "path", "name": "name", "schema": {"type": "string", "pattern": r"^\d{4}-\d{4}$"}}])
class SchoolYearItem(MethodView):
    @requires("regulator")
    @calendar_bp.response(200, SchoolYearOut)
    def get(self, name: str) -> Any:
        info = calendar.school_year(db_session(), _path_school_year(name))
        if info is None:
            raise NotFound("school year")
        return info

    @requires("regulator")
    @calendar_bp.arguments(SchoolYearIn)
    @calendar_bp.response(200, SchoolYearOut)
    def put(self, data: dict[str, Any], name: str) -> Any:
        winter, summer = data["winter_vacation"], data["summer_vacation"]
        return calendar.put_school_year(db_session(), name,
                                        winter=(winter["start"], winter["end"]),
                                        summer=(summer["start"], summer["end"]))


blueprints = [runs_bp, flags_bp, calendar_bp]
