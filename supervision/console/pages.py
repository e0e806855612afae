"""What every console page shares: the CSRF check, the sign-in gate, error pages in Chinese."""

from __future__ import annotations

import logging
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthenticated
from . import bp, csrf
from .forms import SignOutForm
from .signin import PUBLIC_ENDPOINTS, load_console_actor

log = logging.getLogger(__name__)

ERROR_TEXT = {
    400: ("请求无效", "表单缺少安全令牌或已过期。请返回上一页，刷新后再提交。"),
    401: ("请先登录", "登录已失效，请重新登录。"),
    403: ("无权访问", "当前账号无权执行此操作。"),
    404: ("未找到", "该页面或记录不存在，或不在您的辖区范围内。"),
    405: ("请求方式错误", "请通过页面上的按钮操作。"),
    409: ("状态冲突", "该记录的当前状态不允许此操作，请刷新页面查看最新状态。"),
    422: ("填写有误", "提交的内容未通过校验。"),
    500: ("系统错误", "系统内部错误，已记录日志。请稍后重试或联系技术支持。"),
}
DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404), (Unauthenticated, 401), (Forbidden, 403), (Conflict, 409), (Invalid, 422),
]


@bp.before_request
def check_csrf() -> None:
    # Only for this blueprint's POSTs; raises CSRFError (a 400) when the token is missing or bad.
    if request.endpoint != "console.static":
        csrf.protect()


@bp.before_request
def require_sign_in() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if load_console_actor() is None:
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("console.signin", next=target))
    return None


@bp.context_processor
def shared_context() -> dict[str, Any]:
    return {"me": load_console_actor(), "signout_form": SignOutForm()}


def status_of(error: DomainError) -> int:
    return next((code for cls, code in DOMAIN_STATUS if isinstance(error, cls)), 422)


def error_page(code: int, detail: str | None = None) -> tuple[str, int]:
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    return render_template("console/error.html", code=code, title=title, text=text,
                           detail=detail), code


@bp.errorhandler(CSRFError)
def csrf_failed(_error: CSRFError) -> tuple[str, int]:
    return error_page(400)


@bp.errorhandler(DomainError)
def domain_failed(error: DomainError) -> tuple[str, int]:
    # The request's unit of work was already rolled back at the edge (dispatch_request).
    code = status_of(error)
    return error_page(code, None if code == 404 else error.message)


@bp.errorhandler(HTTPException)
def http_failed(error: HTTPException) -> tuple[str, int]:
    return error_page(error.code or 500)


@bp.errorhandler(Exception)
def unexpected(error: Exception) -> tuple[str, int]:
    log.exception("console: unhandled error", exc_info=error)
    return error_page(500)


@bp.get("/")
def home() -> Response:
    return redirect(url_for("console.queue"))


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def unknown(_rest: str) -> tuple[str, int]:
    # Without this an unknown console URL would get the API's JSON 404.
    return error_page(404)
