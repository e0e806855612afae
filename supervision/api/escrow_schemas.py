"""Schemas of the escrow API (API.md §4): explicit, so the contract does not move with a column."""

from __future__ import annotations

import marshmallow as ma

from ..escrow.queries import MOVEMENTS_PAGE, MOVEMENTS_PAGE_MAX
from .common import DateTime, Int, QuerySchema, Schema, Str, query_id


class EnrollmentIn(Schema):
    course_id = Int(required=True, metadata={"example": 7})
    student_name = Str(required=True, validate=ma.validate.Length(max=100),
                       metadata={"example": "张小明"})
    student_grade = Int(required=True, validate=ma.validate.Range(min=0, max=12),
                        metadata={"example": 8})
    class_hours = Int(required=True, validate=ma.validate.Range(min=1), metadata={"example": 20})


class EnrollmentOut(Schema):
    id = Int(metadata={"example": 301})
    course_id = Int(metadata={"example": 7})
    institution_id = Int(metadata={"example": 12})
    # Named, so that a parent's list reads without further calls.
    course_name = Str(dump_only=True, metadata={"example": "初二数学提高班"})
    institution_name = Str(dump_only=True, metadata={"example": "锡心学堂培训中心"})
    student_name = Str(metadata={"example": "张小明"})
    student_grade = Int(metadata={"example": 8})
    class_hours = Int(metadata={"example": 20})
    consumed_hours = Int(metadata={"example": 4})
    price_per_class_hour_fen = Int(metadata={"example": 6000})
    amount_fen = Int(metadata={"example": 120000})
    payment_reference = Str(metadata={"example": "SV7K3M9Q2X4H8N6P5R"})
    status = Str(metadata={"example": "active"})
    created_at = DateTime(metadata={"example": "2026-12-07T21:03:00+08:00"})
    paid_at = DateTime(allow_none=True, metadata={"example": "2026-12-08T10:02:11+08:00"})
    # When the deposit made the enrollment active: attendance for a session that started
    # earlier is refused (SESSION_BEFORE_ENROLLMENT). Null before payment.
    activated_at = DateTime(attribute="paid_at", allow_none=True, dump_only=True,
                            metadata={"example": "2026-12-08T10:02:11+08:00"})


class EnrollmentArgs(QuerySchema):
    course_id = query_id(metadata={"example": 7})
    status = Str(validate=ma.validate.OneOf(
        ["awaiting_payment", "active", "completed", "refunded"]), metadata={"example": "active"})


class ClassHours(Schema):
    purchased = Int(metadata={"example": 20})
    consumed = Int(metadata={"example": 4})
    remaining = Int(metadata={"example": 16})


class MovementSession(Schema):
    """The class a consumption paid for: what a parent needs to recognise the charge."""

    id = Int(metadata={"example": 204})
    starts_at = DateTime(metadata={"example": "2026-12-08T18:00:00+08:00"})
    course_name = Str(metadata={"example": "初二数学提高班"})


class RefundBrief(Schema):
    id = Int(metadata={"example": 45})
    amount_fen = Int(metadata={"example": 96000})
    status = Str(metadata={"example": "requested"})
    requested_at = DateTime(metadata={"example": "2026-12-10T09:00:00+08:00"})
    auto_approve_at = DateTime(metadata={"example": "2026-12-17T09:00:00+08:00"})


class Movement(Schema):
    at = DateTime(metadata={"example": "2026-12-08T19:20:00+08:00"})
    kind = Str(metadata={"example": "consumption"})
    amount_fen = Int(metadata={"example": 6000})
    source = Str(attribute="from", data_key="from", allow_none=True, metadata={"example": "held"})
    target = Str(attribute="to", data_key="to", allow_none=True,
                 metadata={"example": "pending_confirmation"})
    ref_type = Str(allow_none=True, metadata={"example": "consumption"})
    ref_id = Int(allow_none=True, metadata={"example": 977})
    trustee_txn_id = Str(allow_none=True, metadata={"example": None})
    # Only on the lines of a consumption (its billing and its confirmation).
    session = ma.fields.Nested(MovementSession)


class EscrowStatusOut(Schema):
    enrollment_id = Int(metadata={"example": 301})
    paid_fen = Int(metadata={"example": 120000})
    held_fen = Int(metadata={"example": 96000})
    pending_confirmation_fen = Int(metadata={"example": 6000})
    confirmed_fen = Int(metadata={"example": 6000})
    released_fen = Int(metadata={"example": 12000})
    refund_pending_fen = Int(metadata={"example": 0})
    refunded_fen = Int(metadata={"example": 0})
    refundable_fen = Int(metadata={"example": 96000})
    # Parts of the buckets above, outside the identity: where a parent's money is stuck.
    disputed_fen = Int(metadata={"example": 0})
    refund_requested_fen = Int(metadata={"example": 0})
    class_hours = ma.fields.Nested(ClassHours)
    # The newest `movements_limit` movements, oldest first; `movements_next` reads the older
    # ones (as ?movements_before=), null when these are the oldest.
    movements = ma.fields.List(ma.fields.Nested(Movement))
    movements_next = Int(allow_none=True, metadata={"example": None})
    refunds = ma.fields.List(ma.fields.Nested(RefundBrief))


class EscrowStatusArgs(QuerySchema):
    movements_limit = ma.fields.Integer(
        load_default=MOVEMENTS_PAGE, validate=ma.validate.Range(min=1, max=MOVEMENTS_PAGE_MAX),
        metadata={"example": MOVEMENTS_PAGE})
    # A previous answer's movements_next: the page of movements older than that one.
    movements_before = query_id(metadata={"example": 5521})


class AttendanceIn(Schema):
    enrollment_ids = ma.fields.List(Int(), required=True,
                                    validate=ma.validate.Length(min=1, max=500),
                                    metadata={"example": [301, 302]})
    # Bounded so that hours × price can never overflow a BIGINT of fen.
    class_hours = Int(validate=ma.validate.Range(min=1, max=1000), metadata={"example": 1})


class ConsumptionOut(Schema):
    id = Int(metadata={"example": 977})
    enrollment_id = Int(metadata={"example": 301})
    session_id = Int(metadata={"example": 204})
    institution_id = Int(metadata={"example": 12})
    class_hours = Int(metadata={"example": 1})
    amount_fen = Int(metadata={"example": 6000})
    status = Str(metadata={"example": "confirmed"})
    recorded_at = DateTime(metadata={"example": "2026-12-08T19:20:00+08:00"})
    auto_confirm_at = DateTime(metadata={"example": "2026-12-11T19:20:00+08:00"})
    confirmed_at = DateTime(allow_none=True, metadata={"example": "2026-12-08T21:40:00+08:00"})
    confirmed_by = Str(allow_none=True, metadata={"example": "parent"})
    disputed_at = DateTime(allow_none=True, metadata={"example": None})
    dispute_reason = Str(allow_none=True, metadata={"example": None})


class AttendanceOut(Schema):
    consumptions = ma.fields.List(ma.fields.Nested(ConsumptionOut))


class ConsumptionArgs(QuerySchema):
    enrollment_id = query_id(metadata={"example": 301})
    status = Str(validate=ma.validate.OneOf(["pending_confirmation", "confirmed", "disputed"]),
                 metadata={"example": "pending_confirmation"})


class ReasonIn(Schema):
    reason = Str(required=True, validate=ma.validate.Length(max=1000),
                 metadata={"example": "12月8日孩子请病假未到课，不应扣除课时"})


class RefundIn(Schema):
    reason = Str(required=True, validate=ma.validate.Length(max=1000),
                 metadata={"example": "孩子转学，申请退还剩余16课时费用"})
    amount_fen = Int(validate=ma.validate.Range(min=1, max=10**13), metadata={"example": 96000})


class RefundOut(Schema):
    id = Int(metadata={"example": 45})
    enrollment_id = Int(metadata={"example": 301})
    institution_id = Int(metadata={"example": 12})
    amount_fen = Int(metadata={"example": 96000})
    reason = Str(metadata={"example": "孩子转学，申请退还剩余16课时费用"})
    status = Str(metadata={"example": "completed"})
    requested_at = DateTime(metadata={"example": "2026-12-10T09:00:00+08:00"})
    auto_approve_at = DateTime(metadata={"example": "2026-12-17T09:00:00+08:00"})
    decided_at = DateTime(allow_none=True, metadata={"example": "2026-12-11T14:30:00+08:00"})
    reject_reason = Str(allow_none=True, metadata={"example": None})
    completed_at = DateTime(allow_none=True, metadata={"example": "2026-12-12T10:05:00+08:00"})


class RefundArgs(QuerySchema):
    enrollment_id = query_id(metadata={"example": 301})
    status = Str(validate=ma.validate.OneOf(["requested", "rejected", "instructed",
                                             "completed"]), metadata={"example": "requested"})


class InstructionBrief(Schema):
    id = Int(metadata={"example": 88})
    kind = Str(metadata={"example": "release"})
    institution_id = Int(metadata={"example": 12})
    refund_id = Int(allow_none=True, metadata={"example": None})
    amount_fen = Int(metadata={"example": 384000})
    status = Str(metadata={"example": "executed"})


class InstructionOut(InstructionBrief):
    release_run_id = Int(allow_none=True, metadata={"example": 19})
    account_no = Str(metadata={"example": "GLXT-3202-000123"})
    payee = Str(metadata={"example": "锡心学堂培训中心"})
    memo = Str(metadata={"example": "课消拨付 第19批"})
    trustee_txn_id = Str(allow_none=True, metadata={"example": "TRX20261209000342"})
    created_at = DateTime(metadata={"example": "2026-12-09T02:00:00+08:00"})
    sent_at = DateTime(allow_none=True, metadata={"example": "2026-12-09T02:00:05+08:00"})
    executed_at = DateTime(allow_none=True, metadata={"example": "2026-12-09T09:15:40+08:00"})
    failure_reason = Str(allow_none=True, metadata={"example": None})
    attempts = Int(metadata={"example": 1})


class InstructionArgs(QuerySchema):
    kind = Str(validate=ma.validate.OneOf(["release", "refund"]), metadata={"example": "release"})
    status = Str(validate=ma.validate.OneOf(["pending", "sent", "executed", "failed"]),
                 metadata={"example": "pending"})
    institution_id = query_id(metadata={"example": 12})


class ReleaseRunOut(Schema):
    id = Int(metadata={"example": 19})
    created_at = DateTime(metadata={"example": "2026-12-09T02:00:00+08:00"})
    total_fen = Int(metadata={"example": 384000})
    instructions = ma.fields.List(ma.fields.Nested(InstructionBrief))


class AccountTotal(Schema):
    kind = Str(metadata={"example": "custody"})
    normal = Str(metadata={"example": "debit"})
    count = Int(metadata={"example": 1})
    debits_fen = Int(metadata={"example": 4180000})
    credits_fen = Int(metadata={"example": 480000})
    balance_fen = Int(metadata={"example": 3700000})
    pending_debits_fen = Int(metadata={"example": 0})
    pending_credits_fen = Int(metadata={"example": 0})


class TrialBalanceOut(Schema):
    balanced = ma.fields.Boolean(metadata={"example": True})
    debits_fen = Int(metadata={"example": 9640000})
    credits_fen = Int(metadata={"example": 9640000})
    accounts = ma.fields.List(ma.fields.Nested(AccountTotal))


class SummaryOut(Schema):
    institution_id = Int(metadata={"example": 12})
    paid_fen = Int(metadata={"example": 4180000})
    held_fen = Int(metadata={"example": 3616000})
    pending_confirmation_fen = Int(metadata={"example": 48000})
    confirmed_fen = Int(metadata={"example": 36000})
    released_fen = Int(metadata={"example": 384000})
    refund_pending_fen = Int(metadata={"example": 0})
    refunded_fen = Int(metadata={"example": 96000})
    refundable_fen = Int(metadata={"example": 3616000})
    custody_fen = Int(metadata={"example": 3700000})
    suspense_fen = Int(metadata={"example": 0})


class EntryOut(Schema):
    id = Int(metadata={"example": 5521})
    txn_id = Str(metadata={"example": "4f1c2e9a7b3d4c8e9a0b1c2d3e4f5a6b"})
    account_id = Int(metadata={"example": 240})
    account_kind = Str(metadata={"example": "held"})
    direction = Str(metadata={"example": "debit"})
    amount_fen = Int(metadata={"example": 6000})
    kind = Str(metadata={"example": "consumption"})
    enrollment_id = Int(allow_none=True, metadata={"example": 301})
    institution_id = Int(allow_none=True, metadata={"example": 12})
    ref_type = Str(allow_none=True, metadata={"example": "consumption"})
    ref_id = Int(allow_none=True, metadata={"example": 977})
    trustee_txn_id = Str(allow_none=True, metadata={"example": None})
    at = DateTime(metadata={"example": "2026-12-08T19:20:00+08:00"})


class EntryArgs(QuerySchema):
    enrollment_id = query_id(metadata={"example": 301})
    institution_id = query_id(metadata={"example": 12})
