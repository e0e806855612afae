"""Search, an institution's public page, the tip-off form and the page to check a tip."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from wtforms import Form, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..complaints.tips import PUBLIC, submit_tip, tip_status
from ..errors import DomainError, Invalid, NotFound
from ..registry.public import institutions_query, public_institution, public_institutions
from ..web.browser import csrf
from ..web.forms import HtmlForm, no_control_chars, options, strip
from ..web.replica import replica_reads
from ..web.request import db_session
from . import bp

log = logging.getLogger(__name__)
PAGE_SIZE = 20
STATUS = {"active": "正常", "suspended": "暂停", "revoked": "吊销"}
STATUS_BADGE = {"active": "badge-ok", "suspended": "badge-warn", "revoked": "badge-bad"}
SUBJECT_TYPE = {"subject": "学科类", "non_subject": "非学科类"}
TIP_STATUS = {"submitted": "已收到，等待核查", "investigating": "核查中", "closed": "已办结"}
TIP_OUTCOME = {"confirmed": "经核查属实，已依法处理", "unfounded": "经核查未发现违规"}


def _policy() -> Any:
    return current_app.config["SUPERVISION"].policy


def districts() -> dict[str, str]:
    return {str(k): str(v) for k, v in _policy().get("districts", {}).items()}


def subject_name(code: str) -> str:
    entry = _policy().get("subjects", {}).get(code)
    return str(entry.get("name", code)) if isinstance(entry, dict) else code


class SearchForm(Form):
    """The query string (a GET: no CSRF, nothing changes)."""

    q = StringField("机构名称或统一社会信用代码", filters=[strip],
                    validators=[Optional(), Length(max=100), no_control_chars])
    district = SelectField("辖区", choices=[], validate_choice=False, default="")
    status = SelectField("状态", choices=options([("", "全部状态"), *STATUS.items()]),
                         validate_choice=False, default="")


class TipForm(HtmlForm):
    district_code = SelectField("所在辖区", choices=[], validators=[DataRequired("请选择辖区。")])
    address = StringField("地址", filters=[strip],
                          validators=[DataRequired("请填写地址。"), Length(max=300),
                                      no_control_chars])
    description = TextAreaField("情况描述", filters=[strip],
                              validators=[DataRequired("请描述您看到的情况。"), Length(max=2000),
                                          no_control_chars])
    contact = StringField("联系方式（选填，仅监管部门可见）", filters=[strip],
                          validators=[Optional(), Length(max=100), no_control_chars])


@bp.before_request
def check_csrf() -> None:
    csrf.protect()  # POSTs only (the tip-off form)


@bp.context_processor
def shared_context() -> dict[str, Any]:
    return {"STATUS": STATUS, "STATUS_BADGE": STATUS_BADGE, "SUBJECT_TYPE": SUBJECT_TYPE,
            "districts": districts(), "subject_name": subject_name}


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 and int(raw) else 1


@bp.get("/")
@replica_reads
def search() -> str:
    form = SearchForm(request.args)
    form.district.choices = options([("", "全部辖区"), *districts().items()])
    q = (form.q.data or "") if form.validate() else ""
    district = form.district.data if form.district.data in districts() else None
    status = form.status.data if form.status.data in STATUS else None
    session = db_session()
    stmt = institutions_query(session, q=q or None, district_code=district, status=status)
    total = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
                or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(_page_number(), pages)
    found = list(session.scalars(stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template("public/search.html", form=form,
                           results=public_institutions(session, found), total=total,
                           page=page, pages=pages,
                           args={"q": q, "district": district or "", "status": status or ""})


@bp.get("/institutions/<int:institution_id>")
@replica_reads
def institution(institution_id: int) -> str:
    detail = public_institution(db_session(), institution_id)
    return render_template("public/institution.html", i=detail)


@bp.route("/tips", methods=["GET", "POST"])
def tip() -> Any:
    form = TipForm()
    form.district_code.choices = options([("", "请选择"), *districts().items()])
    if not form.validate_on_submit():
        return render_template("public/tip.html", form=form), (
            422 if form.is_submitted() else 200)
    made = submit_tip(db_session(), PUBLIC, district_code=form.district_code.data or "",
                      address=form.address.data or "", description=form.description.data or "",
                      contact=form.contact.data or None)
    return redirect(url_for("lookup.tip_check", reference=made.reference, new=1))


@bp.get("/tips/check")
@replica_reads
def tip_check() -> Any:
    reference = (request.args.get("reference") or "").strip()
    status = None
    if reference:
        try:
            status = tip_status(db_session(), reference[:64])
        except NotFound:
            return render_template("public/tip_check.html", reference=reference,
                                   status=None, missing=True), 404
    return render_template("public/tip_check.html", reference=reference, status=status,
                           missing=False, new=request.args.get("new") == "1",
                           TIP_STATUS=TIP_STATUS, TIP_OUTCOME=TIP_OUTCOME)


# --- errors ---------------------------------------------------------------------------------

ERRORS = {400: ("请求无效", "表单已过期，请返回刷新后再提交。"),
          404: ("未找到", "没有这个页面或机构。"),
          422: ("填写有误", "提交的内容未通过校验。"),
          500: ("系统繁忙", "请稍后再试。")}


def error_page(code: int) -> tuple[str, int]:
    title, text = ERRORS.get(code, ERRORS[500])
    return render_template("public/error.html", title=title, text=text), code


@bp.errorhandler(CSRFError)
def csrf_failed(_error: CSRFError) -> tuple[str, int]:
    return error_page(400)


@bp.errorhandler(DomainError)
def domain_failed(error: DomainError) -> tuple[str, int]:
    return error_page(404 if isinstance(error, NotFound) else
                      422 if isinstance(error, Invalid) else 500)


@bp.errorhandler(HTTPException)
def http_failed(error: HTTPException) -> tuple[str, int]:
    return error_page(error.code if error.code in ERRORS else 500)


@bp.errorhandler(Exception)
def unexpected(error: Exception) -> tuple[str, int]:
    log.exception("public pages: unhandled error", exc_info=error)
    return error_page(500)


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def unknown(_rest: str) -> tuple[str, int]:
    return error_page(404)
