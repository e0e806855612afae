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
from .common import Bool, Date, Int, QuerySchema, Schema, Str, money
from .common import DateTime as DateTimeField

INT32_MAX = 2**31 - 1
# Documentation of the shapes; the check characters themselves are verified by the services.
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"


def _str(length: int, **kwargs: Any) -> Str:
    return Str(validate=Length(max=length), **kwargs)


def _id(**kwargs: Any) -> Int:
    return Int(validate=Range(min=1), **kwargs)


def _query_id() -> ma.fields.Integer:
    # Query strings are text, so not the strict Int; still bounded to what a BIGINT holds.
    return ma.fields.Integer(validate=Range(min=1, max=2**63 - 1))


# --- Institutions -------------------------------------------------------------------------

class InstitutionIn(Schema):
    name = _str(200, required=True)
    uscc = Str(required=True, validate=Length(equal=18),
               metadata={"description": "统一社会信用代码; the check character is verified",
                         "pattern": USCC_PATTERN})
    license_no = _str(64, required=True)
    license_valid_until = Date(required=True)
    district_code = _str(6, required=True, metadata={"description": "e.g. 320213",
                                                     "pattern": r"^[0-9]{6}$"})
    category = Str(required=True, validate=OneOf(registry.CATEGORIES))
    licensed_modes = ma.fields.List(Str(validate=OneOf(registry.LICENSED_MODES)),
                                    required=True, validate=Length(min=1, max=2))
    nonprofit_registration_no = _str(64, allow_none=True)
    escrow_mode = Str(required=True, validate=OneOf(registry.ESCROW_MODES))
    supervised_account_no = _str(64, required=True)
    address = _str(300, required=True)
    contact_phone = _str(32, allow_none=True)


class InstitutionPatch(InstitutionIn):
    """Any field of the POST body (an institution principal: address and contact_phone only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class InstitutionOut(Schema):
    id = ma.fields.Integer()
    name = Str()
    uscc = Str()
    license_no = Str()
    license_valid_until = ma.fields.Date()
    district_code = Str()
    category = Str()
    licensed_modes = ma.fields.List(Str())
    nonprofit_registration_no = Str(allow_none=True)
    escrow_mode = Str()
    supervised_account_no = Str()
    address = Str()
    contact_phone = Str(allow_none=True)
    status = Str()
    status_reason = Str(allow_none=True)
    created_at = DateTimeField()


class InstitutionArgs(QuerySchema):
    district_code = _str(6)
    category = Str(validate=OneOf(registry.CATEGORIES))
    status = Str(validate=OneOf(registry.INSTITUTION_STATUSES))
    q = _str(200, metadata={"description": "part of the name"})


class StatusIn(Schema):
    status = Str(required=True, validate=OneOf(registry.INSTITUTION_STATUSES))
    reason = _str(500, required=True)


class OpenFlagCountOut(Schema):
    critical = ma.fields.Integer()
    high = ma.fields.Integer()
    medium = ma.fields.Integer()
    low = ma.fields.Integer()


class PublicInstitutionOut(Schema):
    name = Str()
    district_code = Str()
    category = Str()
    licensed_modes = ma.fields.List(Str())
    status = Str()
    escrow_mode = Str()
    blacklisted = ma.fields.Boolean(metadata={"description": "the licence is revoked"})
    open_flag_count = ma.fields.Nested(OpenFlagCountOut)


class VenueIn(Schema):
    address = _str(300, required=True)
    capacity = Int(required=True, validate=Range(min=1, max=INT32_MAX))


class VenueOut(Schema):
    id = ma.fields.Integer()
    institution_id = ma.fields.Integer()
    address = Str()
    capacity = ma.fields.Integer()
    created_at = DateTimeField()


# --- Teachers and rosters -----------------------------------------------------------------

class TeacherFields(Schema):
    name = _str(100, required=True)
    id_number = Str(required=True, validate=Length(equal=18), load_only=True,
                    metadata={"description": "居民身份证号; never returned, only masked",
                              "pattern": ID_NUMBER_PATTERN})
    qualification_cert_no = Str(allow_none=True, validate=Length(equal=17),
                                metadata={"pattern": r"^[0-9]{17}$"})
    cert_level = Str(allow_none=True, validate=OneOf(registry.CERT_LEVELS))
    cert_subject = _str(32, allow_none=True)
    is_inservice_school_teacher = Bool(load_default=False)
    background_check_status = Str(required=True,
                                  validate=OneOf(registry.BACKGROUND_CHECK_STATUSES))
    background_checked_on = Date(allow_none=True)
    employment = Str(required=True, validate=OneOf(registry.EMPLOYMENTS))
    hired_on = Date(required=True)


class TeacherIn(TeacherFields):
    institution_id = _id(metadata={"description": "required from a regulator; an "
                                   "institution may omit it or pass its own"})


class TeacherPatch(TeacherFields):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class TeacherOut(Schema):
    id = ma.fields.Integer()
    institution_id = ma.fields.Integer()
    name = Str()
    id_number_masked = Str()
    qualification_cert_no = Str(allow_none=True)
    cert_level = Str(allow_none=True)
    cert_subject = Str(allow_none=True)
    is_inservice_school_teacher = ma.fields.Boolean()
    background_check_status = Str()
    background_checked_on = ma.fields.Date(allow_none=True)
    employment = Str()
    hired_on = ma.fields.Date()
    created_at = DateTimeField()


class OwnerArgs(QuerySchema):
    institution_id = _query_id()


class _RosterNumbers(Schema):
    id_numbers = ma.fields.List(Str(validate=Length(max=18),
                                    metadata={"pattern": ID_NUMBER_PATTERN}), required=True,
                                validate=Length(min=1, max=registry.MAX_ROSTER_NUMBERS))


class InserviceRosterIn(_RosterNumbers):
    pass


class BlacklistIn(_RosterNumbers):
    reason = _str(500, required=True)


class AddedOut(Schema):
    added = ma.fields.Integer(metadata={"description": "numbers not on the roster before"})


# --- Courses and sessions -----------------------------------------------------------------

class CourseIn(Schema):
    name = _str(200, required=True)
    subject = _str(32, required=True, metadata={"description": "a key of RULES.md §1"})
    category = Str(required=True, validate=OneOf(registry.CATEGORIES))
    grade_min = Int(required=True, validate=Range(min=0, max=12))
    grade_max = Int(required=True, validate=Range(min=0, max=12))
    mode = Str(required=True, validate=OneOf(registry.MODES))
    class_size = Int(required=True, validate=Range(min=1, max=INT32_MAX))
    minutes_per_class_hour = Int(allow_none=True, validate=Range(min=1, max=1440),
                                 metadata={"description": "default 45 offline, 30 online"})
    price_per_class_hour_fen = money(required=True)
    venue_id = _id(allow_none=True)


class CourseOut(Schema):
    id = ma.fields.Integer()
    institution_id = ma.fields.Integer()
    name = Str()
    subject = Str()
    category = Str()
    grade_min = ma.fields.Integer()
    grade_max = ma.fields.Integer()
    mode = Str()
    class_size = ma.fields.Integer()
    minutes_per_class_hour = ma.fields.Integer()
    price_per_class_hour_fen = ma.fields.Integer()
    venue_id = ma.fields.Integer(allow_none=True)
    created_at = DateTimeField()


class SessionIn(Schema):
    starts_at = DateTimeField(required=True)
    ends_at = DateTimeField(required=True)
    teacher_id = _id(required=True)
    venue_id = _id(allow_none=True)


class SessionsIn(Schema):
    sessions = ma.fields.List(ma.fields.Nested(SessionIn), required=True,
                              validate=Length(min=1),
                              metadata={"description": "1 to 500 sessions, all or none"})


class SessionOut(Schema):
    id = ma.fields.Integer()
    course_id = ma.fields.Integer()
    institution_id = ma.fields.Integer()
    starts_at = DateTimeField()
    ends_at = DateTimeField()
    teacher_id = ma.fields.Integer()
    venue_id = ma.fields.Integer(allow_none=True)
    status = Str()
    created_at = DateTimeField()


class SessionArgs(QuerySchema):
    course_id = _query_id()
    institution_id = _query_id()
    starts_from = DateTimeField(data_key="from", metadata={"description": "starts at or after"})
    starts_before = DateTimeField(data_key="to", metadata={"description": "starts before"})
