"""Compliance (API.md §5): runs, flags and their review, the working calendar."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow.validate import Length, OneOf, Range

from .. import calendar
from ..compliance import runs, workflow
from ..compliance.flags import rule_title
from ..errors import Invalid, NotFound
from ..models.compliance import ComplianceRun
from ..vocab import SEVERITIES
from ..web.auth import current_actor, requires
from ..web.request import db_session
from .common import (
    Blueprint,
    Date,
    Int,
    Query,
    QuerySchema,
    Schema,
    Str,
    query_id,
    shanghai_now,
)
from .common import DateTime as DateTimeField

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
                          validate=lambda v: YEARS(v.year) is not None,
                          metadata={"example": "2026-12-03T20:00:00+08:00"})
    horizon_days = Int(load_default=30, validate=Range(min=0, max=366), metadata={"example": 30})
    lookback_days = Int(load_default=7, validate=Range(min=0, max=366), metadata={"example": 7})


class RuleCountOut(Schema):
    rule = Str(metadata={"example": "LATE_END_OFFLINE"})
    title = Str(metadata={"example": "线下培训结束时间晚于20:30"})
    count = ma.fields.Integer(metadata={"example": 3})


class RunOut(Schema):
    id = ma.fields.Integer(metadata={"example": 41})
    as_of = DateTimeField(metadata={"example": "2026-12-03T20:00:00+08:00"})
    started_at = DateTimeField(metadata={"example": "2026-12-03T20:00:00+08:00"})
    finished_at = DateTimeField(metadata={"example": "2026-12-03T20:00:04+08:00"})
    sessions_scanned = ma.fields.Integer(metadata={"example": 1280})
    flags_opened = ma.fields.Integer(metadata={"example": 5})
    flags_cleared = ma.fields.Integer(metadata={"example": 2})
    flags_open = ma.fields.Integer(metadata={"example": 17})
    flags_reopened = ma.fields.Integer(metadata={"example": 1})
    findings = ma.fields.Integer(metadata={"example": 20})
    window_start = DateTimeField(metadata={"example": "2026-11-26T20:00:00+08:00"})
    window_end = DateTimeField(metadata={"example": "2027-01-02T20:00:00+08:00"})
    horizon_days = ma.fields.Integer(metadata={"example": 30})
    lookback_days = ma.fields.Integer(metadata={"example": 7})
    triggered_by = Str(metadata={"example": "regulator:梁溪区教育局#3"})
    by_rule = ma.fields.Method("_by_rule", metadata={"example": [
        {"rule": "LATE_END_OFFLINE", "title": "线下培训结束时间晚于20:30", "count": 3}]})

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
        return runs.run_compliance(db_session(), current_actor(),
                                   as_of=data["as_of"] or shanghai_now(),
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
    status = Str(validate=OneOf(workflow.STATUSES), metadata={"example": "open"})
    severity = Str(validate=OneOf(SEVERITIES), metadata={"example": "medium"})

    rule = Str(validate=Length(max=40), metadata={"example": "LATE_END_OFFLINE"})
    district_code = Str(validate=Length(max=6), metadata={"example": "320213"})
    institution_id = query_id(metadata={"example": 12})
    overdue = ma.fields.Boolean(truthy={"true", "1"}, falsy={"false", "0"},
                                metadata={"example": False})


class FlagOut(Schema):
    id = ma.fields.Integer(metadata={"example": 318})
    rule = Str(metadata={"example": "LATE_END_OFFLINE"})
    title = ma.fields.Function(lambda flag: rule_title(flag.rule),
                               metadata={"example": "线下培训结束时间晚于20:30"})
    severity = Str(metadata={"example": "medium"})
    status = Str(metadata={"example": "rectification_ordered"})
    institution_id = ma.fields.Integer(allow_none=True, metadata={"example": 12})
    subject_type = Str(metadata={"example": "session"})
    subject_id = Str(metadata={"example": "204"})
    summary = Str(metadata={"example": "课次 #204 于 20:45 结束，晚于 20:30"})
    evidence = ma.fields.Dict(metadata={"example": {
        "session_id": 204, "ends_at": "2026-12-08T20:45:00+08:00", "limit": "20:30"}})
    first_detected_at = DateTimeField(metadata={"example": "2026-12-03T20:00:03+08:00"})
    last_detected_at = DateTimeField(metadata={"example": "2026-12-04T20:00:02+08:00"})
    due_on = ma.fields.Date(allow_none=True, metadata={"example": "2026-12-17"})
    overdue = ma.fields.Function(lambda flag: workflow.is_overdue(flag, today()),
                                 metadata={"example": False})


class EventOut(Schema):
    at = DateTimeField(metadata={"example": "2026-12-04T09:30:00+08:00"})
    actor = Str(metadata={"example": "regulator:梁溪区教育局#3"})
    action = Str(metadata={"example": "order_rectification"})
    note = Str(allow_none=True, metadata={"example": "请于12月17日前调整晚间课表并提交整改报告"})
    from_status = Str(allow_none=True, metadata={"example": "open"})
    to_status = Str(metadata={"example": "rectification_ordered"})


class FlagDetailOut(FlagOut):
    history = ma.fields.Method("_history", metadata={"example": [
        {"at": "2026-12-04T09:30:00+08:00", "actor": "regulator:梁溪区教育局#3",
         "action": "order_rectification", "note": "请于12月17日前调整晚间课表并提交整改报告",
         "from_status": "open", "to_status": "rectification_ordered"}]})

    def _history(self, flag: Any) -> Any:
        return EventOut(many=True).dump(workflow.history(db_session(), flag))


class ActionIn(Schema):
    action = Str(required=True, validate=OneOf(tuple(workflow.TRANSITIONS)),
                 metadata={"example": "order_rectification"})
    note = Str(allow_none=True, load_default=None, validate=Length(max=2000),
               metadata={"example": "请于12月17日前调整晚间课表并提交整改报告"})
    due_on = Date(allow_none=True, load_default=None, metadata={"example": "2026-12-17"})


class ResponseIn(Schema):
    note = Str(required=True, validate=Length(min=1, max=2000),
               metadata={"example": "已将周二晚班调整为18:30-19:15，新课表见附件"})


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
    from_ = Date(required=True, data_key="from", metadata={"example": "2027-01-01"})
    to = Date(required=True, metadata={"example": "2027-01-31"})

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **_kw: Any) -> None:
        YEARS(data["from_"].year)
        if data["to"] < data["from_"]:
            raise ma.ValidationError("must not be before from", "to")
        if (data["to"] - data["from_"]).days >= MAX_CALENDAR_DAYS:
            raise ma.ValidationError(f"at most {MAX_CALENDAR_DAYS} days at once", "to")


class DayOut(Schema):
    date = ma.fields.Date(metadata={"example": "2027-01-01"})
    kind = Str(metadata={"example": "holiday"})
    name = Str(allow_none=True, metadata={"example": "元旦"})
    source = Str(metadata={"example": "package"})


class OverrideIn(Schema):
    kind = Str(required=True, validate=OneOf(("holiday", "workday")),
               metadata={"example": "workday"})
    name = Str(allow_none=True, load_default=None, validate=Length(max=100),
               metadata={"example": "春节调休上班"})


class SpanIO(Schema):
    start = Date(required=True, metadata={"example": "2027-01-23"})
    end = Date(required=True, metadata={"example": "2027-02-21"})


class SchoolYearIn(Schema):
    winter_vacation = ma.fields.Nested(SpanIO, required=True,
                                       metadata={"example": {"start": "2027-01-23",
                                                             "end": "2027-02-21"}})
    summer_vacation = ma.fields.Nested(SpanIO, required=True,
                                       metadata={"example": {"start": "2027-07-03",
                                                             "end": "2027-08-31"}})


class SchoolYearOut(Schema):
    name = Str(metadata={"example": "2026-2027"})
    winter_vacation = ma.fields.Function(
        lambda sy: {"start": sy.winter_vacation[0].isoformat(),
                    "end": sy.winter_vacation[1].isoformat()},
                    metadata={"example": {"start": "2027-01-23", "end": "2027-02-21"}})
    summer_vacation = ma.fields.Function(
        lambda sy: {"start": sy.summer_vacation[0].isoformat(),
                    "end": sy.summer_vacation[1].isoformat()},
                    metadata={"example": {"start": "2027-07-03", "end": "2027-08-31"}})
    source = Str(metadata={"example": "table"})


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
        return calendar.put_override(db_session(), current_actor(), _path_date(day), **data)

    @requires("regulator")
    @calendar_bp.response(204)
    def delete(self, day: str) -> None:
        calendar.delete_override(db_session(), current_actor(), _path_date(day))


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
        return calendar.put_school_year(db_session(), current_actor(), name,
                                        winter=(winter["start"], winter["end"]),
                                        summer=(summer["start"], summer["end"]))


blueprints = [runs_bp, flags_bp, calendar_bp]
