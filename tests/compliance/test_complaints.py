"""Complaints (API.md §11): a parent files, the institution answers, a regulator closes; each
sees only their own; deadlines count working days from the Shanghai day of submission."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI
from supervision.complaints import deadlines, submit_complaint
from supervision.errors import Forbidden
from supervision.models import Complaint

from ..support.complaints import THURSDAY, Town, complaint, counts, error_of, town
from ..support.factories import Factory

URL = "/api/v1/complaints"


@pytest.fixture
def t(db: Session, make: Factory) -> Town:
    return town(db, make)


def test_a_parent_files_a_complaint_and_gets_its_deadlines(client: FlaskClient,
                                                            t: Town) -> None:
    resp = client.post(URL, headers=t.parent_a.headers,
                       json={"institution_id": t.inst_a.id, "category": "fees",
                             "text": "  收了资料费却没给资料  "})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert set(body) == {"id", "institution_id", "enrollment_id", "category", "text", "status",
                         "respond_by", "due_on", "created_at"}
    assert (body["institution_id"], body["enrollment_id"], body["category"], body["text"],
            body["status"]) == (t.inst_a.id, None, "fees", "收了资料费却没给资料", "submitted")
    stored = t.db.get(Complaint, body["id"])
    assert stored is not None and stored.parent_id == t.parent_a.id
    respond_by, due_on = deadlines(t.db, stored.created_at)
    assert (body["respond_by"], body["due_on"]) == (respond_by.isoformat(), due_on.isoformat())
    assert body["created_at"].endswith("+08:00")


def test_deadlines_skip_the_national_day_holiday_and_count_its_adjusted_saturday(
        t: Town) -> None:
    # 2026-09-30 (Wednesday): 10月1-7日 国庆 off, Saturday 10月10日 worked (调休).
    c = complaint(t.db, t.parent_a, t.inst_a,
                  at=dt.datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI))
    assert (c.respond_by, c.due_on) == (dt.date(2026, 10, 13), dt.date(2026, 10, 27))


def test_deadlines_skip_weekends_and_start_from_the_shanghai_day_not_the_utc_one(
        t: Town) -> None:
    # Friday 07:00 in Shanghai is still Thursday in UTC: the Friday counts.
    c = complaint(t.db, t.parent_a, t.inst_a,
                  at=dt.datetime(2026, 12, 4, 7, 0, tzinfo=SHANGHAI))
    assert (c.respond_by, c.due_on) == (dt.date(2026, 12, 11), dt.date(2026, 12, 25))
    thursday = complaint(t.db, t.parent_a, t.inst_a, at=THURSDAY)
    assert (thursday.respond_by, thursday.due_on) == (dt.date(2026, 12, 10),
                                                      dt.date(2026, 12, 24))


def test_a_complaint_may_name_the_parents_own_enrollment_but_not_anothers(
        client: FlaskClient, t: Town, make: Factory) -> None:
    course = make.course(t.inst_a)
    enrolled = []
    for who in (t.parent_a, t.parent_b):
        resp = client.post("/api/v1/enrollments", headers=who.headers,
                           json={"course_id": course.id, "student_name": "小明",
                                 "student_grade": 7, "class_hours": 2})
        assert resp.status_code == 201, resp.json
        enrolled.append(resp.json["id"])
    mine, theirs = enrolled
    before = counts(t.db)
    resp = client.post(URL, headers=t.parent_a.headers,
                       json={"institution_id": t.inst_a.id, "enrollment_id": theirs,
                             "category": "refund", "text": "退费"})
    assert resp.status_code == 422 and "enrollment_id" in error_of(resp)["errors"]
    # Mine, but at another institution than the complaint names.
    resp = client.post(URL, headers=t.parent_a.headers,
                       json={"institution_id": t.inst_b.id, "enrollment_id": mine,
                             "category": "refund", "text": "退费"})
    assert resp.status_code == 422 and "enrollment_id" in error_of(resp)["errors"]
    assert counts(t.db) == before
    resp = client.post(URL, headers=t.parent_a.headers,
                       json={"institution_id": t.inst_a.id, "enrollment_id": mine,
                             "category": "refund", "text": "退费"})
    assert resp.status_code == 201 and resp.json["enrollment_id"] == mine


@pytest.mark.parametrize("body, field", [
    ({"institution_id": 10**9, "category": "refund", "text": "退费"}, "institution_id"),
    ({"category": "refund", "text": "退费"}, "institution_id"),
    ({"institution_id": 0, "category": "price", "text": "退费"}, "category"),
    ({"institution_id": 0, "category": "refund", "text": "   "}, "text"),
    ({"institution_id": 0, "category": "refund", "text": "退费", "status": "closed"}, "status"),
    ({"institution_id": 0, "category": "refund", "text": "x" * 2001}, "text"),
])
def test_a_complaint_that_does_not_hold_is_refused_and_nothing_is_written(
        client: FlaskClient, t: Town, body: dict[str, object], field: str) -> None:
    if body.get("institution_id") == 0:
        body = {**body, "institution_id": t.inst_a.id}
    before = counts(t.db)
    resp = client.post(URL, headers=t.parent_a.headers, json=body)
    assert resp.status_code == 422, resp.json
    assert field in error_of(resp)["errors"]
    assert counts(t.db) == before


def test_only_a_parent_files_a_complaint_in_the_api_and_in_the_service(
        client: FlaskClient, t: Town) -> None:
    before = counts(t.db)
    for who in (t.staff_a, t.city):
        resp = client.post(URL, headers=who.headers,
                           json={"institution_id": t.inst_a.id, "category": "refund",
                                 "text": "退费"})
        assert resp.status_code == 403
        with pytest.raises(Forbidden):
            submit_complaint(t.db, who.actor, institution_id=t.inst_a.id, category="refund",
                             text="退费")
    assert counts(t.db) == before


def test_a_parent_sees_only_their_own_complaints(client: FlaskClient, t: Town) -> None:
    mine = complaint(t.db, t.parent_a, t.inst_a)
    theirs = complaint(t.db, t.parent_b, t.inst_a, text="乙家长的投诉")
    listed = client.get(URL, headers=t.parent_a.headers)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json] == [mine.id]
    assert "乙家长的投诉" not in listed.get_data(as_text=True)
    assert client.get(f"{URL}/{theirs.id}", headers=t.parent_a.headers).status_code == 404
    assert client.get(f"{URL}/{mine.id}", headers=t.parent_a.headers).status_code == 200


def test_an_institution_sees_only_the_complaints_about_itself(client: FlaskClient,
                                                              t: Town) -> None:
    about_a = complaint(t.db, t.parent_a, t.inst_a)
    about_b = complaint(t.db, t.parent_a, t.inst_b)
    listed = client.get(URL, headers=t.staff_a.headers)
    assert [c["id"] for c in listed.json] == [about_a.id]
    assert client.get(f"{URL}/{about_b.id}", headers=t.staff_a.headers).status_code == 404
    assert client.get(f"{URL}/{about_b.id}", headers=t.staff_b.headers).status_code == 200


def test_a_district_regulator_sees_its_districts_complaints_and_the_city_sees_all(
        client: FlaskClient, t: Town) -> None:
    about_a = complaint(t.db, t.parent_a, t.inst_a)
    about_b = complaint(t.db, t.parent_b, t.inst_b)
    listed = client.get(URL, headers=t.regulator_a.headers)
    assert [c["id"] for c in listed.json] == [about_a.id]
    assert client.get(f"{URL}/{about_b.id}", headers=t.regulator_a.headers).status_code == 404
    city = client.get(URL, headers=t.city.headers)
    assert {c["id"] for c in city.json} == {about_a.id, about_b.id}
    before = counts(t.db)
    resp = client.post(f"{URL}/{about_b.id}/close", headers=t.regulator_a.headers,
                       json={"outcome": "upheld", "note": "查实"})
    assert resp.status_code == 404 and counts(t.db) == before
    assert t.db.get(Complaint, about_b.id).status == "submitted"  # type: ignore[union-attr]


def test_the_list_filters_by_status_category_and_institution(client: FlaskClient,
                                                             t: Town) -> None:
    refund = complaint(t.db, t.parent_a, t.inst_a, category="refund")
    safety = complaint(t.db, t.parent_a, t.inst_b, category="safety")
    h = t.city.headers
    assert [c["id"] for c in client.get(f"{URL}?category=safety", headers=h).json] == [safety.id]
    assert [c["id"] for c in client.get(f"{URL}?institution_id={t.inst_a.id}",
                                        headers=h).json] == [refund.id]
    assert client.get(f"{URL}?status=closed", headers=h).json == []
    assert len(client.get(f"{URL}?status=submitted", headers=h).json) == 2
    assert client.get(f"{URL}?status=lost", headers=h).status_code == 422


def test_the_institution_answers_and_a_later_answer_keeps_it_responded(
        client: FlaskClient, t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a)
    url = f"{URL}/{c.id}/responses"
    first = client.post(url, headers=t.staff_a.headers, json={"text": "已在办理退费"})
    assert first.status_code == 201, first.json
    assert first.json["text"] == "已在办理退费" and first.json["complaint_id"] == c.id
    assert client.get(f"{URL}/{c.id}", headers=t.parent_a.headers).json["status"] == "responded"
    second = client.post(url, headers=t.staff_a.headers, json={"text": "款项已退回"})
    assert second.status_code == 201
    detail = client.get(f"{URL}/{c.id}", headers=t.parent_a.headers).json
    assert detail["status"] == "responded"
    assert [r["text"] for r in detail["responses"]] == ["已在办理退费", "款项已退回"]
    assert detail["outcome"] is None and detail["note"] is None


def test_only_the_institution_concerned_answers_and_a_refusal_writes_nothing(
        client: FlaskClient, t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a)
    url = f"{URL}/{c.id}/responses"
    before = counts(t.db)
    assert client.post(url, headers=t.staff_b.headers, json={"text": "x"}).status_code == 404
    for who in (t.parent_a, t.city):
        assert client.post(url, headers=who.headers, json={"text": "x"}).status_code == 403
    assert client.post(f"{URL}/999999999/responses", headers=t.staff_a.headers,
                       json={"text": "x"}).status_code == 404
    assert counts(t.db) == before
    assert t.db.get(Complaint, c.id).status == "submitted"  # type: ignore[union-attr]


def test_a_regulator_closes_a_complaint_once_and_then_it_takes_no_answers(
        client: FlaskClient, t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a)
    url = f"{URL}/{c.id}/close"
    resp = client.post(url, headers=t.regulator_a.headers,
                       json={"outcome": "mediated", "note": "经调解退还剩余课时费"})
    assert resp.status_code == 200, resp.json
    assert (resp.json["status"], resp.json["outcome"], resp.json["note"]) == (
        "closed", "mediated", "经调解退还剩余课时费")
    parent_view = client.get(f"{URL}/{c.id}", headers=t.parent_a.headers).json
    assert (parent_view["status"], parent_view["outcome"]) == ("closed", "mediated")
    before = counts(t.db)
    again = client.post(url, headers=t.city.headers, json={"outcome": "upheld"})
    assert again.status_code == 409, again.json
    late = client.post(f"{URL}/{c.id}/responses", headers=t.staff_a.headers,
                       json={"text": "补充说明"})
    assert late.status_code == 409
    assert counts(t.db) == before
    assert t.db.get(Complaint, c.id).outcome == "mediated"  # type: ignore[union-attr]


def test_only_a_regulator_closes_and_an_outcome_is_required(client: FlaskClient,
                                                            t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a)
    url = f"{URL}/{c.id}/close"
    before = counts(t.db)
    for who in (t.parent_a, t.staff_a):
        assert client.post(url, headers=who.headers,
                           json={"outcome": "upheld"}).status_code == 403
    for body in ({"note": "无结论"}, {"outcome": "won"}):
        resp = client.post(url, headers=t.city.headers, json=body)
        assert resp.status_code == 422 and "outcome" in error_of(resp)["errors"]
    assert counts(t.db) == before
