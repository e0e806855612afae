"""The console's complaints and tips queues (API.md §11): scoped like the API, the same
services deciding, Chinese labels, refusals that write nothing."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision.complaints import PUBLIC, submit_tip
from supervision.models import Complaint, Tip

from ..support.complaints import DISTRICT_A, DISTRICT_B, THURSDAY, Town, complaint, counts, town
from ..support.console import Browser
from ..support.factories import Factory
from ..support.parties import Party


@pytest.fixture
def t(db: Session, make: Factory) -> Town:
    return town(db, make)


def signed_in(client: FlaskClient, who: Party) -> Browser:
    browser = Browser(client)
    token = who.headers["Authorization"].removeprefix("Bearer ")
    assert browser.sign_in(token).status_code == 302
    return browser


def text(resp: object) -> str:
    return resp.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def tip(db: Session, district: str, **kw: str) -> Tip:
    return submit_tip(db, PUBLIC, district_code=district, address=kw.get("address", "某小区"),
                      description=kw.get("description", "周末在居民楼里上数学课"),
                      contact=kw.get("contact", "13800138000"), as_of=THURSDAY)


def test_a_district_regulator_sees_only_its_districts_complaints(
        client: FlaskClient, app: Flask, t: Town, db: Session) -> None:
    in_a = complaint(db, t.parent_a, t.inst_a, text="甲机构退费慢")
    in_b = complaint(db, t.parent_b, t.inst_b, text="乙机构乱收费", category="fees")
    city = signed_in(client, t.city)
    page = text(city.get("/console/complaints"))
    assert f"#{in_a.id}" in page and f"#{in_b.id}" in page
    assert "甲培训中心" in page and "乙培训中心" in page and "收费" in page
    assert "2026年12月10日" in page  # respond_by: 5 working days after Thursday 3 December
    district = signed_in(app.test_client(), t.regulator_a)
    page = text(district.get("/console/complaints"))
    assert f"#{in_a.id}" in page and "甲培训中心" in page
    assert f"#{in_b.id}" not in page and "乙培训中心" not in page
    assert district.get(f"/console/complaints/{in_b.id}").status_code == 404
    own = district.get(f"/console/complaints/{in_a.id}")
    assert own.status_code == 200 and "甲机构退费慢" in text(own)


def test_the_complaints_queue_filters_by_status_and_category(
        client: FlaskClient, t: Town, db: Session) -> None:
    refund = complaint(db, t.parent_a, t.inst_a)
    fees = complaint(db, t.parent_a, t.inst_a, category="fees")
    city = signed_in(client, t.city)
    page = text(city.get("/console/complaints?category=fees"))
    assert f"#{fees.id}<" in page and f"#{refund.id}<" not in page
    assert "没有符合条件的投诉" in text(city.get("/console/complaints?status=closed"))


def test_closing_a_complaint_records_outcome_and_note_once(
        client: FlaskClient, t: Town, db: Session) -> None:
    c = complaint(db, t.parent_a, t.inst_a)
    city = signed_in(client, t.city)
    url, page = f"/console/complaints/{c.id}/close", f"/console/complaints/{c.id}"
    resp = city.post(url, {"outcome": "mediated", "note": "已督促机构退费"}, csrf_from=page)
    assert resp.status_code == 302
    db.expire_all()
    row = db.get(Complaint, c.id)
    assert row is not None
    assert (row.status, row.outcome, row.note) == ("closed", "mediated", "已督促机构退费")
    shown = text(city.get(page))
    assert "调解解决" in shown and "已督促机构退费" in shown and "do-close" not in shown
    before = counts(db)
    again = city.post(url, {"outcome": "upheld"}, csrf_from=page)
    assert again.status_code == 409
    db.expire_all()
    assert counts(db) == before and db.get(Complaint, c.id).outcome == "mediated"  # type: ignore[union-attr]


def test_a_refused_close_writes_nothing(client: FlaskClient, t: Town, db: Session) -> None:
    in_a = complaint(db, t.parent_a, t.inst_a)
    in_b = complaint(db, t.parent_b, t.inst_b)
    district = signed_in(client, t.regulator_a)
    page = f"/console/complaints/{in_a.id}"
    before = counts(db)
    no_outcome = district.post(f"/console/complaints/{in_a.id}/close", {"note": "x"},
                               csrf_from=page)
    assert no_outcome.status_code == 422 and "请选择处理结果" in text(no_outcome)
    unknown = district.post(f"/console/complaints/{in_a.id}/close", {"outcome": "won"},
                            csrf_from=page)
    assert unknown.status_code == 422
    out_of_scope = district.post(f"/console/complaints/{in_b.id}/close",
                                 {"outcome": "upheld"}, csrf_from=page)
    assert out_of_scope.status_code == 404
    no_csrf = district.post(f"/console/complaints/{in_a.id}/close", {"outcome": "upheld"},
                            with_csrf=False)
    assert no_csrf.status_code == 400
    db.expire_all()
    assert counts(db) == before
    assert {c.status for c in db.query(Complaint)} == {"submitted"}


def test_a_district_regulator_sees_only_its_districts_tips_with_their_contact(
        client: FlaskClient, t: Town, db: Session) -> None:
    in_a = tip(db, DISTRICT_A, address="梁溪区某小区3栋", contact="13900001111")
    in_b = tip(db, DISTRICT_B, address="江阴市某大厦")
    district = signed_in(client, t.regulator_a)
    page = text(district.get("/console/tips"))
    assert "梁溪区某小区3栋" in page and "江阴市某大厦" not in page and "待核查" in page
    detail = district.get(f"/console/tips/{in_a.id}")
    assert detail.status_code == 200 and "13900001111" in text(detail)
    assert district.get(f"/console/tips/{in_b.id}").status_code == 404


def test_a_tip_is_investigated_then_closed_with_an_outcome(
        client: FlaskClient, t: Town, db: Session) -> None:
    row = tip(db, DISTRICT_A)
    city = signed_in(client, t.city)
    url, page = f"/console/tips/{row.id}/actions", f"/console/tips/{row.id}"
    before = counts(db)
    early = city.post(url, {"action": "close", "outcome": "confirmed"}, csrf_from=page)
    assert early.status_code == 409
    db.expire_all()
    assert counts(db) == before and db.get(Tip, row.id).status == "submitted"  # type: ignore[union-attr]
    assert city.post(url, {"action": "investigate"}, csrf_from=page).status_code == 302
    assert "核查中" in text(city.get(page))
    no_outcome = city.post(url, {"action": "close"}, csrf_from=page)
    assert no_outcome.status_code == 422
    db.expire_all()
    assert db.get(Tip, row.id).status == "investigating"  # type: ignore[union-attr]
    done = city.post(url, {"action": "close", "outcome": "confirmed", "note": "已查处",
                           "institution_id": str(t.inst_a.id)}, csrf_from=page)
    assert done.status_code == 302
    db.expire_all()
    closed = db.get(Tip, row.id)
    assert closed is not None
    assert (closed.status, closed.outcome, closed.note, closed.institution_id) == (
        "closed", "confirmed", "已查处", t.inst_a.id)
    shown = text(city.get(page))
    assert "情况属实" in shown and "甲培训中心" in shown and "该举报已办结" in shown


def test_the_navigation_links_both_queues(client: FlaskClient, t: Town) -> None:
    page = text(signed_in(client, t.city).get("/console/flags"))
    assert 'href="/console/complaints"' in page and 'href="/console/tips"' in page
