"""The institutions' portal, 资金, 机构信息 and 导入: through the test client as the clerk,
each write through the service the API calls, each refusal in Chinese with nothing written,
another institution's records a 404."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.models import ClassSession, Flag, Institution, Teacher, Venue
from supervision.models.escrow import Instruction, Refund
from tests.support.escrow_world import World, world
from tests.support.factories import Factory
from tests.support.institution import Clerk, count, text


@pytest.fixture
def other(db: Session, make: Factory) -> World:
    return world(db, make)


def refund_requested(client: FlaskClient, w: World, **body: Any) -> int:
    enrollment = w.paid_enrollment(client)
    resp = client.post(f"/api/v1/enrollments/{enrollment['id']}/refunds",
                       headers=w.parent.headers, json={"reason": "孩子转学", **body})
    assert resp.status_code == 201, resp.json
    return int(resp.json["id"])


def refund(db: Session, refund_id: int) -> Refund:
    db.expire_all()
    found = db.get(Refund, refund_id)
    assert found is not None
    return found


# --- 资金 -------------------------------------------------------------------------------------

def test_the_money_page_shows_the_escrow_summary_and_the_refunds_requested(
        clerk: Clerk, w: World, client: FlaskClient) -> None:
    refund_id = refund_requested(client, w, amount_fen=10000)
    page = text(clerk.get("/institution/money"))
    assert "预收费监管账户" in page
    assert "¥100.00" in page and "孩子转学" in page
    assert f'id="refund-{refund_id}"' in page and "待机构处理" in page


def test_releases_received_are_the_institutions_release_instructions(
        clerk: Clerk, w: World, other: World, db: Session, client: FlaskClient) -> None:
    def release(inst: Institution, fen: int) -> None:
        db.add(Instruction(kind="release", institution_id=inst.id, amount_fen=fen,
                           account_no=inst.supervised_account_no, payee=inst.name,
                           memo="release", status="executed"))
    release(w.institution, 123456)
    release(other.institution, 654321)
    # Money going back to a parent is an instruction too, but not one received.
    refund_id = refund_requested(client, w, amount_fen=7777)
    assert client.post(f"/api/v1/refunds/{refund_id}/approve",
                       headers=w.staff.headers).status_code == 200
    db.flush()
    page = text(clerk.get("/institution/money"))
    releases = page[page.index('id="releases"'):]
    assert "¥1,234.56" in releases
    assert "¥6,543.21" not in page and "¥77.77" not in releases


def test_approving_a_refund_instructs_the_trustee_through_the_escrow_service(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    refund_id = refund_requested(client, w, amount_fen=10000)
    resp = clerk.post(f"/institution/refunds/{refund_id}/approve")
    assert resp.status_code == 302
    assert refund(db, refund_id).status == "instructed"
    instruction = db.scalars(select(Instruction).where(Instruction.refund_id == refund_id)).one()
    # No trustee listens in tests: the delivery after the commit fails and it stays pending.
    assert (instruction.kind, instruction.amount_fen, instruction.status) == (
        "refund", 10000, "pending")
    assert "已同意退费 ¥100.00" in text(clerk.get("/institution/money"))


def test_rejecting_a_refund_keeps_the_reason_and_flags_it_for_the_regulator(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    refund_id = refund_requested(client, w)
    resp = clerk.post(f"/institution/refunds/{refund_id}/reject", {"reason": "课程已过半"})
    assert resp.status_code == 302
    found = refund(db, refund_id)
    assert (found.status, found.reject_reason) == ("rejected", "课程已过半")
    assert db.scalars(select(Flag).where(Flag.rule == "REFUND_REJECTED")).one()


def test_a_rejection_without_a_reason_is_refused_in_chinese_and_writes_nothing(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    refund_id = refund_requested(client, w)
    resp = clerk.post(f"/institution/refunds/{refund_id}/reject", {"reason": "  "})
    assert resp.status_code == 422
    assert "请填写拒绝理由" in text(resp)
    assert refund(db, refund_id).status == "requested"
    assert count(db, Flag) == 0


def test_a_refund_already_decided_cannot_be_approved_and_nothing_is_written(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    refund_id = refund_requested(client, w)
    assert clerk.post(f"/institution/refunds/{refund_id}/reject",
                      {"reason": "不符合退费条件"}).status_code == 302
    resp = clerk.post(f"/institution/refunds/{refund_id}/approve")
    assert resp.status_code == 409
    assert "未能办理" in text(resp)
    assert refund(db, refund_id).status == "rejected"
    assert count(db, Instruction) == 0


def test_another_institutions_refund_is_not_found_and_untouched(
        clerk: Clerk, other: World, client: FlaskClient, db: Session) -> None:
    refund_id = refund_requested(client, other)
    assert f'id="refund-{refund_id}"' not in text(clerk.get("/institution/money"))
    assert clerk.post(f"/institution/refunds/{refund_id}/approve").status_code == 404
    assert clerk.post(f"/institution/refunds/{refund_id}/reject",
                      {"reason": "x"}).status_code == 404
    assert refund(db, refund_id).status == "requested"
    assert count(db, Instruction) == 0


# --- 机构信息 ---------------------------------------------------------------------------------

def test_the_info_page_shows_the_registry_facts_read_only(clerk: Clerk, w: World) -> None:
    page = text(clerk.get("/institution/info"))
    inst = w.institution
    for fact in (inst.name, inst.uscc, inst.license_no, inst.supervised_account_no):
        assert fact in page
    assert 'name="uscc"' not in page and 'name="name"' not in page


def test_address_and_phone_are_saved_through_the_registry(clerk: Clerk, w: World,
                                                          db: Session) -> None:
    resp = clerk.post("/institution/info", {"address": "无锡市梁溪区中山路 1 号",
                                            "contact_phone": "0510-12345678"})
    assert resp.status_code == 302
    db.expire_all()
    inst = db.get(Institution, w.institution.id)
    assert inst is not None
    assert (inst.address, inst.contact_phone) == ("无锡市梁溪区中山路 1 号", "0510-12345678")


def test_an_empty_address_is_refused_in_chinese_and_not_saved(clerk: Clerk, w: World,
                                                              db: Session) -> None:
    before = w.institution.address
    resp = clerk.post("/institution/info", {"address": "", "contact_phone": "1"})
    assert resp.status_code == 422
    assert "请填写地址" in text(resp)
    db.expire_all()
    inst = db.get(Institution, w.institution.id)
    assert inst is not None and (inst.address, inst.contact_phone) == (
        before, w.institution.contact_phone)


def test_a_venue_is_added_and_listed(clerk: Clerk, w: World, db: Session) -> None:
    resp = clerk.post("/institution/venues", {"address": "滨湖区太湖大道 8 号 3 楼",
                                              "capacity": "30"})
    assert resp.status_code == 302
    venue = db.scalars(select(Venue).where(Venue.institution_id == w.institution.id,
                                           Venue.address == "滨湖区太湖大道 8 号 3 楼")).one()
    assert venue.capacity == 30
    assert "滨湖区太湖大道 8 号 3 楼" in text(clerk.get("/institution/info"))


def test_a_venue_without_a_capacity_is_refused_and_not_saved(clerk: Clerk, w: World,
                                                             db: Session) -> None:
    before = count(db, Venue)
    resp = clerk.post("/institution/venues", {"address": "某地", "capacity": "0"})
    assert resp.status_code == 422
    assert "请填写" in text(resp) or "正整数" in text(resp)
    assert count(db, Venue) == before


def test_another_institutions_venues_are_not_listed(clerk: Clerk, other: World,
                                                    make: Factory) -> None:
    make.venue(other.institution, address="别家机构的教室")
    assert "别家机构的教室" not in text(clerk.get("/institution/info"))


# --- 导入 -------------------------------------------------------------------------------------

SESSION_HEADER = "课程编号,开始时间,结束时间,教师编号,场地编号"


def sessions_csv(w: World, *rows: tuple[str, str]) -> bytes:
    lines = [SESSION_HEADER] + [f"{w.course.id},{s},{e},{w.teacher.id}," for s, e in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def upload(clerk: Clerk, kind: str, filename: str, data: bytes) -> Any:
    return clerk.client.post("/institution/import", data={
        "csrf_token": clerk.csrf("/institution/import"), "kind": kind,
        "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def test_a_file_with_one_bad_row_writes_nothing_and_names_the_row(
        clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, ClassSession)
    data = sessions_csv(w, ("2027-03-02 16:00", "2027-03-02 17:30"),
                        ("2027-03-03 16:00", "2027-03-03 15:00"),
                        ("2027-03-04 16:00", "2027-03-04 17:30"))
    resp = upload(clerk, "sessions", "term.csv", data)
    assert resp.status_code == 422
    page = text(resp)
    assert "未导入任何记录" in page
    assert "第 3 行" in page and "结束时间" in page and "必须晚于开始时间" in page
    assert "第 2 行" not in page
    assert count(db, ClassSession) == before


def test_a_good_file_imports_every_row_and_says_how_many(clerk: Clerk, w: World,
                                                        db: Session) -> None:
    before = count(db, ClassSession)
    data = sessions_csv(w, ("2027-03-02 16:00", "2027-03-02 17:30"),
                        ("2027-03-04 16:00", "2027-03-04 17:30"))
    resp = upload(clerk, "sessions", "term.csv", data)
    assert resp.status_code == 302
    assert count(db, ClassSession) == before + 2
    assert "已导入 2 条排课" in text(clerk.get(resp.headers["Location"]))


def test_an_unreadable_file_is_refused_in_chinese(clerk: Clerk, w: World, db: Session) -> None:
    before = count(db, Teacher)
    resp = upload(clerk, "teachers", "x.xlsx", b"PK\x03\x04 not really a workbook")
    assert resp.status_code == 422
    assert "无法读取该文件" in text(resp)
    assert count(db, Teacher) == before


def test_the_templates_are_the_apis_templates(clerk: Clerk, w: World,
                                              client: FlaskClient) -> None:
    for kind in ("teachers", "courses", "sessions"):
        page = clerk.get(f"/institution/import/{kind}/template?format=csv")
        api = client.get(f"/api/v1/imports/{kind}/template?format=csv",
                         headers=w.staff.headers)
        assert page.status_code == 200 and page.data == api.data
    xlsx = clerk.get("/institution/import/sessions/template?format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert [c.value for c in sheet[1]] == SESSION_HEADER.split(",")
    header = next(csv.reader(io.StringIO(
        clerk.get("/institution/import/sessions/template?format=csv").data.decode("utf-8-sig"))))
    assert header == SESSION_HEADER.split(",")


def test_an_unknown_template_kind_is_not_found(clerk: Clerk) -> None:
    assert clerk.get("/institution/import/parents/template").status_code == 404


# --- CSRF -------------------------------------------------------------------------------------

def test_every_new_form_carries_a_csrf_token_and_refuses_a_post_without_one(
        clerk: Clerk, w: World, client: FlaskClient, db: Session) -> None:
    refund_id = refund_requested(client, w)
    page = text(clerk.get("/institution/money")) + text(clerk.get("/institution/info")) + text(
        clerk.get("/institution/import"))
    assert page.count('name="csrf_token"') >= 5
    for url, data in ((f"/institution/refunds/{refund_id}/approve", {}),
                      (f"/institution/refunds/{refund_id}/reject", {"reason": "x"}),
                      ("/institution/info", {"address": "新地址"}),
                      ("/institution/venues", {"address": "新场地", "capacity": "5"}),
                      ("/institution/import", {"kind": "sessions"})):
        assert clerk.client.post(url, data=data).status_code == 400, url
    assert refund(db, refund_id).status == "requested"
    assert count(db, Instruction) == 0
    assert count(db, Venue) == 0
    db.expire_all()
    assert db.get(Institution, w.institution.id).address != "新地址"  # type: ignore[union-attr]
