"""Spreadsheet import (API.md §3): an institution uploads teachers, courses or sessions.

The file is read and every row checked by registry/imports.py (the same checks as the JSON
create calls); this module only takes the multipart upload and hands out the templates.
"""

from __future__ import annotations

import io
from typing import Any

import marshmallow as ma
from flask import send_file
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow.validate import OneOf

from ..registry import imports
from ..web.auth import current_actor, requires
from ..web.request import db_session
from .common import Blueprint, QuerySchema, Schema, Str

bp = Blueprint("imports", __name__,
               description="Spreadsheet import of teachers, courses and sessions (§3)")

KIND_PARAMETER = {"in": "path", "name": "kind", "required": True,
                  "description": "what the file holds: teachers | courses | sessions",
                  "schema": {"type": "string", "enum": list(imports.KINDS),
                             "example": "sessions"}}


class FileIn(Schema):
    file = Upload(required=True, metadata={
        "description": "an .xlsx workbook (first sheet) or a .csv file (UTF-8, with or "
                       "without a BOM); the first row names the columns (the template's "
                       "Chinese labels or the create call's JSON field names), at most "
                       f"{imports.MAX_ROWS} rows after it",
        "example": "课程编号,开始时间,结束时间,教师编号,场地编号\n7,2027-03-01 18:00,"
                   "2027-03-01 19:30,31,5\n"})


class ImportOut(Schema):
    kind = Str(metadata={"example": "sessions"})
    created = ma.fields.Integer(metadata={"example": 2})
    ids = ma.fields.List(ma.fields.Integer(), metadata={"example": [1201, 1202]})


class RowErrorOut(Schema):
    line = ma.fields.Integer(metadata={"description": "the file's line; the header is line 1",
                                       "example": 3})
    column = Str(metadata={"description": "the header as the file spells it",
                           "example": "教师编号"})
    message = Str(metadata={"example": "不是本机构的教师"})


class ImportErrorsOut(Schema):
    rows = ma.fields.List(ma.fields.Nested(RowErrorOut), metadata={
        "description": "every failing row's errors (nothing was written)"})
    file = ma.fields.List(Str(), metadata={
        "description": "what is wrong with the file as a whole",
        "example": ["not a readable .xlsx/.csv file"]})


class ImportErrorSchema(Schema):
    """The error body of API.md §1, whose `errors` may carry the file's row errors."""

    code = ma.fields.Integer(required=True, metadata={"example": 422})
    status = Str(required=True, metadata={"example": "Unprocessable Entity"})
    message = Str(required=True, metadata={
        "example": "1 row(s) of the file are not valid: nothing was imported"})
    errors = ma.fields.Nested(ImportErrorsOut, required=True)
    rule = Str(metadata={"description": "a RULES.md code (a suspended institution may not "
                                        "schedule sessions)",
                         "example": "INSTITUTION_NOT_ACTIVE"})


class TemplateArgs(QuerySchema):
    format = Str(load_default="xlsx", validate=OneOf(imports.FORMATS),
                 metadata={"example": "xlsx", "description": "xlsx | csv"})


TEMPLATE_DESCRIPTION = "The empty template: the Chinese header row only, as an attachment"
TEMPLATE_CONTENT = {
    media: {"schema": {"type": "string", "format": "binary",
                       "example": "课程编号,开始时间,结束时间,教师编号,场地编号"}}
    for media in (imports.XLSX_TYPE, "text/csv")}


@bp.route("/imports/<kind>", parameters=[KIND_PARAMETER])
class Import(MethodView):
    @requires("institution")
    @bp.arguments(FileIn, location="files")
    @bp.response(201, ImportOut)
    @bp.alt_response(422, schema=ImportErrorSchema,
                     description="Nothing written: the file's errors, or each failing row's "
                                 "line, column and reason (in Chinese)")
    def post(self, files: dict[str, Any], kind: str) -> Any:
        upload = files["file"]
        return imports.import_rows(db_session(), current_actor(), kind,
                                   upload.filename or "", upload.read())


@bp.route("/imports/<kind>/template", parameters=[KIND_PARAMETER])
class ImportTemplate(MethodView):
    @requires("institution")
    @bp.arguments(TemplateArgs, location="query")
    @bp.response(200, description=TEMPLATE_DESCRIPTION, content_type=imports.XLSX_TYPE)
    @bp.doc(responses={"200": {"description": TEMPLATE_DESCRIPTION,
                               "content": TEMPLATE_CONTENT}})
    def get(self, args: dict[str, Any], kind: str) -> Any:
        blank = imports.template(kind, args["format"])
        return send_file(io.BytesIO(blank.content), mimetype=blank.content_type,
                         as_attachment=True, download_name=blank.filename)


blueprints = [bp]
