"""机构信息: the registry's facts about the institution, read-only (they are the regulator's
record), with the two an institution may change itself (address, contact phone: the
registry's SELF_EDITABLE_FIELDS) edited through update_institution exactly as the API's PATCH;
the venues listed and added through add_venue."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..errors import Invalid
from ..models import Institution
from ..registry.institutions import add_venue, get_institution, update_institution, venues_query
from ..web.request import db_session, request_work
from . import bp, labels
from .forms import ContactForm, VenueForm
from .refusals import explain, phrase
from .signin import institution_actor


def _own() -> Institution:
    actor = institution_actor()
    assert actor.institution_id is not None  # an institution's token names its institution
    return get_institution(db_session(), actor, actor.institution_id)


def _page(*, contact: ContactForm | None = None, venue: VenueForm | None = None,
          refusal: str | None = None, status: int = 200) -> Any:
    session, actor = db_session(), institution_actor()
    institution = _own()
    venues = list(session.scalars(venues_query(session, actor, institution.id)))
    districts = current_app.config["SUPERVISION"].policy.get("districts", {})
    return render_template(
        "institution/info.html", inst=institution, venues=venues,
        district=districts.get(institution.district_code, institution.district_code),
        contact=contact or ContactForm(obj=institution), venue=venue or VenueForm(),
        refusal=refusal, labels=labels), status


@bp.get("/info")
def info() -> Any:
    return _page()


def _field_errors(form: Any, error: Invalid) -> None:
    for name, messages in error.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [phrase(m) or m for m in messages]


@bp.post("/info")
def save_contact() -> Response | Any:
    form = ContactForm()
    if not form.validate():
        return _page(contact=form, status=422)
    institution = _own()
    try:
        with request_work().savepoint():  # a refusal writes nothing
            update_institution(db_session(), institution_actor(), institution.id, {
                "address": form.address.data, "contact_phone": form.contact_phone.data or None})
    except Invalid as error:
        _field_errors(form, error)
        return _page(contact=form, refusal=explain(error), status=422)
    flash("已保存地址和联系电话。", "success")
    return redirect(url_for("institution.info"))


@bp.post("/venues")
def new_venue() -> Response | Any:
    form = VenueForm()
    if not form.validate():
        return _page(venue=form, status=422)
    institution = _own()
    try:
        with request_work().savepoint():
            venue = add_venue(db_session(), institution_actor(), institution.id,
                              address=form.address.data or "", capacity=form.capacity.data or 0)
    except Invalid as error:
        _field_errors(form, error)
        return _page(venue=form, refusal=explain(error), status=422)
    flash(f"已登记场地：{venue.address}。", "success")
    return redirect(url_for("institution.info"))
