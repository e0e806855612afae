"""What every signed-in HTML front end's pages share: the CSRF check, the sign-in gate, the
signed-in person in every template, and error pages in Chinese (a refusal of a service shown as
its page, never the API's JSON)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthenticated
from .browser import SignIn, csrf
from .forms import SignOutForm

log = logging.getLogger(__name__)

ERROR_TEXT = {
    400: ("请求无效", "表单缺少安全令牌或已过期。请返回上一页，刷新后再提交。"),
    401: ("请先登录", "登录已失效，请重新登录。"),
    403: ("无权操作", "当前账号无权执行此操作。"),
    404: ("未找到", "该页面或记录不存在。"),
    405: ("请求方式错误", "请通过页面上的按钮操作。"),
    409: ("状态已变化", "这笔记录的状态已经变化，不能再这样操作。请刷新页面查看最新状态。"),
    422: ("未能办理", "提交的内容未通过校验。"),
    500: ("系统繁忙", "系统内部错误，已记录。请稍后再试。"),
}
DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404), (Unauthenticated, 401), (Forbidden, 403), (Conflict, 409), (Invalid, 422),
]

ErrorPage = Callable[..., tuple[str, int]]


def signed_in_pages(bp: Blueprint, sign_in: SignIn, *, public_endpoints: set[str],
                    error_template: str,
                    explain: Callable[[DomainError], str] | None = None) -> ErrorPage:
    """Install the shared behaviour on `bp`; returns its `error_page(code, detail=None)`."""

    def error_page(code: int, detail: str | None = None) -> tuple[str, int]:
        title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
        return render_template(error_template, code=code, title=title, text=text,
                               detail=detail), code

    @bp.before_request
    def check_csrf() -> None:
        csrf.protect()  # POSTs only; a missing or bad token raises CSRFError (a 400)

    @bp.before_request
    def require_sign_in() -> Response | None:
        if request.endpoint in public_endpoints or sign_in.actor() is not None:
            return None
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for(f"{bp.name}.signin", next=target))

    @bp.context_processor
    def shared_context() -> dict[str, Any]:
        return {"me": sign_in.actor(), "signout_form": SignOutForm()}

    @bp.errorhandler(CSRFError)
    def csrf_failed(_error: CSRFError) -> tuple[str, int]:
        return error_page(400)

    @bp.errorhandler(DomainError)
    def domain_failed(error: DomainError) -> tuple[str, int]:
        # The request's unit of work was rolled back before we got here: nothing was written.
        code = next((c for cls, c in DOMAIN_STATUS if isinstance(error, cls)), 422)
        detail = explain(error) if explain else error.message
        return error_page(code, None if code == 404 else detail)

    @bp.errorhandler(HTTPException)
    def http_failed(error: HTTPException) -> tuple[str, int]:
        return error_page(error.code or 500)

    @bp.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        log.exception("%s pages: unhandled error", bp.name, exc_info=error)
        return error_page(500)

    @bp.route("/<path:_rest>", methods=["GET", "POST"])
    def unknown(_rest: str) -> tuple[str, int]:
        # Without this an unknown URL under the front end would get the API's JSON 404.
        return error_page(404)

    return error_page
