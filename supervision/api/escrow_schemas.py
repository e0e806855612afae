"""Schemas of the escrow API (API.md §4): explicit, so the contract does not move with a column."""

from __future__ import annotations

import marshmallow as ma

from .common import DateTime, Int, QuerySchema, Schema, Str


def query_id() -> ma.fields.Integer:
    """An id in the query string: a string there, so not our strict Int."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**63 - 1))


class EnrollmentIn(Schema):
    course_id = Int(required=True)
    student_name = Str(required=True, validate=ma.validate.Length(max=100))
    student_grade = Int(required=True, validate=ma.validate.Range(min=0, max=12))
    class_hours = Int(required=True, validate=ma.validate.Range(min=1))


class EnrollmentOut(Schema):
    id = Int()
    course_id = Int()
    institution_id = Int()
    student_name = Str()
    student_grade = Int()
    class_hours = Int()
    consumed_hours = Int()
    price_per_class_hour_fen = Int()
    amount_fen = Int()
    payment_reference = Str()
    status = Str()
    created_at = DateTime()
    paid_at = DateTime(allow_none=True)


class EnrollmentArgs(QuerySchema):
    course_id = query_id()
    status = Str(validate=ma.validate.OneOf(
        ["awaiting_payment", "active", "completed", "refunded"]))


class ClassHours(Schema):
    purchased = Int()
    consumed = Int()
    remaining = Int()


class Movement(Schema):
    at = DateTime()
    kind = Str()
    amount_fen = Int()
    source = Str(attribute="from", data_key="from", allow_none=True)
    target = Str(attribute="to", data_key="to", allow_none=True)
    ref_type = Str(allow_none=True)
    ref_id = Int(allow_none=True)
    trustee_txn_id = Str(allow_none=True)


class EscrowStatusOut(Schema):
    enrollment_id = Int()
    paid_fen = Int()
    held_fen = Int()
    pending_confirmation_fen = Int()
    confirmed_fen = Int()
    released_fen = Int()
    refund_pending_fen = Int()
    refunded_fen = Int()
    refundable_fen = Int()
    class_hours = ma.fields.Nested(ClassHours)
    movements = ma.fields.List(ma.fields.Nested(Movement))


class AttendanceIn(Schema):
    enrollment_ids = ma.fields.List(Int(), required=True,
                                    validate=ma.validate.Length(min=1, max=500))
    # Bounded so that hours × price can never overflow a BIGINT of fen.
    class_hours = Int(validate=ma.validate.Range(min=1, max=1000))


class ConsumptionOut(Schema):
    id = Int()
    enrollment_id = Int()
    session_id = Int()
    institution_id = Int()
    class_hours = Int()
    amount_fen = Int()
    status = Str()
    recorded_at = DateTime()
    auto_confirm_at = DateTime()
    confirmed_at = DateTime(allow_none=True)
    confirmed_by = Str(allow_none=True)
    disputed_at = DateTime(allow_none=True)
    dispute_reason = Str(allow_none=True)


class AttendanceOut(Schema):
    consumptions = ma.fields.List(ma.fields.Nested(ConsumptionOut))


class ConsumptionArgs(QuerySchema):
    enrollment_id = query_id()
    status = Str(validate=ma.validate.OneOf(["pending_confirmation", "confirmed", "disputed"]))


class ReasonIn(Schema):
    reason = Str(required=True, validate=ma.validate.Length(max=1000))


class RefundIn(Schema):
    reason = Str(required=True, validate=ma.validate.Length(max=1000))
    amount_fen = Int(validate=ma.validate.Range(min=1, max=10**13))


class RefundOut(Schema):
    id = Int()
    enrollment_id = Int()
    institution_id = Int()
    amount_fen = Int()
    reason = Str()
    status = Str()
    requested_at = DateTime()
    auto_approve_at = DateTime()
    decided_at = DateTime(allow_none=True)
    reject_reason = Str(allow_none=True)
    completed_at = DateTime(allow_none=True)


class RefundArgs(QuerySchema):
    enrollment_id = query_id()
    status = Str(validate=ma.validate.OneOf(["requested", "rejected", "instructed",
                                             "completed"]))


class InstructionBrief(Schema):
    id = Int()
    kind = Str()
    institution_id = Int()
    refund_id = Int(allow_none=True)
    amount_fen = Int()
    status = Str()


class InstructionOut(InstructionBrief):
    release_run_id = Int(allow_none=True)
    account_no = Str()
    payee = Str()
    memo = Str()
    trustee_txn_id = Str(allow_none=True)
    created_at = DateTime()
    sent_at = DateTime(allow_none=True)
    executed_at = DateTime(allow_none=True)
    failure_reason = Str(allow_none=True)
    attempts = Int()


class InstructionArgs(QuerySchema):
    kind = Str(validate=ma.validate.OneOf(["release", "refund"]))
    status = Str(validate=ma.validate.OneOf(["pending", "sent", "executed", "failed"]))
    institution_id = query_id()


class ReleaseRunOut(Schema):
    id = Int()
    created_at = DateTime()
    total_fen = Int()
    instructions = ma.fields.List(ma.fields.Nested(InstructionBrief))


class AccountTotal(Schema):
    kind = Str()
    normal = Str()
    count = Int()
    debits_fen = Int()
    credits_fen = Int()
    balance_fen = Int()
    pending_debits_fen = Int()
    pending_credits_fen = Int()


class TrialBalanceOut(Schema):
    balanced = ma.fields.Boolean()
    debits_fen = Int()
    credits_fen = Int()
    accounts = ma.fields.List(ma.fields.Nested(AccountTotal))


class SummaryOut(Schema):
    institution_id = Int()
    paid_fen = Int()
    held_fen = Int()
    pending_confirmation_fen = Int()
    confirmed_fen = Int()
    released_fen = Int()
    refund_pending_fen = Int()
    refunded_fen = Int()
    refundable_fen = Int()
    custody_fen = Int()
    suspense_fen = Int()


class EntryOut(Schema):
    id = Int()
    txn_id = Str()
    account_id = Int()
    account_kind = Str()
    direction = Str()
    amount_fen = Int()
    kind = Str()
    enrollment_id = Int(allow_none=True)
    institution_id = Int(allow_none=True)
    ref_type = Str(allow_none=True)
    ref_id = Int(allow_none=True)
    trustee_txn_id = Str(allow_none=True)
    at = DateTime()


class EntryArgs(QuerySchema):
    enrollment_id = query_id()
    institution_id = query_id()
