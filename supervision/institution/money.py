"""资金: the institution's escrow summary, the releases it received and the refunds parents
requested, approved or rejected (with a reason) through the escrow services the API calls.

An approval creates a refund instruction; like the API it reaches the trustee only after the
request committed (an instruction the trustee knows must be in our database first), through
the unit of work's after-commit queue. If the trustee is unreachable the instruction stays
pending and the retry job delivers it."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from .. import clock
from ..access.scope import get_in_scope
from ..errors import DomainError, NotFound
from ..escrow.instructions import instructions_query
from ..escrow.queries import institution_summary
from ..escrow.refunds import approve_refund, refunds_query, reject_refund
from ..models.escrow import Refund
from ..web.request import after_commit, db_session, request_work, session_factory
from ..wording import yuan
from ..workers.trustee import deliver_instructions
from . import bp, labels
from .forms import ActionForm, ReasonForm
from .refusals import explain
from .signin import institution_actor

# A page, not a statement: the latest ones; the API pages through all of them.
SHOWN = 50


def _page(*, form: ReasonForm | None = None, form_for: int | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    session, actor = db_session(), institution_actor()
    assert actor.institution_id is not None
    summary = institution_summary(session, actor, actor.institution_id)
    releases = list(session.scalars(instructions_query(session, actor, kind="release")
                                    .limit(SHOWN)))
    refunds = list(session.scalars(refunds_query(session, actor).limit(SHOWN)))
    return render_template(
        "institution/money.html", summary=summary, releases=releases, refunds=refunds,
        blank=ReasonForm(), action=ActionForm(), form=form, form_for=form_for,
        refusal=refusal, labels=labels), status


@bp.get("/money")
def money() -> Any:
    return _page()


def _own_refund(refund_id: int) -> Refund:
    # Another institution's refund reads as none: a 404 before any form is looked at.
    return get_in_scope(db_session(), institution_actor(), Refund, refund_id)


@bp.post("/refunds/<int:refund_id>/approve")
def approve(refund_id: int) -> Response | Any:
    _own_refund(refund_id)
    session, actor = db_session(), institution_actor()
    try:
        with request_work().savepoint():  # a refusal writes nothing
            instruction = approve_refund(session, actor, refund_id, as_of=clock.local_now())
    except NotFound:
        raise
    except DomainError as error:
        return _page(refusal=explain(error), status=409)
    factory, settings = session_factory(), current_app.config["SUPERVISION"]
    ids = [instruction.id]
    after_commit(lambda: deliver_instructions(factory, settings, ids))
    flash(f"已同意退费 {yuan(instruction.amount_fen)}，退款指令已交托管银行。", "success")
    return redirect(url_for("institution.money"))


@bp.post("/refunds/<int:refund_id>/reject")
def reject(refund_id: int) -> Response | Any:
    _own_refund(refund_id)
    form = ReasonForm()
    if not form.validate():
        return _page(form=form, form_for=refund_id, status=422)
    session, actor = db_session(), institution_actor()
    try:
        with request_work().savepoint():
            reject_refund(session, actor, refund_id, reason=form.reason.data or "",
                          as_of=clock.local_now())
    except NotFound:
        raise
    except DomainError as error:
        return _page(form=form, form_for=refund_id, refusal=explain(error), status=409)
    flash("已拒绝退费申请；监管部门会看到拒绝理由，并可复核。", "success")
    return redirect(url_for("institution.money"))
