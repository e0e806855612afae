"""Request and response schemas of complaints, tips and reviews (API.md §10-11).

The public's tip schemas are separate from the regulator's: the public one cannot dump a
contact or a note, whatever the object handed to it carries.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow.validate import Length, OneOf, Range, Regexp

from ..models.complaints import (
    COMPLAINT_CATEGORIES,
    COMPLAINT_OUTCOMES,
    COMPLAINT_STATUSES,
    TIP_OUTCOMES,
    TIP_STATUSES,
)
from .common import Date, DateTime, Int, QuerySchema, Schema, Str, query_id

DISTRICT = {"example": "320213"}


def _district(**kwargs: Any) -> Str:
    # Enforced, not only documented: the OpenAPI pattern comes from this validator.
    return Str(validate=Regexp(r"^[0-9]{6}$", error="a 6-digit district code"),
               metadata=DISTRICT, **kwargs)


def _text(length: int, **kwargs: Any) -> Str:
    return Str(validate=Length(max=length), **kwargs)


def _id(**kwargs: Any) -> Int:
    return Int(validate=Range(min=1), **kwargs)


# --- complaints ------------------------------------------------------------------------------

class ComplaintIn(Schema):
    institution_id = _id(required=True, metadata={"example": 12})
    enrollment_id = _id(allow_none=True, metadata={
        "description": "optional: one of the parent's own enrollments at that institution",
        "example": 301})
    category = Str(required=True, validate=OneOf(COMPLAINT_CATEGORIES),
                   metadata={"example": "refund"})
    text = _text(2000, required=True, metadata={
        "example": "申请退费已过10个工作日，机构一直说在走流程，电话也不接。"})


class ComplaintArgs(QuerySchema):
    status = Str(validate=OneOf(COMPLAINT_STATUSES), metadata={"example": "submitted"})
    institution_id = query_id(metadata={"example": 12})
    category = Str(validate=OneOf(COMPLAINT_CATEGORIES), metadata={"example": "refund"})


class ComplaintOut(Schema):
    id = Int(metadata={"example": 41})
    institution_id = Int(metadata={"example": 12})
    enrollment_id = Int(allow_none=True, metadata={"example": 301})
    category = Str(metadata={"example": "refund"})
    text = Str(metadata={"example": "申请退费已过10个工作日，机构一直说在走流程，电话也不接。"})
    status = Str(metadata={"example": "submitted"})
    respond_by = Date(metadata={"example": "2026-12-10"})
    due_on = Date(metadata={"example": "2026-12-24"})
    created_at = DateTime(metadata={"example": "2026-12-03T20:15:00+08:00"})


class ComplaintResponseOut(Schema):
    at = DateTime(metadata={"example": "2026-12-04T10:30:00+08:00"})
    text = Str(metadata={"example": "已核实，退费已于今日提交托管银行，预计3个工作日到账。"})


class ComplaintDetailOut(ComplaintOut):
    responses = ma.fields.List(ma.fields.Nested(ComplaintResponseOut))
    outcome = Str(allow_none=True, metadata={"description": "once closed",
                                             "example": "mediated"})
    note = Str(allow_none=True, metadata={"description": "once closed",
                                          "example": "经调解，机构同意全额退还剩余课时费。"})


class ComplaintResponseIn(Schema):
    text = _text(2000, required=True, metadata={
        "example": "已核实，退费已于今日提交托管银行，预计3个工作日到账。"})


class ComplaintResponseCreatedOut(ComplaintResponseOut):
    id = Int(metadata={"example": 77})
    complaint_id = Int(metadata={"example": 41})


class ComplaintCloseIn(Schema):
    outcome = Str(required=True, validate=OneOf(COMPLAINT_OUTCOMES),
                  metadata={"example": "mediated"})
    note = _text(2000, allow_none=True, metadata={
        "example": "经调解，机构同意全额退还剩余课时费。"})


# --- tips -----------------------------------------------------------------------------------

class PublicTipIn(Schema):
    district_code = _district(required=True)
    address = _text(300, required=True, metadata={"example": "无锡市梁溪区清扬路某小区12栋602室"})
    description = _text(2000, required=True, metadata={
        "example": "每周六上午有十几个初中生来上数学课，门口没有任何招牌。"})
    contact = _text(100, allow_none=True, metadata={
        "description": "optional; seen by the district's regulators only",
        "example": "139****0000"})


class PublicTipOut(Schema):
    reference = Str(metadata={"example": "q3N8vT1xK0bWm5Ls2PdY7A"})
    status = Str(metadata={"example": "submitted"})
    outcome = Str(allow_none=True, metadata={"example": None})


class TipArgs(QuerySchema):
    status = Str(validate=OneOf(TIP_STATUSES), metadata={"example": "submitted"})
    district_code = _district()


class TipOut(Schema):
    id = Int(metadata={"example": 5})
    reference = Str(metadata={"example": "q3N8vT1xK0bWm5Ls2PdY7A"})
    district_code = Str(metadata={"example": "320213"})
    address = Str(metadata={"example": "无锡市梁溪区清扬路某小区12栋602室"})
    description = Str(metadata={
        "example": "每周六上午有十几个初中生来上数学课，门口没有任何招牌。"})
    contact = Str(allow_none=True, metadata={"example": "139****0000"})
    status = Str(metadata={"example": "investigating"})
    outcome = Str(allow_none=True, metadata={"example": None})
    note = Str(allow_none=True, metadata={"example": "已转梁溪区综合执法局，12月5日联合检查。"})
    institution_id = Int(allow_none=True, metadata={"example": None})
    created_at = DateTime(metadata={"example": "2026-12-02T09:41:00+08:00"})
    updated_at = DateTime(metadata={"example": "2026-12-03T14:05:00+08:00"})


class TipActionIn(Schema):
    action = Str(required=True, validate=OneOf(("investigate", "close")),
                 metadata={"example": "close"})
    outcome = Str(allow_none=True, validate=OneOf(TIP_OUTCOMES), metadata={
        "description": "close only", "example": "confirmed"})
    note = _text(2000, allow_none=True, metadata={
        "example": "现场查实无证开展初中数学培训，已责令停止并移交执法。"})
    institution_id = _id(allow_none=True, metadata={
        "description": "optional: the registered institution it turned out to concern",
        "example": 12})


# --- reviews --------------------------------------------------------------------------------

class ReviewIn(Schema):
    stars = Int(required=True, validate=Range(min=1, max=5), metadata={"example": 4})
    text = _text(1000, required=True, metadata={"example": "老师讲解耐心，孩子愿意去上课。"})


class ReviewOut(Schema):
    id = Int(metadata={"example": 88})
    enrollment_id = Int(metadata={"example": 301})
    institution_id = Int(metadata={"example": 12})
    stars = Int(metadata={"example": 4})
    text = Str(metadata={"example": "老师讲解耐心，孩子愿意去上课。"})
    created_at = DateTime(metadata={"example": "2026-12-03T21:10:00+08:00"})
