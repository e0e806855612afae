"""The public look-up at /public/: no sign-in, search and filters, an institution's public page,
the tip-off form and its check page, and nothing private on any of them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision.models import Review, Tip

from ..support.escrow_world import World, world
from ..support.factories import Factory

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def text(resp: TestResponse) -> str:
    return resp.get_data(as_text=True)


def csrf(client: FlaskClient, url: str = "/public/tips") -> str:
    match = CSRF.search(text(client.get(url)))
    assert match
    return match.group(1)


@pytest.fixture
def w(db: Session, make: Factory) -> World:
    return world(db, make, name="锡心学堂测试中心", district_code="320213",
                 contact_phone="0510-81234567")


def test_the_look_up_needs_no_sign_in(client: FlaskClient, w: World) -> None:
    resp = client.get("/public/")
    assert resp.status_code == 200 and "查机构，再缴费" in text(resp)
    assert "锡心学堂测试中心" in text(resp)


def test_search_by_name_or_uscc_and_filter_by_district_and_status(
        client: FlaskClient, w: World, make: Factory) -> None:
    make.institution(name="新吴英才测试学校", district_code="320214", status="suspended")
    make.institution(name="滨湖吊销测试学校", district_code="320211", status="revoked")

    def names(**args: str) -> list[str]:
        page = text(client.get("/public/", query_string=args))
        return re.findall(r'<span class="card-title">([^<]+)</span>', page)

    assert names(q="锡心") == ["锡心学堂测试中心"]
    assert names(q=w.institution.uscc.lower()) == ["锡心学堂测试中心"]
    assert names(q="测试", district="320214") == ["新吴英才测试学校"]
    assert names(q="测试", status="revoked") == ["滨湖吊销测试学校"]
    page = text(client.get("/public/", query_string={"q": "测试"}))
    for badge in ("正常", "暂停", "吊销"):
        assert f">{badge}</span>" in page


def test_the_institution_page_shows_prices_teachers_certificates_and_reviews(
        client: FlaskClient, w: World, make: Factory, db: Session) -> None:
    make.teacher(w.institution, name="李无证", qualification_cert_no=None)
    make.session_of(w.course, w.teacher)  # 王老师 teaches the math course
    body = w.paid_enrollment(client)
    db.add(Review(enrollment_id=body["id"], institution_id=w.institution.id,
                  parent_id=w.parent.id, stars=4, text="老师讲得清楚",
                  created_at=w.past_session().starts_at))
    db.flush()
    page = text(client.get(f"/public/institutions/{w.institution.id}"))
    courses = page[page.index('id="courses"'):page.index('id="teachers"')]
    assert w.course.name in courses and "¥40.00 / 课时" in courses
    assert f'href="/parent/courses/{w.course.id}/enroll"' in courses
    teachers = page[page.index('id="teachers"'):page.index('id="reviews"')]
    assert re.search(r'王老师</td><td>数学</td>\s*<td><span class="badge badge-ok">持证', teachers)
    assert re.search(r'李无证</td><td>—</td>\s*<td><span class="badge badge-warn">未持证',
                     teachers)
    assert "老师讲得清楚" in page and "★★★★" in page and "（1 条评价）" in page
    assert "近一年无违规公示" in page


def test_a_suspended_institution_is_marked_and_offers_no_enrollment(
        client: FlaskClient, w: World, db: Session) -> None:
    w.institution.status = "suspended"
    db.flush()
    page = text(client.get(f"/public/institutions/{w.institution.id}"))
    assert "不得招生收费" in page and "/parent/courses/" not in page


def test_an_unknown_institution_is_a_chinese_404(client: FlaskClient, w: World) -> None:
    for url in ("/public/institutions/999999", "/public/institutions/99999999999999999999",
                "/public/nowhere"):
        resp = client.get(url)
        assert resp.status_code == 404 and "未找到" in text(resp), url


def test_no_public_page_shows_id_numbers_parents_students_or_contacts(
        client: FlaskClient, w: World, make: Factory, db: Session) -> None:
    number = make.id_number()
    teacher = make.teacher(w.institution, name="赵老师", id_number=number)
    w.paid_enrollment(client, student="张小明")
    submit = client.post("/public/tips", data={
        "csrf_token": csrf(client), "district_code": "320213", "address": "某小区3栋",
        "description": "周末有学科培训", "contact": "13800001111"})
    tip = db.scalars(select(Tip)).one()
    pages = [text(client.get(url)) for url in (
        "/public/", f"/public/?q={w.institution.name}",
        f"/public/institutions/{w.institution.id}", submit.location,
        f"/public/tips/check?reference={tip.reference}")]
    private = [number, number[:4] + "*", teacher.id_number_masked, teacher.id_number_hash,
               "张小明", w.parent.actor.name, "0510-81234567", "13800001111",
               w.institution.supervised_account_no, w.institution.license_no]
    assert "赵老师" in pages[2]  # the teacher is listed, by name only
    for page in pages:
        for secret in private:
            assert secret not in page, secret


def tip_form(client: FlaskClient, **fields: Any) -> TestResponse:
    data = {"csrf_token": csrf(client), "district_code": "320213", "address": "梁溪区某小区",
            "description": "每周六有初中数学培训", **fields}
    return client.post("/public/tips", data=data)


def count_tips(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Tip)) or 0)


def test_a_tip_off_returns_its_reference_and_the_check_page_shows_its_progress(
        client: FlaskClient, w: World, db: Session) -> None:
    resp = tip_form(client)
    assert resp.status_code == 302
    tip = db.scalars(select(Tip)).one()
    assert len(tip.reference) >= 16 and tip.contact is None
    page = text(client.get(resp.location))
    assert "举报已提交" in page and tip.reference in page and "已收到，等待核查" in page
    tip.status, tip.outcome = "closed", "confirmed"
    db.flush()
    later = text(client.get("/public/tips/check", query_string={"reference": tip.reference}))
    assert "已办结" in later and "经核查属实" in later


def test_an_unknown_tip_reference_is_said_so(client: FlaskClient, w: World) -> None:
    resp = client.get("/public/tips/check", query_string={"reference": "no-such-reference"})
    assert resp.status_code == 404 and "没有找到这个查询码" in text(resp)


def test_a_tip_off_without_an_address_or_csrf_token_writes_nothing(
        client: FlaskClient, w: World, db: Session) -> None:
    missing = tip_form(client, address=" ")
    assert missing.status_code == 422 and "请填写地址" in text(missing)
    forged = client.post("/public/tips", data={"district_code": "320213", "address": "x",
                                               "description": "y"})
    assert forged.status_code == 400 and "表单已过期" in text(forged)
    control = tip_form(client, description="周六\x00培训")
    assert control.status_code == 422 and "不能包含控制字符" in text(control)
    assert count_tips(db) == 0
