"""导入: a spreadsheet of teachers, courses or a term's sessions, uploaded through the registry's
import_rows (the very service of POST /api/v1/imports/{kind}: the same checks as each create
call, all or nothing), and the empty templates of GET /api/v1/imports/{kind}/template.

A refused file writes nothing (the service raises before its one flush, and the savepoint
makes sure); the page lists each failing row's line, column and reason, which the service
already words in Chinese."""

from __future__ import annotations

import io
from typing import Any

from flask import flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from ..errors import Invalid
from ..registry import imports
from ..web.request import db_session, request_work
from . import bp, labels
from .forms import ImportForm
from .signin import institution_actor

# What the service says about a whole file, for a clerk.
FILE_PROBLEMS = {
    imports.UNREADABLE: "无法读取该文件：请上传 .xlsx 或 .csv（UTF-8）文件。",
    "no rows": "文件只有表头，没有数据行。",
    "the first row must name the columns": "第一行须是表头（请使用下载的模板）。",
    f"at most {imports.MAX_ROWS} rows in one file":
        f"一个文件最多 {imports.MAX_ROWS} 行，请分成几个文件导入。",
}


def _page(form: ImportForm, *, rows: list[dict[str, Any]] | None = None,
          problems: list[str] | None = None, status: int = 200) -> Any:
    return render_template("institution/import.html", form=form, rows=rows or [],
                           problems=problems or [], formats=imports.FORMATS,
                           labels=labels), status


@bp.get("/import")
def upload() -> Any:
    return _page(ImportForm(kind=request.args.get("kind", "sessions")))


@bp.get("/import/<kind>/template")
def import_template(kind: str) -> Response:
    # The same file as the API's template endpoint: one service makes both.
    blank = imports.template(kind, request.args.get("format", "xlsx"))
    return send_file(io.BytesIO(blank.content), mimetype=blank.content_type,
                     as_attachment=True, download_name=blank.filename)


@bp.post("/import")
def import_file() -> Response | Any:
    form = ImportForm()
    if not form.validate():
        return _page(form, status=422)
    kind, upload = form.kind.data or "", form.file.data
    try:
        with request_work().savepoint():  # all or nothing, whatever the service flushed
            result = imports.import_rows(db_session(), institution_actor(), kind,
                                         upload.filename or "", upload.read())
    except Invalid as error:
        rows: list[Any] = list(error.errors.get("rows", []))
        problems = [FILE_PROBLEMS.get(m, m) for m in error.errors.get("file", [])]
        if not rows and not problems:
            problems = [error.message]
        return _page(form, rows=rows, problems=problems, status=422)
    flash(f"已导入 {result.created} 条{labels.IMPORT_KIND[kind]}记录。", "success")
    return redirect(url_for("institution.upload", kind=kind))
