"""Request and response schemas of the registries (API.md §3).

Input and output schemas are separate and explicit, so server-owned fields (ids, status,
hashes) can never be set by a client and the contract does not move when a column does.
Every string has a maximum length matching its column: PostgreSQL refuses longer values.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow.validate import Length, OneOf, Range

from .. import registry
from .common import Bool, Date, Int, QuerySchema, Schema, Str, money, query_id
from .common import DateTime as DateTimeField

INT32_MAX = 2**31 - 1
# Documentation of the shapes; the check characters themselves are verified by the services.
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"


def _str(length: int, **kwargs: Any) -> Str:
    return Str(validate=Length(max=length), **kwargs)


def _id(**kwargs: Any) -> Int:
    return Int(validate=Range(min=1), **kwargs)


# --- Institutions -------------------------------------------------------------------------

class InstitutionIn(Schema):
    name = _str(200, required=True, metadata={"example": "锡心学堂培训中心"})
    uscc = Str(required=True, validate=Length(equal=18),
               metadata={"description": "统一社会信用代码; the check character is verified",
                         "pattern": USCC_PATTERN, "example": "52320200MJ5812345D"})
    license_no = _str(64, required=True, metadata={"example": "教民32021300123号"})
    license_valid_until = Date(required=True, metadata={"example": "2029-06-30"})
    district_code = _str(6, required=True, metadata={"description": "e.g. 320213",
                                                     "pattern": r"^[0-9]{6}$",
                                                     "example": "320213"})
    category = Str(required=True, validate=OneOf(registry.CATEGORIES),
                   metadata={"example": "subject"})
    licensed_modes = ma.fields.List(Str(validate=OneOf(registry.LICENSED_MODES)),
                                    required=True, validate=Length(min=1, max=2),
                                    metadata={"example": ["offline"]})
    nonprofit_registration_no = _str(64, allow_none=True,
                                     metadata={"example": "52320200MJ5812345D"})
    escrow_mode = Str(required=True, validate=OneOf(registry.ESCROW_MODES),
                      metadata={"example": "trust"})
    supervised_account_no = _str(64, required=True, metadata={"example": "GLXT-3202-000123"})
    address = _str(300, required=True, metadata={"example": "无锡市梁溪区中山路218号锡心大厦3楼"})
    contact_phone = _str(32, allow_none=True, metadata={"example": "0510-82701234"})


class InstitutionPatch(InstitutionIn):
    """Any field of the POST body (an institution principal: address and contact_phone only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class InstitutionOut(Schema):
    id = ma.fields.Integer(metadata={"example": 12})
    name = Str(metadata={"example": "锡心学堂培训中心"})
    uscc = Str(metadata={"example": "52320200MJ5812345D"})
    license_no = Str(metadata={"example": "教民32021300123号"})
    license_valid_until = ma.fields.Date(metadata={"example": "2029-06-30"})
    district_code = Str(metadata={"example": "320213"})
    category = Str(metadata={"example": "subject"})
    licensed_modes = ma.fields.List(Str(), metadata={"example": ["offline"]})
    nonprofit_registration_no = Str(allow_none=True, metadata={"example": "52320200MJ5812345D"})
    escrow_mode = Str(metadata={"example": "trust"})
    supervised_account_no = Str(metadata={"example": "GLXT-3202-000123"})
    address = Str(metadata={"example": "无锡市梁溪区中山路218号锡心大厦3楼"})
    contact_phone = Str(allow_none=True, metadata={"example": "0510-82701234"})
    status = Str(metadata={"example": "active"})
    status_reason = Str(allow_none=True, metadata={"example": "整改完成，恢复正常经营"})
    created_at = DateTimeField(metadata={"example": "2026-03-02T10:20:00+08:00"})


class InstitutionArgs(QuerySchema):
    district_code = _str(6, metadata={"example": "320213"})
    category = Str(validate=OneOf(registry.CATEGORIES), metadata={"example": "subject"})
    status = Str(validate=OneOf(registry.INSTITUTION_STATUSES), metadata={"example": "active"})
    q = _str(200, metadata={"example": "锡心", "description": "part of the name"})


class StatusIn(Schema):
    status = Str(required=True, validate=OneOf(registry.INSTITUTION_STATUSES),
                 metadata={"example": "suspended"})
    reason = _str(500, required=True,
                  metadata={"example": "线下班晚间超时培训，拒不整改，责令停业整顿"})


class OpenFlagCountOut(Schema):
    critical = ma.fields.Integer(metadata={"example": 0})
    high = ma.fields.Integer(metadata={"example": 2})
    medium = ma.fields.Integer(metadata={"example": 1})
    low = ma.fields.Integer(metadata={"example": 0})


class PublicInstitutionOut(Schema):
    name = Str(metadata={"example": "锡心学堂培训中心"})
    district_code = Str(metadata={"example": "320213"})
    category = Str(metadata={"example": "subject"})
    licensed_modes = ma.fields.List(Str(), metadata={"example": ["offline"]})
    status = Str(metadata={"example": "active"})
    escrow_mode = Str(metadata={"example": "trust"})
    blacklisted = ma.fields.Boolean(metadata={"description": "the licence is revoked",
                                              "example": False})
    open_flag_count = ma.fields.Nested(OpenFlagCountOut)


class VenueIn(Schema):
    address = _str(300, required=True,
                   metadata={"example": "无锡市梁溪区中山路218号锡心大厦3楼301室"})
    capacity = Int(required=True, validate=Range(min=1, max=INT32_MAX), metadata={"example": 30})


class VenueOut(Schema):
    id = ma.fields.Integer(metadata={"example": 5})
    institution_id = ma.fields.Integer(metadata={"example": 12})
    address = Str(metadata={"example": "无锡市梁溪区中山路218号锡心大厦3楼301室"})
    capacity = ma.fields.Integer(metadata={"example": 30})
    created_at = DateTimeField(metadata={"example": "2026-03-02T10:20:00+08:00"})


# --- Teachers and rosters -----------------------------------------------------------------

class TeacherFields(Schema):
    name = _str(100, required=True, metadata={"example": "王晓燕"})
    id_number = Str(required=True, validate=Length(equal=18), load_only=True,
                    metadata={"description": "居民身份证号; never returned, only masked",
                              "pattern": ID_NUMBER_PATTERN, "example": "11010519491231002X"})
    qualification_cert_no = Str(allow_none=True, validate=Length(equal=17),
                                metadata={"pattern": r"^[0-9]{17}$",
                                          "example": "20153200131000123"})
    cert_level = Str(allow_none=True, validate=OneOf(registry.CERT_LEVELS),
                     metadata={"example": "junior"})
    cert_subject = _str(32, allow_none=True, metadata={"example": "数学"})
    is_inservice_school_teacher = Bool(load_default=False, metadata={"example": False})
    background_check_status = Str(required=True,
                                  validate=OneOf(registry.BACKGROUND_CHECK_STATUSES),
                                  metadata={"example": "clear"})
    background_checked_on = Date(allow_none=True, metadata={"example": "2026-08-20"})
    employment = Str(required=True, validate=OneOf(registry.EMPLOYMENTS),
                     metadata={"example": "full_time"})
    hired_on = Date(required=True, metadata={"example": "2026-09-01"})


class TeacherIn(TeacherFields):
    institution_id = _id(metadata={"example": 12, "description": "required from a regulator; an "
                                   "institution may omit it or pass its own"})


class TeacherPatch(TeacherFields):
    """Any field of the POST body, and left_on (离职): not before hired_on, not after today,
    and no scheduled session after it (409); null undoes it."""

    left_on = Date(allow_none=True, metadata={
        "description": "the day the teacher left (离职); sessions after it are refused",
        "example": "2026-11-30"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class TeacherOut(Schema):
    id = ma.fields.Integer(metadata={"example": 31})
    institution_id = ma.fields.Integer(metadata={"example": 12})
    name = Str(metadata={"example": "王晓燕"})
    id_number_masked = Str(metadata={"example": "3202**********123X"})
    qualification_cert_no = Str(allow_none=True, metadata={"example": "20153200131000123"})
    cert_level = Str(allow_none=True, metadata={"example": "junior"})
    cert_subject = Str(allow_none=True, metadata={"example": "数学"})
    is_inservice_school_teacher = ma.fields.Boolean(metadata={"example": False})
    background_check_status = Str(metadata={"example": "clear"})
    background_checked_on = ma.fields.Date(allow_none=True, metadata={"example": "2026-08-20"})
    employment = Str(metadata={"example": "full_time"})
    hired_on = ma.fields.Date(metadata={"example": "2026-09-01"})
    left_on = ma.fields.Date(allow_none=True, metadata={"description": "离职日期; null: on staff",
                                                        "example": None})
    created_at = DateTimeField(metadata={"example": "2026-09-01T08:40:00+08:00"})


class OwnerArgs(QuerySchema):
    institution_id = query_id(metadata={"example": 12})


class _RosterNumbers(Schema):
    id_numbers = ma.fields.List(Str(validate=Length(max=18),
                                    metadata={"pattern": ID_NUMBER_PATTERN}), required=True,
                                validate=Length(min=1, max=registry.MAX_ROSTER_NUMBERS),
                                metadata={"example": ["11010519491231002X"]})


class InserviceRosterIn(_RosterNumbers):
    pass


class BlacklistIn(_RosterNumbers):
    reason = _str(500, required=True, metadata={
        "example": "经公安机关背景审查，存在不宜从事未成年人培训工作的违法犯罪记录"})


class AddedOut(Schema):
    added = ma.fields.Integer(metadata={"description": "numbers not on the roster before",
                                        "example": 1})


# --- Courses and sessions -----------------------------------------------------------------

class CourseIn(Schema):
    name = _str(200, required=True, metadata={"example": "初二数学培优班"})
    subject = _str(32, required=True, metadata={"description": "a key of RULES.md §1",
                                                "example": "math"})
    category = Str(required=True, validate=OneOf(registry.CATEGORIES),
                   metadata={"example": "subject"})
    grade_min = Int(required=True, validate=Range(min=0, max=12), metadata={"example": 8})
    grade_max = Int(required=True, validate=Range(min=0, max=12), metadata={"example": 8})
    mode = Str(required=True, validate=OneOf(registry.MODES), metadata={"example": "offline"})
    class_size = Int(required=True, validate=Range(min=1, max=INT32_MAX), metadata={"example": 10})
    minutes_per_class_hour = Int(allow_none=True, validate=Range(min=1, max=1440),
                                 metadata={"description": "default 45 offline, 30 online",
                                           "example": 45})
    price_per_class_hour_fen = money(required=True, metadata={"example": 6000})
    venue_id = _id(allow_none=True, metadata={"example": 5})


class CoursePatch(CourseIn):
    """Any field of the POST body; the course as it would be must pass the same checks. Once
    the course has enrollments still to be taught, mode and minutes_per_class_hour are fixed
    (409); a new price applies to new enrollments only (each keeps its own)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class CourseOut(Schema):
    id = ma.fields.Integer(metadata={"example": 7})
    institution_id = ma.fields.Integer(metadata={"example": 12})
    name = Str(metadata={"example": "初二数学培优班"})
    subject = Str(metadata={"example": "math"})
    category = Str(metadata={"example": "subject"})
    grade_min = ma.fields.Integer(metadata={"example": 8})
    grade_max = ma.fields.Integer(metadata={"example": 8})
    mode = Str(metadata={"example": "offline"})
    class_size = ma.fields.Integer(metadata={"example": 10})
    minutes_per_class_hour = ma.fields.Integer(metadata={"example": 45})
    price_per_class_hour_fen = ma.fields.Integer(metadata={"example": 6000})
    venue_id = ma.fields.Integer(allow_none=True, metadata={"example": 5})
    created_at = DateTimeField(metadata={"example": "2026-09-05T14:00:00+08:00"})


class SessionIn(Schema):
    starts_at = DateTimeField(required=True, metadata={"example": "2026-12-08T18:30:00+08:00"})
    ends_at = DateTimeField(required=True, metadata={"example": "2026-12-08T19:15:00+08:00"})
    teacher_id = _id(required=True, metadata={"example": 31})
    venue_id = _id(allow_none=True, metadata={"example": 5})


class SessionsIn(Schema):
    sessions = ma.fields.List(ma.fields.Nested(SessionIn), required=True,
                              validate=Length(min=1),
                              metadata={"description": "1 to 500 sessions, all or none"})


class SessionOut(Schema):
    id = ma.fields.Integer(metadata={"example": 204})
    course_id = ma.fields.Integer(metadata={"example": 7})
    institution_id = ma.fields.Integer(metadata={"example": 12})
    starts_at = DateTimeField(metadata={"example": "2026-12-08T18:30:00+08:00"})
    ends_at = DateTimeField(metadata={"example": "2026-12-08T19:15:00+08:00"})
    teacher_id = ma.fields.Integer(metadata={"example": 31})
    venue_id = ma.fields.Integer(allow_none=True, metadata={"example": 5})
    status = Str(metadata={"example": "scheduled"})
    created_at = DateTimeField(metadata={"example": "2026-11-30T16:05:00+08:00"})


class SessionArgs(QuerySchema):
    course_id = query_id(metadata={"example": 7})
    institution_id = query_id(metadata={"example": 12})
    starts_from = DateTimeField(data_key="from", metadata={"description": "starts at or after",
                                                           "example": "2026-12-07T00:00:00+08:00"})
    starts_before = DateTimeField(data_key="to", metadata={"description": "starts before",
                                                          "example": "2026-12-14T00:00:00+08:00"})
