"""Money-moving POSTs: Idempotency-Key replays (API.md §1) and retries of transient
database conflicts.

The key is claimed first, by inserting its row in the request's transaction: a concurrent
request with the same key then waits on the unique index (PostgreSQL) or on the write lock
(SQLite) and, once the first commits, replays its answer. The answer is stored in the same
transaction as the postings, so "booked" and "answer remembered" commit together. The view runs
in a savepoint: a refusal (4xx) undoes the view's changes and is stored in the claimed row, and
the request's unit of work commits that row despite the refusal, so a retry cannot turn a
refusal into a success after the state changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from .. import errors as domain
from ..escrow.retry import is_retryable
from ..models import IdempotentResponse
from ..web.auth import current_actor
from ..web.request import answer_after_commit, request_work
from .errors import STATUS_OF, body

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
MAX_ATTEMPTS = 5
PENDING = 0  # status_code of a claimed key whose answer is not known yet
_KEY = re.compile(r"[ -~]{1,200}")


@dataclass(frozen=True)
class Fingerprint:
    key: str
    method_path: str
    body_hash: str


def _fingerprint(key: str) -> Fingerprint:
    if not _KEY.fullmatch(key):
        raise domain.Invalid.field(HEADER, "1 to 200 printable ASCII characters")
    data = request.get_json(silent=True)
    raw = (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
           if data is not None else request.get_data())
    return Fingerprint(key, f"{request.method} {request.path}"[:300],
                       hashlib.sha256(raw).hexdigest())


def money_moving(view: F) -> F:
    """Put under @requires and above @bp.arguments of a money-moving POST."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        uow = request_work()
        key = request.headers.get(HEADER)
        fp = _fingerprint(key) if key is not None else None
        for attempt in range(MAX_ATTEMPTS):
            try:
                if fp is None:
                    return view(*args, **kwargs)
                replay = _claim(uow.session, fp)
                if replay is not None:
                    return replay
                try:
                    with uow.savepoint():
                        response = view(*args, **kwargs)
                except domain.DomainError as exc:
                    _store_refusal(exc)
                    uow.commit_despite(exc)
                    raise
                _complete(response)
                return response
            except DBAPIError as exc:
                if not is_retryable(exc) or attempt == MAX_ATTEMPTS - 1:
                    raise
                uow.restart()
                g.pop("idempotent_row", None)
                time.sleep(0.01 * 2 ** attempt)
        raise AssertionError("unreachable")

    _document_header(wrapper)
    return cast(F, wrapper)


def _document_header(view: Any) -> None:
    """List the optional header in the OpenAPI document (as flask-smorest's @bp.doc does)."""
    apidoc = dict(getattr(view, "_apidoc", {}))
    manual = dict(apidoc.get("manual_doc", {}))
    manual["parameters"] = [*manual.get("parameters", []), {
        "in": "header", "name": HEADER, "required": False,
        "description": "Retries with the same key and body get the first answer again",
        "schema": {"type": "string", "pattern": "^[ -~]{1,200}$"}}]
    apidoc["manual_doc"] = manual
    view._apidoc = apidoc


def _find(session: Session, fp: Fingerprint) -> IdempotentResponse | None:
    return session.scalars(select(IdempotentResponse).where(
        IdempotentResponse.principal_id == _principal_id(),
        IdempotentResponse.key == fp.key)).first()


def _principal_id() -> int:
    principal_id = current_actor().principal_id
    assert principal_id is not None  # bearer-token callers always have one
    return principal_id


def _claim(session: Session, fp: Fingerprint) -> Response | None:
    """The stored answer to replay, or None after claiming the key for this request."""
    row = _find(session, fp)
    if row is None:
        row = IdempotentResponse(principal_id=_principal_id(), key=fp.key,
                                 method_path=fp.method_path, body_hash=fp.body_hash,
                                 status_code=PENDING, response_body=None)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # A request with the same key committed first (we waited for it): replay it.
            row = _find(session, fp)
            if row is None:
                raise
        else:
            g.idempotent_row = row
            return None
    return _replay(row, fp)


def _replay(row: IdempotentResponse, fp: Fingerprint) -> Response:
    if row.method_path != fp.method_path or row.body_hash != fp.body_hash:
        raise domain.Conflict(f"{HEADER} already used for a different request")
    if row.status_code == PENDING:
        raise domain.Conflict(f"a request with this {HEADER} is still in progress")
    response = jsonify(row.response_body)
    response.status_code = row.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _complete(response: Any) -> None:
    """Store the answer with the postings. A view that answers again after the commit (its
    after-commit work changed what it says: instructions sent) has that answer stored too, in
    the same short transaction; a crash before then leaves this first answer to replay, never
    a second run."""
    row: IdempotentResponse | None = g.pop("idempotent_row", None)
    if row is None:
        return
    if not isinstance(response, Response):
        raise TypeError("money_moving must wrap a view decorated with @bp.response")
    row.status_code = response.status_code
    row.response_body = response.get_json()
    build = g.get("answer_after_commit")
    if build is not None:
        row_id = row.id

        def build_and_remember(session: Session) -> Response:
            final = build(session)
            stored = session.get(IdempotentResponse, row_id)
            if stored is not None:
                stored.status_code = final.status_code
                stored.response_body = final.get_json()
            return final

        answer_after_commit(build_and_remember)


def _store_refusal(exc: domain.DomainError) -> None:
    """The claimed row answers with the refusal (the view's changes are already undone)."""
    row: IdempotentResponse | None = g.pop("idempotent_row", None)
    assert row is not None  # claimed before the view ran
    code = next((status for cls, status in STATUS_OF if isinstance(exc, cls)), 422)
    row.status_code = code
    row.response_body = body(code, exc.message, exc.errors, rule=exc.rule, **exc.extra)
