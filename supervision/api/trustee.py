"""The trustee's signed events (API.md §6) and statement import (§4)."""

from __future__ import annotations

import json
import re
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest

from ..access.scope import get_in_scope
from ..db import BIGINT_MAX
from ..errors import Invalid, Unauthenticated
from ..escrow import statements, trustee
from ..models.trustee import Statement
from ..web.auth import current_actor, requires
from ..web.request import db_session
from .common import Blueprint, DateTime, Int, Query, QuerySchema, Schema, Str, money
from .common import Date as DateField
from .errors import flatten

events_bp = Blueprint("trustee", __name__, description="Signed events from the trustee (§6)")
statements_bp = Blueprint("statements", __name__,
                          description="Trustee statements and reconciliation (§4)")

_ID = ma.validate.Length(min=1, max=64)
# Unix seconds in ASCII digits ("²" passes str.isdigit() and then fails int()), and short:
# int() of 5,000 digits is refused by Python itself. 12 digits last until the year 33658.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# hmac.compare_digest raises TypeError for non-ASCII text instead of answering False.
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{1,128}")


class InstructionId(ma.fields.Field):
    """Our instruction id as we sent it: an integer (a string of digits is taken too)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= BIGINT_MAX:
            return value
        raise ma.ValidationError("must be an instruction id")


class _Event(Schema):
    event_id = Str(required=True, validate=ma.validate.Length(min=1, max=100),
                   metadata={"example": "evt-20261208-000187"})
    type = Str(required=True)


class DepositReceived(_Event):
    type = Str(required=True, metadata={"example": "deposit.received"})
    payment_reference = Str(required=True, validate=_ID, metadata={"example": "SV7K3M9Q2X4H8N6P5R"})
    amount_fen = Int(required=True, validate=ma.validate.Range(min=1, max=10**13),
                     metadata={"example": 120000})
    trustee_txn_id = Str(required=True, validate=_ID, metadata={"example": "TRX20261208000187"})
    received_at = DateTime(required=True, metadata={"example": "2026-12-08T10:02:11+08:00"})


class InstructionExecuted(_Event):
    type = Str(required=True, metadata={"example": "instruction.executed"})
    instruction_id = InstructionId(required=True, metadata={"example": 88})
    trustee_txn_id = Str(required=True, validate=_ID, metadata={"example": "TRX20261209000342"})
    executed_at = DateTime(required=True, metadata={"example": "2026-12-09T09:15:40+08:00"})


class InstructionFailed(_Event):
    type = Str(required=True, metadata={"example": "instruction.failed"})
    instruction_id = InstructionId(required=True, metadata={"example": 88})
    reason = Str(required=True, validate=ma.validate.Length(min=1, max=500),
                 metadata={"example": "收款账户已销户"})


EVENT_SCHEMAS: dict[str, type[Schema]] = {
    "deposit.received": DepositReceived,
    "instruction.executed": InstructionExecuted,
    "instruction.failed": InstructionFailed,
}


class EventResultSchema(Schema):
    event_id = Str(metadata={"example": "evt-20261208-000187"})
    outcome = Str(metadata={"description": "applied | suspense | executed | failed | "
                                           "already_executed | already_failed | duplicate | "
                                           "duplicate_conflict", "example": "applied"})
    original_outcome = Str(metadata={"description": "for a duplicate: the first outcome",
                                     "example": "applied"})


def load_event(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(validated event, body as received). Called only after the signature was checked."""
    try:
        payload = json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Invalid.field("_schema", "the body must be a JSON object")
    kind = payload.get("type")
    # Any JSON may arrive here ("type": {} is unhashable): only a string can name a schema.
    schema = EVENT_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise Invalid.field("type", "unknown event type; one of " + ", ".join(EVENT_SCHEMAS))
    try:
        return schema().load(payload), payload
    except ma.ValidationError as exc:
        raise Invalid("validation failed", errors=flatten(exc.messages)) from None


@events_bp.route("/trustee/events")
class TrusteeEvents(MethodView):
    @events_bp.doc(security=[], requestBody={"required": True, "content": {
        "application/json": {"schema": {"oneOf": list(EVENT_SCHEMAS.values())}}}},
        description="Signed with X-Supervision-Timestamp and X-Supervision-Signature "
                    "(API.md §6); no bearer token. A repeated event_id is answered 200 and "
                    "does nothing again.")
    @events_bp.response(200, EventResultSchema)
    def post(self) -> Any:
        raw = request.get_data(cache=True)
        timestamp = request.headers.get("X-Supervision-Timestamp", "")
        signature = request.headers.get("X-Supervision-Signature", "")
        if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
            raise Unauthenticated("missing, stale or bad trustee signature")
        # The signature covers the raw bytes: checked before anything is parsed.
        trustee.check_signature(current_app.config["SUPERVISION"], timestamp, signature, raw)
        event, payload = load_event(raw)
        session = db_session()
        session.info["actor"] = trustee.TRUSTEE
        return trustee.handle_event(session, trustee.TRUSTEE, event, payload=payload).as_dict()


class StatementLineSchema(Schema):
    trustee_txn_id = Str(required=True, validate=_ID, metadata={"example": "TRX20261208000187"})
    direction = Str(required=True, validate=ma.validate.OneOf(statements.DIRECTIONS),
                    metadata={"example": "credit"})
    amount_fen = money(required=True, metadata={"example": 120000})
    value_date = DateField(required=True, metadata={"example": "2026-12-08"})
    reference = Str(allow_none=True, validate=ma.validate.Length(max=200),
                    metadata={"example": "SV7K3M9Q2X4H8N6P5R"})


class Lines(ma.fields.List):
    """Documented as a list of StatementLineSchema, loaded by the service's own line parser:
    100,000 lines through nested marshmallow schemas take ten times as long."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ma.fields.Nested(StatementLineSchema), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return statements.lines_from_json(value)
        except Invalid as exc:
            messages = {k.removeprefix("lines."): v for k, v in exc.errors.items()}
            raise ma.ValidationError(messages.get("lines", messages)) from None


class StatementSchema(Schema):
    account_no = Str(required=True, validate=_ID, metadata={"example": "GLXT-3202-000123"})
    date = DateField(required=True, metadata={"example": "2026-12-08"})
    opening_balance_fen = money(required=True, metadata={"example": 3580000})
    closing_balance_fen = money(required=True, metadata={"example": 3700000})
    lines = Lines(required=True)

    @ma.pre_load
    def _reject_control_chars(self, data: Any, **kw: Any) -> Any:
        # The lines are checked by their parser; walking 500,000 strings twice is not needed.
        if isinstance(data, dict):
            super()._reject_control_chars({k: v for k, v in data.items() if k != "lines"})
        return data

    @ma.post_load
    def _to_statement(self, data: dict[str, Any], **_kw: Any) -> statements.StatementIn:
        return statements.StatementIn(**data)


class ReportSchema(Schema):
    id = ma.fields.Integer(metadata={"example": 56})
    account_no = Str(metadata={"example": "GLXT-3202-000123"})
    date = Str(metadata={"example": "2026-12-08"})
    matched = ma.fields.Integer(metadata={"example": 1})
    unmatched_statement_lines = ma.fields.List(ma.fields.Dict(), metadata={"example": []})
    unmatched_ledger_entries = ma.fields.List(ma.fields.Dict(), metadata={"example": []})
    unmatched_statement_line_count = ma.fields.Integer(metadata={"example": 0})
    unmatched_ledger_entry_count = ma.fields.Integer(metadata={"example": 0})
    ledger_custody_fen = ma.fields.Integer(metadata={"example": 3700000})
    statement_closing_fen = ma.fields.Integer(metadata={"example": 3700000})
    difference_fen = ma.fields.Integer(metadata={
        "description": "statement_closing_fen - ledger_custody_fen (negative: a shortfall)",
        "example": 0})


@statements_bp.url_value_preprocessor
def _statements_may_be_large(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # A day's statement of a busy account can run to 100,000 lines (~12 MB of JSON): this
    # endpoint alone accepts more than the application-wide body limit. A URL value
    # preprocessor because it runs before every before_request hook, the app's size check
    # (security.py) included, which reads request.max_content_length.
    limit = current_app.config["SUPERVISION"].statement_max_content_length
    request.max_content_length = int(limit)


class StatementArgs(QuerySchema):
    account_no = Str(validate=_ID, metadata={"example": "GLXT-3202-000123"})
    date = DateField(metadata={"example": "2026-12-08"})


class StatementSummarySchema(Schema):
    id = ma.fields.Integer(metadata={"example": 56})
    account_no = Str(metadata={"example": "GLXT-3202-000123"})
    date = DateField(metadata={"example": "2026-12-08"})
    institution_id = ma.fields.Integer(metadata={"example": 12})
    opening_balance_fen = ma.fields.Integer(metadata={"example": 3580000})
    closing_balance_fen = ma.fields.Integer(metadata={"example": 3700000})
    line_count = ma.fields.Integer(metadata={"example": 1})
    source = Str(metadata={"example": "upload", "description": "upload | pull"})
    imported_at = DateTime(metadata={"example": "2026-12-09T08:30:00+08:00"})
    matched = ma.fields.Function(lambda s: s.report.get("matched"), metadata={"example": 1})
    difference_fen = ma.fields.Function(lambda s: s.report.get("difference_fen"),
                                        metadata={"example": 0})


@statements_bp.route("/escrow/statements")
class Statements(MethodView):
    @requires("regulator")
    @statements_bp.arguments(StatementSchema)
    @statements_bp.response(201, ReportSchema)
    @statements_bp.alt_response(200, schema=ReportSchema,
                                description="The same statement again: the first report")
    def post(self, statement: statements.StatementIn) -> Any:
        row, created = statements.import_statement(db_session(), current_actor(), statement)
        return row.report, 201 if created else 200

    @requires("regulator")
    @statements_bp.arguments(StatementArgs, location="query")
    @statements_bp.response(200, StatementSummarySchema(many=True))
    @statements_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        stmt = statements.statements_query(current_actor(), account_no=args.get("account_no"),
                                           day=args.get("date"))
        return Query(db_session(), stmt)


@statements_bp.route("/escrow/statements/<int:statement_id>")
class StatementReport(MethodView):
    @requires("regulator")
    @statements_bp.response(200, ReportSchema)
    def get(self, statement_id: int) -> Any:
        return get_in_scope(db_session(), current_actor(), Statement, statement_id).report


blueprints = [events_bp, statements_bp]
