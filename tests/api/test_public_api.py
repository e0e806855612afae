"""The public look-up (API.md §10): no token, search and filters, ratings, 明码标价, teachers
without ID numbers, 违规公示, nothing private, and a rate limit per client address."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.identifiers import hash_id_number, mask_id_number
from supervision.models import Complaint, Flag, FlagEvent, Institution, Review, Tip

from ..support.escrow_world import World, world
from ..support.factories import Factory
from ..support.parties import party

URL = "/api/v1/public/institutions"


@pytest.fixture
def w(db: Session, make: Factory) -> World:
    return world(db, make, name="锡心学堂培训中心", district_code="320213")


def review(w: World, client: FlaskClient, stars: int, text: str, *,
           at: dt.datetime | None = None, institution: Institution | None = None) -> Review:
    """A parent's review of a paid enrollment, written directly: the review service is
    tested with its own endpoint; here only what the public sees of it matters."""
    course = w.course if institution is None else w.make.course(institution)
    enrollment = w.enroll(client, hours=1, course=course)
    row = Review(enrollment_id=enrollment["id"], institution_id=course.institution_id,
                 parent_id=w.parent.id, stars=stars, text=text,
                 created_at=at or clock.now())
    w.db.add(row)
    w.db.flush()
    return row


def flag(db: Session, institution: Institution, rule: str, *actions: tuple[str, dt.datetime],
         status: str) -> Flag:
    row = Flag(rule=rule, severity="high", status=status, institution_id=institution.id,
               subject_type="institution", subject_id=f"{institution.id}-{rule}",
               summary="内部摘要", evidence={"note": "证据内部备注"})
    db.add(row)
    db.flush()
    for action, at in actions:
        db.add(FlagEvent(flag_id=row.id, institution_id=institution.id, at=at,
                         actor="regulator:甲", action=action, note="整改内部备注",
                         from_status=None, to_status=status))
    db.flush()
    return row


def test_the_look_up_needs_no_token_and_searches_by_name_or_uscc(
        client: FlaskClient, w: World, make: Factory) -> None:
    other = make.institution(name="梁溪艺术培训学校")
    by_name = client.get(URL, query_string={"q": "锡心"})
    assert by_name.status_code == 200
    assert [x["id"] for x in by_name.json] == [w.institution.id]
    assert by_name.json[0] == {
        "id": w.institution.id, "name": "锡心学堂培训中心", "uscc": w.institution.uscc,
        "district_code": "320213", "address": w.institution.address, "status": "active",
        "subject_type": "subject", "online": True, "rating": {"average": None, "count": 0}}
    by_uscc = client.get(URL, query_string={"q": other.uscc[4:14].lower()}).json
    assert [x["id"] for x in by_uscc] == [other.id]
    assert client.get(URL, query_string={"q": "没有这样的机构"}).json == []
    # A % in the query is a character, not a wildcard.
    assert client.get(URL, query_string={"q": "%"}).json == []


def test_the_look_up_filters_by_district_and_status_and_pages(
        client: FlaskClient, make: Factory) -> None:
    offline = make.institution(district_code="320205", licensed_modes=["offline"],
                               category="non_subject")
    revoked = make.institution(district_code="320205", status="revoked",
                               status_reason="内部：资金链断裂")
    make.institution(district_code="320213")
    in_district = client.get(URL, query_string={"district_code": "320205"}).json
    assert [x["id"] for x in in_district] == [offline.id, revoked.id]
    assert (in_district[0]["online"], in_district[0]["subject_type"]) == (False, "non_subject")
    black = client.get(URL, query_string={"district_code": "320205", "status": "revoked"}).json
    assert [x["id"] for x in black] == [revoked.id]
    assert client.get(URL, query_string={"status": "closed"}).status_code == 422
    assert client.get(URL, query_string={"page_size": 101}).status_code == 422
    first = client.get(URL, query_string={"district_code": "320205", "page_size": 1})
    second = client.get(URL, query_string={"district_code": "320205", "page_size": 1,
                                           "page": 2})
    assert json.loads(first.headers["X-Pagination"])["total"] == 2
    assert [x["id"] for x in first.json + second.json] == [offline.id, revoked.id]


def test_the_rating_is_the_average_and_count_of_the_reviews(
        client: FlaskClient, w: World, make: Factory) -> None:
    other = make.institution()
    for stars in (5, 4, 4):
        review(w, client, stars, "不错")
    review(w, client, 1, "别家的", institution=other)
    listed = {x["id"]: x["rating"] for x in client.get(URL).json}
    assert listed[w.institution.id] == {"average": 4.33, "count": 3}
    assert listed[other.id] == {"average": 1.0, "count": 1}
    detail = client.get(f"{URL}/{w.institution.id}").json
    assert detail["rating"] == {"average": 4.33, "count": 3}


def test_the_profile_lists_prices_teachers_and_the_newest_twenty_reviews(
        client: FlaskClient, w: World, make: Factory) -> None:
    english = make.course(w.institution, name="初一英语", subject="english", grade_min=7,
                          grade_max=7, price_per_class_hour_fen=5500)
    uncertified = make.teacher(w.institution, name="李老师", qualification_cert_no=None)
    make.session_of(english, uncertified)
    make.session_of(w.course, uncertified)
    w.past_session()  # w.teacher teaches the maths course
    base = clock.now() - dt.timedelta(days=30)
    for n in range(22):
        review(w, client, 1 + n % 5, f"评价{n}", at=base + dt.timedelta(days=n))
    body = client.get(f"{URL}/{w.institution.id}").json
    assert body["courses"] == [
        {"id": w.course.id, "name": w.course.name, "subject": "math", "grade_min": 7,
         "grade_max": 8, "price_per_class_hour_fen": 4000},
        {"id": english.id, "name": "初一英语", "subject": "english", "grade_min": 7,
         "grade_max": 7, "price_per_class_hour_fen": 5500}]
    assert body["teachers"] == [
        {"name": "王老师", "subjects": ["math"], "certified": True},
        {"name": "李老师", "subjects": ["english", "math"], "certified": False}]
    reviews = body["recent_reviews"]
    assert [r["text"] for r in reviews] == [f"评价{n}" for n in range(21, 1, -1)]
    assert set(reviews[0]) == {"stars", "text", "at"}
    assert reviews[0]["stars"] == 1 + 21 % 5


def test_an_unknown_institution_is_a_404(client: FlaskClient) -> None:
    for path in (f"{URL}/999999", f"{URL}/{2**63}"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert resp.json["code"] == 404


def test_sanctions_are_flags_resolved_after_ordered_rectification_within_a_year(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    now = clock.now()
    ago = lambda days: now - dt.timedelta(days=days)  # noqa: E731
    flag(db, w.institution, "SUBJECT_ON_WEEKEND", ("order_rectification", ago(40)),
         ("respond", ago(30)), ("resolve", ago(10)), status="resolved")
    flag(db, w.institution, "LATE_END_OFFLINE", ("order_rectification", ago(364)),
         ("resolve", ago(364)), status="resolved")
    # Resolved too long ago, resolved without an order, ordered but not resolved, dismissed:
    flag(db, w.institution, "SUBJECT_ON_HOLIDAY", ("order_rectification", ago(400)),
         ("resolve", ago(366)), status="resolved")
    flag(db, w.institution, "LICENSE_EXPIRING", ("acknowledge", ago(9)),
         ("resolve", ago(5)), status="resolved")
    flag(db, w.institution, "VENUE_UNREGISTERED", ("order_rectification", ago(3)),
         status="rectification_ordered")
    flag(db, w.institution, "VENUE_OVER_CAPACITY", ("order_rectification", ago(20)),
         ("dismiss", ago(2)), status="dismissed")
    flag(db, make.institution(), "SUBJECT_IN_VACATION", ("order_rectification", ago(20)),
         ("resolve", ago(2)), status="resolved")
    sanctions = client.get(f"{URL}/{w.institution.id}").json["sanctions"]
    assert [(s["rule"], s["title"]) for s in sanctions] == [
        ("SUBJECT_ON_WEEKEND", "周末开展学科类培训"),
        ("LATE_END_OFFLINE", "线下培训结束时间晚于20:30")]
    assert dt.datetime.fromisoformat(sanctions[0]["at"]) == ago(10)


def test_no_public_answer_shows_an_id_number_a_person_a_contact_or_a_note(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    secrets: list[str] = []
    number = make.id_number()
    teacher = make.teacher(w.institution, id_number=number, name="陈老师")
    secrets += [number, mask_id_number(number), teacher.id_number_hash,
                hash_id_number(number, "dev-only-id-hash-key")]
    secrets += [t.id_number_masked for t in (w.teacher, teacher)]
    w.institution.contact_phone = "13912345678"
    w.institution.status_reason = "内部说明：约谈记录"
    secrets += ["13912345678", "内部说明：约谈记录", w.institution.license_no,
                w.institution.supervised_account_no]
    parent = party(db, "parent", name="赵秘密家长")
    enrollment = w.enroll(client, hours=1, parent=parent, student="钱秘密学生")
    secrets += ["赵秘密家长", "钱秘密学生", enrollment["payment_reference"]]
    db.add(Review(enrollment_id=enrollment["id"], institution_id=w.institution.id,
                  parent_id=parent.id, stars=4, text="孩子进步明显"))
    db.add(Complaint(institution_id=w.institution.id, enrollment_id=enrollment["id"],
                     parent_id=parent.id, category="fees", text="投诉内容孙秘密",
                     status="closed", respond_by=dt.date(2026, 12, 10),
                     due_on=dt.date(2026, 12, 24), outcome="upheld", note="处理备注周秘密",
                     closed_at=clock.now()))
    db.add(Tip(reference="T" * 20, district_code="320213", address="某小区",
               description="举报内容吴秘密", contact="13800138000", status="closed",
               outcome="confirmed", note="核查备注郑秘密", institution_id=w.institution.id))
    secrets += ["投诉内容孙秘密", "处理备注周秘密", "举报内容吴秘密", "13800138000",
                "核查备注郑秘密", "T" * 20]
    flag(db, w.institution, "SUBJECT_ON_WEEKEND",
         ("order_rectification", clock.now() - dt.timedelta(days=3)),
         ("resolve", clock.now() - dt.timedelta(days=1)), status="resolved")
    secrets += ["内部摘要", "证据内部备注", "整改内部备注", "regulator:甲"]
    make.session_of(w.course, teacher)
    db.flush()

    answers = [client.get(URL), client.get(URL, query_string={"q": "锡心"}),
               client.get(f"{URL}/{w.institution.id}")]
    assert all(a.status_code == 200 for a in answers)
    detail = answers[2].json
    # The planted data really is in the answer's reach: the review, the teacher, the sanction.
    assert [r["text"] for r in detail["recent_reviews"]] == ["孩子进步明显"]
    assert "陈老师" in [t["name"] for t in detail["teachers"]]
    assert [s["rule"] for s in detail["sanctions"]] == ["SUBJECT_ON_WEEKEND"]
    for answer in answers:
        text = answer.get_data(as_text=True)
        found = [s for s in secrets if s and (s in text or json.dumps(s)[1:-1] in text)]
        assert found == [], found


@pytest.mark.parametrize("settings_overrides", [{"RATELIMIT_PUBLIC": "2 per minute"}])
def test_the_public_look_up_is_rate_limited_per_client_address(
        client: FlaskClient, w: World, db: Session) -> None:
    first = {"REMOTE_ADDR": "198.51.100.7"}
    second = {"REMOTE_ADDR": "198.51.100.8"}
    assert [client.get(URL, environ_base=first).status_code for _ in range(2)] == [200, 200]
    # A token does not buy another allowance: the public limit counts the address.
    refused = client.get(f"{URL}/{w.institution.id}", environ_base=first,
                         headers=w.regulator.headers)
    assert refused.status_code == 429
    assert refused.json["code"] == 429
    assert int(refused.headers["Retry-After"]) >= 1
    # The tip-off form is behind the same door, and a refused tip is not stored.
    tip = client.post("/api/v1/public/tips", environ_base=first, json={
        "district_code": "320213", "address": "某小区", "description": "周末上数学课"})
    assert tip.status_code == 429
    assert db.scalar(select(func.count()).select_from(Tip)) == 0
    assert client.get(URL, environ_base=second).status_code == 200
    # Only the public door is limited by it: the same address still reaches the rest.
    me = client.get("/api/v1/me", environ_base=first, headers=w.regulator.headers)
    assert me.status_code == 200
