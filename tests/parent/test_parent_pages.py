"""The parents' app at /parent/: sign-in, 我的报名, one enrollment's money and timeline, the
actions its state allows, and enrolling with the pre-payment caps explained in Chinese."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision.models import Flag, Review
from supervision.models.escrow import Consumption, Enrollment, Refund

from ..support.escrow_world import World, world
from ..support.factories import Factory
from ..support.parties import Party, party

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def token_of(who: Party) -> str:
    return who.headers["Authorization"].removeprefix("Bearer ")


def text(resp: TestResponse) -> str:
    return resp.get_data(as_text=True)


class Parent:
    """A test client used as a parent's phone: signs in, submits forms with their token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, url: str) -> str:
        match = CSRF.search(text(self.client.get(url)))
        assert match, f"{url} has no CSRF token"
        return match.group(1)

    def sign_in(self, who: Party | str, next_url: str = "") -> TestResponse:
        token = who if isinstance(who, str) else token_of(who)
        return self.client.post("/parent/signin", data={
            "csrf_token": self.csrf("/parent/signin"), "token": token, "next": next_url})

    def get(self, url: str) -> TestResponse:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, Any] | None = None, *,
             csrf_from: str = "/parent/signin") -> TestResponse:
        return self.client.post(url, data={"csrf_token": self.csrf(csrf_from), **(data or {})})


@pytest.fixture
def w(db: Session, make: Factory) -> World:
    return world(db, make)


@pytest.fixture
def phone(client: FlaskClient, w: World) -> Parent:
    p = Parent(client)
    assert p.sign_in(w.parent).status_code == 302
    return p


def enrollment(w: World, client: FlaskClient, **kw: Any) -> Enrollment:
    body = w.paid_enrollment(client, **kw)
    found = w.db.get(Enrollment, body["id"])
    assert found is not None
    return found


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


# --- signing in -----------------------------------------------------------------------------

def test_a_parent_signs_in_with_their_token_and_lands_on_their_enrollments(
        client: FlaskClient, w: World) -> None:
    p = Parent(client)
    resp = p.sign_in(w.parent)
    assert resp.status_code == 302 and resp.location.endswith("/parent/enrollments")
    page = p.get("/parent/enrollments")
    assert page.status_code == 200 and "我的报名" in text(page)
    assert page.headers["Cache-Control"] == "no-store"


def test_pages_need_a_signed_in_parent(client: FlaskClient, w: World) -> None:
    resp = client.get("/parent/enrollments")
    assert resp.status_code == 302 and "/parent/signin" in resp.location


@pytest.mark.parametrize("role", ["regulator", "institution"])
def test_a_token_of_another_role_is_refused_in_chinese(client: FlaskClient, w: World,
                                                       role: str) -> None:
    who = w.regulator if role == "regulator" else w.staff
    resp = Parent(client).sign_in(who)
    assert resp.status_code == 403 and "不是家长令牌" in text(resp)
    assert client.get("/parent/enrollments").status_code == 302  # still not signed in


def test_a_wrong_token_is_refused(client: FlaskClient, w: World) -> None:
    resp = Parent(client).sign_in("not-a-token")
    assert resp.status_code == 401 and "令牌无效" in text(resp)


def test_signing_out_ends_the_session(phone: Parent) -> None:
    assert phone.post("/parent/signout", csrf_from="/parent/enrollments").status_code == 302
    assert phone.get("/parent/enrollments").status_code == 302


# --- 我的报名 ---------------------------------------------------------------------------------

def test_my_enrollments_list_institution_course_student_and_hours_left(
        phone: Parent, w: World, client: FlaskClient) -> None:
    mine = enrollment(w, client, hours=10, student="张小明")
    cls = w.past_session(minutes=90)
    assert w.attend(client, [mine.id], cls=cls).status_code == 201
    page = text(phone.get("/parent/enrollments"))
    card = page[page.index(f'id="enrollment-{mine.id}"'):]
    assert w.institution.name in card and w.course.name in card and "张小明" in card
    assert "<strong>8</strong> / 10 课时" in card  # 90 minutes of 45-minute class hours consumed


def test_a_parent_sees_only_their_own_enrollments(phone: Parent, w: World, db: Session,
                                                  client: FlaskClient) -> None:
    other = party(db, "parent")
    theirs = enrollment(w, client, parent=other, student="别人家的孩子")
    page = text(phone.get("/parent/enrollments"))
    assert "别人家的孩子" not in page and f"enrollment-{theirs.id}" not in page


def test_another_familys_enrollment_and_consumption_are_404_and_untouched(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    other = party(db, "parent")
    theirs = enrollment(w, client, parent=other)
    assert w.attend(client, [theirs.id]).status_code == 201
    consumption = db.scalars(select(Consumption).where(
        Consumption.enrollment_id == theirs.id)).one()
    assert phone.get(f"/parent/enrollments/{theirs.id}").status_code == 404
    csrf_from = "/parent/enrollments"
    assert phone.post(f"/parent/consumptions/{consumption.id}/confirm",
                      csrf_from=csrf_from).status_code == 404
    assert phone.post(f"/parent/consumptions/{consumption.id}/dispute", {"reason": "x"},
                      csrf_from=csrf_from).status_code == 404
    assert phone.post(f"/parent/enrollments/{theirs.id}/refunds", {"reason": "x"},
                      csrf_from=csrf_from).status_code == 404
    db.expire_all()
    assert db.get(Consumption, consumption.id).status == "pending_confirmation"  # type: ignore[union-attr]
    assert count(db, Refund) == 0


# --- one enrollment -------------------------------------------------------------------------

def test_the_enrollment_page_explains_the_six_buckets_and_dates_each_class(
        phone: Parent, w: World, client: FlaskClient) -> None:
    mine = enrollment(w, client, hours=10)  # 10 × ¥40.00
    cls = w.past_session(minutes=90)
    assert w.attend(client, [mine.id], cls=cls).status_code == 201
    page = text(phone.get(f"/parent/enrollments/{mine.id}"))
    for name in ("托管中", "待您确认", "已确认待拨付", "已拨付机构", "退费办理中", "已退还"):
        assert name in page
    held = page[page.index('id="bucket-held_fen"'):]
    assert "¥320.00" in held[:200]  # 8 of 10 hours still held
    pending = page[page.index('id="bucket-pending_confirmation_fen"'):]
    assert "¥80.00" in pending[:200]
    local = cls.starts_at.astimezone(dt_shanghai())
    class_date = f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    timeline = page[page.index('id="timeline"'):]
    assert "付款到账，存入监管账户" in timeline and "上课消课" in timeline
    assert f"对应 {class_date} 的课" in timeline


def dt_shanghai() -> Any:
    from supervision.clock import SHANGHAI

    return SHANGHAI


def test_confirming_a_consumption_moves_its_money_to_confirmed(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    mine = enrollment(w, client)
    assert w.attend(client, [mine.id]).status_code == 201
    c = db.scalars(select(Consumption).where(Consumption.enrollment_id == mine.id)).one()
    page = f"/parent/enrollments/{mine.id}"
    assert f'id="confirm-{c.id}"' in text(phone.get(page))
    resp = phone.post(f"/parent/consumptions/{c.id}/confirm", csrf_from=page)
    assert resp.status_code == 302
    db.expire_all()
    assert db.get(Consumption, c.id).status == "confirmed"  # type: ignore[union-attr]
    after = text(phone.get(page))
    assert "已确认本次课消" in after and f'id="confirm-{c.id}"' not in after
    confirmed = after[after.index('id="bucket-confirmed_fen"'):]
    assert "¥80.00" in confirmed[:200]
    # Confirming twice is a state conflict, said in Chinese.
    again = phone.post(f"/parent/consumptions/{c.id}/confirm", csrf_from=page)
    assert again.status_code == 409 and "状态已经变化" in text(again)


def test_a_dispute_needs_a_reason_then_keeps_the_money_and_tells_the_regulator(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    mine = enrollment(w, client)
    assert w.attend(client, [mine.id]).status_code == 201
    c = db.scalars(select(Consumption).where(Consumption.enrollment_id == mine.id)).one()
    page = f"/parent/enrollments/{mine.id}"
    empty = phone.post(f"/parent/consumptions/{c.id}/dispute", {"reason": "  "}, csrf_from=page)
    assert empty.status_code == 422 and "请说明异议原因" in text(empty)
    db.expire_all()
    assert db.get(Consumption, c.id).status == "pending_confirmation"  # type: ignore[union-attr]
    assert count(db, Flag) == 0
    resp = phone.post(f"/parent/consumptions/{c.id}/dispute", {"reason": "孩子当天请假"},
                      csrf_from=page)
    assert resp.status_code == 302
    db.expire_all()
    assert db.get(Consumption, c.id).status == "disputed"  # type: ignore[union-attr]
    assert db.scalars(select(Flag.rule)).all() == ["CONSUMPTION_DISPUTED"]
    assert "有异议（已报监管部门）" in text(phone.get(page))


def test_a_refund_request_holds_the_amount_and_shows_when_it_is_approved_anyway(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    mine = enrollment(w, client, hours=10)
    page = f"/parent/enrollments/{mine.id}"
    resp = phone.post(f"/parent/enrollments/{mine.id}/refunds",
                      {"amount": "150.50", "reason": "孩子不想上了"}, csrf_from=page)
    assert resp.status_code == 302
    refund = db.scalars(select(Refund)).one()
    assert (refund.amount_fen, refund.status, refund.reason) == (15050, "requested", "孩子不想上了")
    after = text(phone.get(page))
    assert "¥150.50 已为您冻结" in after and "已申请，等待机构处理" in after
    assert "¥249.50" in after[after.index('id="refundable"'):][:80]


def test_a_refund_over_what_is_refundable_is_explained_and_writes_nothing(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    mine = enrollment(w, client, hours=10)
    page = f"/parent/enrollments/{mine.id}"
    resp = phone.post(f"/parent/enrollments/{mine.id}/refunds",
                      {"amount": "400.01", "reason": "退费"}, csrf_from=page)
    assert resp.status_code == 422 and "目前可退金额为 ¥400.00" in text(resp)
    assert count(db, Refund) == 0


def test_an_unpaid_enrollment_shows_the_amount_reference_and_supervised_account(
        phone: Parent, w: World, client: FlaskClient) -> None:
    body = w.enroll(client, hours=5)
    page = text(phone.get(f"/parent/enrollments/{body['id']}"))
    payment = page[page.index('id="payment"'):]
    assert "¥200.00" in payment and body["payment_reference"] in payment
    assert w.institution.supervised_account_no in payment
    assert 'id="refund-form"' not in page  # nothing to refund before paying


# --- 选课/购课 --------------------------------------------------------------------------------

def test_enrolling_from_a_course_creates_it_and_shows_how_to_pay(
        phone: Parent, w: World, db: Session) -> None:
    url = f"/parent/courses/{w.course.id}/enroll"
    form = text(phone.get(url))
    assert w.course.name in form and "¥40.00 / 课时" in form
    resp = phone.post(url, {"student_name": "张小明", "student_grade": "7",
                            "class_hours": "12"}, csrf_from=url)
    assert resp.status_code == 302
    made = db.scalars(select(Enrollment)).one()
    assert (made.parent_id, made.student_name, made.class_hours, made.amount_fen) == (
        w.parent.id, "张小明", 12, 48000)
    page = text(phone.get(resp.location))
    assert "报名成功" in page and made.payment_reference in page and "¥480.00" in page


def enroll_form(phone: Parent, course_id: int, hours: int, student: str = "张小明"
                ) -> TestResponse:
    url = f"/parent/courses/{course_id}/enroll"
    return phone.post(url, {"student_name": student, "student_grade": "7",
                            "class_hours": str(hours)}, csrf_from=url)


def test_more_than_sixty_hours_at_once_is_refused_and_explained(
        phone: Parent, w: World, db: Session) -> None:
    resp = enroll_form(phone, w.course.id, 61)
    assert resp.status_code == 422
    page = text(resp)
    assert "一次预收费最多 60 课时" in page and "请减少到 60 课时以内" in page
    assert count(db, Enrollment) == 0


def test_more_than_five_thousand_yuan_is_refused_with_the_most_hours_allowed(
        phone: Parent, w: World, db: Session, make: Factory) -> None:
    dear = make.course(w.institution, name="一对一精品课", price_per_class_hour_fen=12000)
    resp = enroll_form(phone, dear.id, 50)
    assert resp.status_code == 422
    page = text(resp)
    assert "50 课时 × ¥120.00 = ¥6,000.00" in page and "一次最多可购买 41 课时" in page
    assert count(db, Enrollment) == 0


def test_hours_still_unconsumed_count_against_the_cap_and_the_rest_is_said(
        phone: Parent, w: World, db: Session) -> None:
    assert enroll_form(phone, w.course.id, 50).status_code == 302
    resp = enroll_form(phone, w.course.id, 20)
    assert resp.status_code == 422
    assert "张小明在本机构同一学科还有 50 课时没有上完" in text(resp)
    assert "本次最多还能买 10 课时" in text(resp)
    assert count(db, Enrollment) == 1
    # Another child of the same family is counted on their own.
    assert enroll_form(phone, w.course.id, 20, student="张小红").status_code == 302


def test_a_suspended_institution_takes_no_enrollment(phone: Parent, w: World,
                                                     db: Session) -> None:
    w.institution.status = "suspended"
    db.flush()
    resp = enroll_form(phone, w.course.id, 10)
    assert resp.status_code == 422 and "暂停" in text(resp)
    assert count(db, Enrollment) == 0


# --- CSRF -----------------------------------------------------------------------------------

def test_every_form_refuses_a_post_without_its_csrf_token(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    mine = enrollment(w, client)
    assert w.attend(client, [mine.id]).status_code == 201
    c = db.scalars(select(Consumption).where(Consumption.enrollment_id == mine.id)).one()
    forms = [
        (f"/parent/courses/{w.course.id}/enroll",
         {"student_name": "x", "student_grade": "7", "class_hours": "1"}),
        (f"/parent/consumptions/{c.id}/confirm", {}),
        (f"/parent/consumptions/{c.id}/dispute", {"reason": "x"}),
        (f"/parent/enrollments/{mine.id}/refunds", {"reason": "x"}),
        (f"/parent/enrollments/{mine.id}/sandbox-pay", {}),
        (f"/parent/enrollments/{mine.id}/complaint", {"category": "fees", "text": "x"}),
        (f"/parent/enrollments/{mine.id}/review", {"stars": "5", "text": "x"}),
        ("/parent/signout", {}),
    ]
    for url, data in forms:
        resp = client.post(url, data=data)
        assert resp.status_code == 400 and "安全令牌" in text(resp), url
    db.expire_all()
    assert count(db, Enrollment) == 1 and count(db, Refund) == 0 and count(db, Review) == 0
    assert db.get(Consumption, c.id).status == "pending_confirmation"  # type: ignore[union-attr]
    assert client.get("/parent/enrollments").status_code == 200  # still signed in


# --- the demo's one-button payment -------------------------------------------------------------

@pytest.fixture
def sandbox() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1")
    srv.start()
    yield srv
    srv.clear()
    if srv.is_running():
        srv.stop()


def with_trustee(app: Flask, url: str, env: str = "development") -> None:
    app.config["SUPERVISION"] = dataclasses.replace(app.config["SUPERVISION"],
                                                    trustee_api_url=url, env=env)


def test_the_pay_button_posts_the_transfer_to_the_sandbox_trustee(
        app: Flask, phone: Parent, w: World, client: FlaskClient,
        sandbox: HTTPServer) -> None:
    with_trustee(app, sandbox.url_for("/"))
    sandbox.expect_oneshot_request("/deposits", method="POST").respond_with_json(
        {"server_status": 200, "server_response": {}})
    body = w.enroll(client, hours=5)
    page = f"/parent/enrollments/{body['id']}"
    assert 'id="sandbox-pay"' in text(phone.get(page))
    resp = phone.post(f"{page}/sandbox-pay", csrf_from=page)
    assert resp.status_code == 302
    (request, _), = sandbox.log
    assert json.loads(request.data) == {"payment_reference": body["payment_reference"],
                                        "amount_fen": 20000,
                                        "account_no": w.institution.supervised_account_no}
    assert "模拟付款成功" in text(phone.get(page))


def test_the_pay_button_says_so_when_the_sandbox_is_down(
        app: Flask, phone: Parent, w: World, client: FlaskClient,
        sandbox: HTTPServer) -> None:
    with_trustee(app, sandbox.url_for("/"))
    sandbox.expect_request("/deposits").respond_with_data("down", status=503)
    body = w.enroll(client, hours=5)
    page = f"/parent/enrollments/{body['id']}"
    assert phone.post(f"{page}/sandbox-pay", csrf_from=page).status_code == 302
    assert len(sandbox.log) == 1  # never a second transfer
    assert "模拟付款未成功" in text(phone.get(page))


@pytest.mark.parametrize("url, env", [("", "development"), ("http://127.0.0.1:9", "production")])
def test_the_pay_button_is_hidden_and_refused_without_a_sandbox_or_in_production(
        app: Flask, phone: Parent, w: World, client: FlaskClient, url: str, env: str) -> None:
    body = w.enroll(client, hours=5)
    page = f"/parent/enrollments/{body['id']}"
    csrf = phone.csrf(page)
    with_trustee(app, url, env)
    assert 'id="sandbox-pay"' not in text(phone.get(page))
    resp = client.post(f"{page}/sandbox-pay", data={"csrf_token": csrf})
    assert resp.status_code == 404


# --- 投诉 and 评价 ----------------------------------------------------------------------------

def test_a_complaint_from_the_enrollment_page_goes_to_its_institution_with_deadlines(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    from supervision.models import Complaint

    mine = enrollment(w, client)
    url = f"/parent/enrollments/{mine.id}/complaint"
    assert 'id="complain"' in text(phone.get(f"/parent/enrollments/{mine.id}"))
    empty = phone.post(url, {"category": "fees", "text": " "}, csrf_from=url)
    assert empty.status_code == 422 and "请填写投诉内容" in text(empty)
    assert count(db, Complaint) == 0
    resp = phone.post(url, {"category": "fees", "text": "多收了教材费"}, csrf_from=url)
    assert resp.status_code == 302
    made = db.scalars(select(Complaint)).one()
    assert (made.institution_id, made.enrollment_id, made.parent_id, made.category) == (
        w.institution.id, mine.id, w.parent.id, "fees")
    page = text(phone.get(resp.location))
    assert "投诉已提交" in page and "已提交，等待机构答复" in page


def test_a_review_waits_for_a_confirmed_class_and_is_written_once(
        phone: Parent, w: World, db: Session, client: FlaskClient) -> None:
    mine = enrollment(w, client)
    page_url = f"/parent/enrollments/{mine.id}"
    url = f"{page_url}/review"
    assert 'id="write-review"' not in text(phone.get(page_url))
    early = phone.post(url, {"stars": "5", "text": "很好"}, csrf_from=url)
    assert early.status_code == 422 and "确认过至少一次课消后才能评价" in text(early)
    assert count(db, Review) == 0
    assert w.attend(client, [mine.id]).status_code == 201
    c = db.scalars(select(Consumption).where(Consumption.enrollment_id == mine.id)).one()
    assert phone.post(f"/parent/consumptions/{c.id}/confirm",
                      csrf_from=page_url).status_code == 302
    assert 'id="write-review"' in text(phone.get(page_url))
    assert phone.post(url, {"stars": "4", "text": "老师很认真"}, csrf_from=url).status_code == 302
    review = db.scalars(select(Review)).one()
    assert (review.stars, review.text, review.enrollment_id) == (4, "老师很认真", mine.id)
    again = phone.post(url, {"stars": "1", "text": "改主意了"}, csrf_from=url)
    assert again.status_code == 409 and "已经评价过了" in text(again)
    assert count(db, Review) == 1
