"""Who may do what, walked over EVERY route: each API endpoint and each console form.

One table per front end says, for every route of `app.url_map`, which roles may call it and
what scoping answers (the kinds of tests/scoping.py, plus `citywide`: the calendar, the school
years, the rosters and compliance runs are the city's, so a district regulator gets 403). Every
row is called by a district regulator (of A), institution A and parent A against B's objects;
a refusal must write nothing (the audit log does not grow). As a control, the row then runs as
someone allowed (B's side, or the city), so a wrong path or body cannot make it pass vacuously.

The walk compares the tables with `app.url_map`: a route added without a row fails it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import calendar as cal
from supervision import clock
from supervision.access.principals import actor_for
from supervision.access.scope import SYSTEM, Actor
from supervision.complaints import PUBLIC, submit_complaint, submit_tip
from supervision.compliance.flags import raise_flag
from supervision.compliance.runs import run_compliance
from supervision.compliance.workflow import apply_action, respond
from supervision.errors import Forbidden
from supervision.escrow import apply_deposit
from supervision.escrow.consumption import record_attendance
from supervision.escrow.enrollments import create_enrollment
from supervision.escrow.refunds import request_refund
from supervision.escrow.statements import import_statement
from supervision.escrow.statements.format import StatementIn
from supervision.models import (
    AuditLog,
    CalendarOverride,
    ComplianceRun,
    Course,
    Principal,
    RosterEntry,
    SchoolYear,
    Teacher,
)
from supervision.registry.teachers import add_to_roster
from supervision.risk import score_institutions
from supervision.scheduler import SCHEDULER

from ..support.console import Browser
from ..support.factories import Factory
from ..support.parties import token_in
from ..support.registry_bodies import (
    course_body,
    institution_body,
    new_id_number,
    session_items,
    teacher_body,
)
from ..support.scoping_matrix import (
    B_MARKS,
    DISTRICT_B,
    INTRUDERS,
    Endpoint,
    World,
    audit_rows,
    build_world,
    check_intruder,
    check_owner,
    endpoint,
)

STAFF = "regulator institution"
ANYONE = "regulator institution parent"
DAY_SET = "2027-01-01"  # a day no row overrides yet
DAY_OVERRIDDEN = "2026-10-02"  # overridden in the world, so a DELETE has something to delete


# --- the world: B's objects of every kind ------------------------------------------------------

def _actor(world: World, key: str) -> Actor:
    principal = world.session.get(Principal, world.principal_ids[key])
    assert principal is not None
    return actor_for(principal)


def authority_world(make: Factory) -> World:
    """tests/scoping.py's world, plus B's flag, enrollment, consumption, refund and statement,
    a compliance run and a calendar override, made through the services."""
    world = build_world(make)
    db, b = world.session, world.institution_b
    now = clock.local_now()
    flag = raise_flag(db, SYSTEM, rule="TEACHER_NO_CERT", severity="high", institution_id=b.id,
                      subject_type="teacher", subject_id=world.ids["teacher_b"],
                      summary="乙机构钱老师无教师资格证", evidence={})
    cal.put_override(db, SYSTEM, dt.date.fromisoformat(DAY_OVERRIDDEN), kind="workday", name=None)
    run = run_compliance(db, SYSTEM, as_of=now, horizon_days=0, lookback_days=0)
    enrollment = create_enrollment(db, _actor(world, "parent_b"),
                                   course_id=world.ids["course_b"], student_name="小乙",
                                   student_grade=10, class_hours=10)
    assert apply_deposit(db, SYSTEM, event_id=f"evt-auth-{enrollment.id}",
                         payment_reference=enrollment.payment_reference,
                         amount_fen=enrollment.amount_fen,
                         trustee_txn_id=f"TX-auth-{enrollment.id}",
                         received_at=now - dt.timedelta(days=1)) == "applied"
    course, teacher = db.get(Course, world.ids["course_b"]), db.get(Teacher, world.ids["teacher_b"])
    assert course is not None and teacher is not None
    past = make.session_of(course, teacher, starts_at=now - dt.timedelta(hours=3))
    consumption = record_attendance(db, _actor(world, "institution_b"), session_id=past.id,
                                    enrollment_ids=[enrollment.id], class_hours=1,
                                    as_of=now)[0]
    refund = request_refund(db, _actor(world, "parent_b"), enrollment.id, reason="搬家",
                            amount_fen=4000, as_of=now)
    statement, _ = import_statement(db, SYSTEM, StatementIn(
        account_no=b.supervised_account_no, date=now.date() - dt.timedelta(days=1),
        opening_balance_fen=0, closing_balance_fen=0, lines=()))
    complaint = submit_complaint(db, _actor(world, "parent_b"), institution_id=b.id,
                                 category="refund", text="退费不到账")
    tip = submit_tip(db, PUBLIC, district_code=DISTRICT_B, address=f"{B_MARKS[3]}9号",
                     description="无证补课")
    db.flush()
    world.ids.update(complaint_b=complaint.id, tip_b=tip.id)
    # B holds money in custody (the deposit above), so the risk run scores it (API.md §12).
    score_institutions(db, SYSTEM, as_of=now)
    world.ids.update(flag_b=flag.id, run=run.id, enrollment_b=enrollment.id, past_b=past.id,
                     consumption_b=consumption.id, refund_b=refund.id,
                     statement_b=statement.id)
    return world


# --- the API table -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One (method, url_map rule) of the API and how it is called; `control` is False where the
    allowed call would reach the trustee or has nothing of B's to show."""

    method: str
    rule: str
    ep: Endpoint
    control: bool = True


def row(method: str, rule: str, path: str, roles: str, *, control: bool = True,
        **kw: Any) -> Row:
    """The control runs as B's institution where it may call, else B's district regulator,
    else B's parent, unless the row names its `owner`."""
    allowed = roles.split()
    kw.setdefault("owner", next(f"{role}_b" for role in ("institution", "regulator", "parent")
                                if role in allowed))
    return Row(method, f"/api/v1{rule}", endpoint(method, path, roles, **kw), control)


def _statement_of_b(world: World) -> dict[str, Any]:
    return {"account_no": world.institution_b.supervised_account_no, "date": "2026-11-30",
            "opening_balance_fen": 0, "closing_balance_fen": 0, "lines": []}


SCHOOL_YEAR = {"winter_vacation": {"start": "2028-01-22", "end": "2028-02-20"},
               "summer_vacation": {"start": "2028-07-05", "end": "2028-08-31"}}
INST = "/institutions/<int:institution_id>"

API: list[Row] = [
    row("GET", "/me", "/me", ANYONE, kind="unscoped"),
    row("GET", "/audit", "/audit?entity=institutions&entity_id={inst_b}", "regulator",
        kind="list", owner="regulator_b"),
    # Registries
    row("GET", "/institutions", "/institutions", STAFF, kind="list"),
    row("POST", "/institutions", "/institutions", "regulator", kind="reference",
        field="district_code", body=lambda w: institution_body(district_code=DISTRICT_B),
        owner="regulator_b", owner_status=201),
    row("GET", INST, "/institutions/{inst_b}", STAFF),
    row("PATCH", INST, "/institutions/{inst_b}", STAFF, body=lambda w: {"address": "改了"}),
    row("GET", f"{INST}/public", "/institutions/{inst_b}/public", ANYONE, kind="public"),
    row("POST", f"{INST}/status", "/institutions/{inst_b}/status", "regulator",
        owner="regulator_b", body=lambda w: {"status": "suspended", "reason": "检查"}),
    row("GET", f"{INST}/venues", "/institutions/{inst_b}/venues", STAFF),
    row("POST", f"{INST}/venues", "/institutions/{inst_b}/venues", STAFF, owner_status=201,
        body=lambda w: {"address": "新教学点", "capacity": 10}),
    row("GET", "/teachers", "/teachers", STAFF, kind="list"),
    row("POST", "/teachers", "/teachers", STAFF, kind="reference", field="institution_id",
        body=lambda w: teacher_body(institution_id=w.ids["inst_b"]), owner_status=201),
    row("GET", "/teachers/<int:teacher_id>", "/teachers/{teacher_b}", STAFF),
    row("PATCH", "/teachers/<int:teacher_id>", "/teachers/{teacher_b}", STAFF,
        body=lambda w: {"employment": "part_time"}),
    row("POST", "/rosters/inservice-teachers", "/rosters/inservice-teachers", "regulator",
        kind="citywide", owner="regulator_city",
        body=lambda w: {"id_numbers": [new_id_number()]}),
    row("POST", "/rosters/blacklist", "/rosters/blacklist", "regulator", kind="citywide",
        owner="regulator_city", body=lambda w: {"id_numbers": [new_id_number()],
                                                "reason": "测试"}),
    row("GET", "/courses", "/courses", ANYONE, kind="list", public_to="parent"),
    row("POST", "/courses", "/courses", "institution", kind="reference", field="venue_id",
        body=lambda w: course_body(venue_id=w.ids["venue_b"]), owner_status=201),
    row("GET", "/courses/<int:course_id>", "/courses/{course_b}", ANYONE, public_to="parent"),
    row("PATCH", "/courses/<int:course_id>", "/courses/{course_b}", STAFF,
        body=lambda w: {"name": "改了名的课程"}),
    row("POST", "/courses/<int:course_id>/sessions", "/courses/{course_b}/sessions",
        "institution", owner_status=201,
        body=lambda w: {"sessions": session_items(w.ids["teacher_b"])}),
    row("GET", "/sessions", "/sessions", ANYONE, kind="list", public_to="parent"),
    row("POST", "/sessions/<int:session_id>/cancel", "/sessions/{session_b}/cancel",
        "institution"),
    # Spreadsheet import: only institutions, each into its own records. This walk sends JSON,
    # so an institution gets the 422 of the missing file part; A's file naming B's teacher is
    # tests/imports/test_import_api.py's.
    row("POST", "/imports/<kind>", "/imports/sessions", "institution", kind="reference",
        field="file", owner_status=422, body=lambda w: {}),
    row("GET", "/imports/<kind>/template", "/imports/sessions/template?format=csv",
        "institution", kind="unscoped"),
    # Compliance: runs are city-wide; flags are scoped
    row("GET", "/rules", "/rules", STAFF, kind="unscoped"),
    row("GET", "/compliance/runs", "/compliance/runs", "regulator", kind="unscoped"),
    row("POST", "/compliance/runs", "/compliance/runs", "regulator", kind="citywide",
        owner="regulator_city", owner_status=201, body=lambda w: {"horizon_days": 0}),
    row("GET", "/compliance/runs/<int:run_id>", "/compliance/runs/{run}", "regulator",
        kind="unscoped"),
    row("GET", "/flags", "/flags", STAFF, kind="list"),
    row("GET", "/flags/<int:flag_id>", "/flags/{flag_b}", STAFF),
    row("POST", "/flags/<int:flag_id>/actions", "/flags/{flag_b}/actions", "regulator",
        owner="regulator_b", body=lambda w: {"action": "acknowledge"}),
    # B's flag is open: B reaches it, and the state machine (not scoping) answers 409
    row("POST", "/flags/<int:flag_id>/responses", "/flags/{flag_b}/responses",
        "institution", owner_status=409, body=lambda w: {"note": "已整改"}),
    # The calendar: any regulator reads it, only the city changes it
    row("GET", "/calendar/days", "/calendar/days?from=2026-12-01&to=2026-12-31",
        "regulator", kind="unscoped"),
    row("PUT", "/calendar/days/<string:day>", f"/calendar/days/{DAY_SET}", "regulator",
        kind="citywide", owner="regulator_city",
        body=lambda w: {"kind": "holiday", "name": "元旦"}),
    row("DELETE", "/calendar/days/<string:day>", f"/calendar/days/{DAY_OVERRIDDEN}",
        "regulator", kind="citywide", owner="regulator_city", owner_status=204),
    row("GET", "/calendar/school-years", "/calendar/school-years", "regulator",
        kind="unscoped"),
    row("GET", "/calendar/school-years/<string:name>", "/calendar/school-years/2026-2027",
        "regulator", kind="unscoped"),
    row("PUT", "/calendar/school-years/<string:name>", "/calendar/school-years/2027-2028",
        "regulator", kind="citywide", owner="regulator_city", body=lambda w: SCHOOL_YEAR),
    # Enrollments and escrow: parents may enrol in any course, see only their own money
    row("POST", "/enrollments", "/enrollments", "parent", kind="public", owner="parent_b",
        owner_status=201, body=lambda w: {"course_id": w.ids["course_b"],
                                          "student_name": "小丙", "student_grade": 10,
                                          "class_hours": 2}),
    row("GET", "/enrollments", "/enrollments", ANYONE, kind="list", owner="parent_b"),
    row("GET", "/enrollments/<int:enrollment_id>", "/enrollments/{enrollment_b}", ANYONE,
        owner="parent_b"),
    row("GET", "/enrollments/<int:enrollment_id>/escrow", "/enrollments/{enrollment_b}/escrow",
        ANYONE, owner="parent_b"),
    # More than is refundable: B's parent reaches the enrollment and the money rule answers
    row("POST", "/enrollments/<int:enrollment_id>/refunds",
        "/enrollments/{enrollment_b}/refunds", "parent", owner="parent_b", owner_status=422,
        body=lambda w: {"reason": "不学了", "amount_fen": 10**8}),
    # The same enrollment twice for one session: B reaches it, and the answer is 409
    row("POST", "/sessions/<int:session_id>/attendance", "/sessions/{past_b}/attendance",
        "institution", owner_status=409,
        body=lambda w: {"enrollment_ids": [w.ids["enrollment_b"]]}),
    row("GET", "/consumptions", "/consumptions", ANYONE, kind="list", owner="parent_b"),
    row("GET", "/consumptions/<int:consumption_id>", "/consumptions/{consumption_b}", ANYONE,
        owner="parent_b"),
    row("POST", "/consumptions/<int:consumption_id>/confirm",
        "/consumptions/{consumption_b}/confirm", "parent", owner="parent_b"),
    row("POST", "/consumptions/<int:consumption_id>/dispute",
        "/consumptions/{consumption_b}/dispute", "parent", owner="parent_b",
        body=lambda w: {"reason": "没上课"}),
    row("GET", "/refunds", "/refunds", ANYONE, kind="list", owner="parent_b"),
    row("GET", "/refunds/<int:refund_id>", "/refunds/{refund_b}", ANYONE, owner="parent_b"),
    row("POST", "/refunds/<int:refund_id>/approve", "/refunds/{refund_b}/approve", STAFF,
        control=False),  # approving instructs the trustee: its own tests cover it
    row("POST", "/refunds/<int:refund_id>/reject", "/refunds/{refund_b}/reject", "institution",
        body=lambda w: {"reason": "已上课时超出"}),
    row("POST", "/escrow/release-runs", "/escrow/release-runs", "regulator", kind="unscoped",
        control=False),  # the world has no confirmed money: nothing of B's to release
    row("GET", "/escrow/instructions", "/escrow/instructions", STAFF, kind="list",
        control=False),  # nothing was instructed for B yet
    row("GET", "/escrow/trial-balance", "/escrow/trial-balance", "regulator", kind="unscoped"),
    row("GET", "/escrow/institutions/<int:institution_id>/summary",
        "/escrow/institutions/{inst_b}/summary", STAFF),
    row("GET", "/escrow/entries", "/escrow/entries", STAFF, kind="list"),
    row("GET", "/escrow/statements", "/escrow/statements", "regulator", kind="list",
        owner="regulator_b"),
    row("POST", "/escrow/statements", "/escrow/statements", "regulator", kind="reference",
        field="account_no", owner="regulator_b", owner_status=201, body=_statement_of_b),
    row("GET", "/escrow/statements/<int:statement_id>", "/escrow/statements/{statement_b}",
        "regulator", owner="regulator_b"),
    # Complaints, tips and reviews (§11): a parent may complain about any institution
    row("GET", "/complaints", "/complaints", ANYONE, kind="list"),
    row("POST", "/complaints", "/complaints", "parent", kind="public", owner="parent_b",
        owner_status=201, body=lambda w: {"institution_id": w.ids["inst_b"],
                                          "category": "fees", "text": "乱收费"}),
    row("GET", "/complaints/<int:complaint_id>", "/complaints/{complaint_b}", ANYONE),
    row("POST", "/complaints/<int:complaint_id>/responses",
        "/complaints/{complaint_b}/responses", "institution", owner_status=201,
        body=lambda w: {"text": "已联系家长"}),
    row("POST", "/complaints/<int:complaint_id>/close", "/complaints/{complaint_b}/close",
        "regulator", owner="regulator_b", body=lambda w: {"outcome": "mediated"}),
    row("GET", "/tips", "/tips", "regulator", kind="list", owner="regulator_b"),
    row("GET", "/tips/<int:tip_id>", "/tips/{tip_b}", "regulator", owner="regulator_b"),
    row("POST", "/tips/<int:tip_id>/actions", "/tips/{tip_b}/actions", "regulator",
        owner="regulator_b", body=lambda w: {"action": "investigate"}),
    # Risk early warning (§12): regulators rank, an institution reads its own, runs are the city's
    row("GET", "/risk/institutions", "/risk/institutions", "regulator", kind="list",
        owner="regulator_b"),
    row("GET", f"{INST}/risk", "/institutions/{inst_b}/risk", STAFF),
    row("POST", "/risk/runs", "/risk/runs", "regulator", kind="citywide",
        owner="regulator_city", owner_status=201),
    # B's class awaits confirmation: B's parent reaches the enrollment and the rule answers
    row("POST", "/enrollments/<int:enrollment_id>/review", "/enrollments/{enrollment_b}/review",
        "parent", owner="parent_b", owner_status=422,
        body=lambda w: {"stars": 5, "text": "很好"}),
]
# Routes no token opens: the trustee signs its calls (a bearer token is 401), the OpenAPI
# document is public, and so is the public look-up (tests/test_public_api.py). Walked below or
# there with their own expectations.
SIGNED = {("POST", "/api/v1/trustee/events")}
OPEN = {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/public/institutions"),
        ("GET", "/api/v1/public/institutions/<int:institution_id>"),
        # The public's tip-offs (tests/test_tips.py)
        ("POST", "/api/v1/public/tips"), ("GET", "/api/v1/public/tips/<string:reference>")}


def api_routes(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                routes.add((method, rule.rule))
    return routes


def test_the_api_table_names_every_api_route_once(app: Flask) -> None:
    keys = [(r.method, r.rule) for r in API]
    assert len(keys) == len(set(keys)), "a route has two rows"
    assert len(keys) >= 55  # the routes of today really were compared
    assert api_routes(app) - SIGNED - OPEN == set(keys)


@pytest.mark.parametrize("r", API, ids=lambda r: r.ep.name)
def test_every_api_route_refuses_who_it_must_and_a_refusal_writes_nothing(
        client: FlaskClient, make: Factory, r: Row) -> None:
    world = authority_world(make)
    for intruder in INTRUDERS:
        check_intruder(client, world, r.ep, intruder)
    if r.control:
        check_owner(client, world, r.ep)


def test_a_bearer_token_cannot_post_trustee_events_and_the_openapi_document_is_open(
        client: FlaskClient, make: Factory) -> None:
    world = build_world(make)
    for caller in INTRUDERS:
        before = audit_rows(world)
        resp = client.post("/api/v1/trustee/events", json={"event_id": "x"},
                           headers=world.headers[caller])
        assert resp.status_code == 401 and audit_rows(world) == before
        assert client.get("/api/v1/openapi.json",
                          headers=world.headers[caller]).status_code == 200


# --- the console -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Form:
    """A console POST: who fills it in (`url`, `data`), what a district regulator of A gets,
    and who, allowed, gets `owner_status` (the control)."""

    rule: str
    url: str
    data: dict[str, str]
    district: int  # what regulator_a gets: 403 city-wide, 404 out of scope, or through
    owner: str = "regulator_city"
    owner_status: int = 302


CONSOLE: list[Form] = [
    Form("/console/calendar/days", "/console/calendar/days",
         {"date": DAY_SET, "kind": "holiday", "name": "元旦"}, district=403),
    Form("/console/calendar/days/delete", "/console/calendar/days/delete",
         {"date": DAY_OVERRIDDEN}, district=403),
    Form("/console/calendar/school-years", "/console/calendar/school-years",
         {"name": "2027-2028", "winter_start": "2028-01-22", "winter_end": "2028-02-20",
          "summer_start": "2028-07-05", "summer_end": "2028-08-31"}, district=403),
    Form("/console/flags/<int:flag_id>/actions", "/console/flags/{flag_b}/actions",
         {"action": "acknowledge"}, district=404, owner="regulator_b"),
    Form("/console/complaints/<int:complaint_id>/close", "/console/complaints/{complaint_b}/close",
         {"outcome": "upheld", "note": "属实"}, district=404, owner="regulator_b"),
    Form("/console/tips/<int:tip_id>/actions", "/console/tips/{tip_b}/actions",
         {"action": "investigate"}, district=404, owner="regulator_b"),
    Form("/console/signout", "/console/signout", {}, district=302),
    Form("/console/<path:_rest>", "/console/no-such-form", {}, district=404, owner_status=404),
]
# Sign-in is the gate itself: walked by the sign-in test below.
GATE = "/console/signin"


def written(world: World) -> tuple[int, ...]:
    """The audit log and the city-wide tables (calendar rows are audited, but count them too)."""
    db = world.session
    db.expire_all()
    return (audit_rows(world),
            *(int(db.scalar(select(func.count()).select_from(model)) or 0)
              for model in (CalendarOverride, SchoolYear, RosterEntry)))


def test_the_console_table_names_every_console_form(app: Flask) -> None:
    posts = {rule.rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/console") and "POST" in (rule.methods or set())}
    rules = [f.rule for f in CONSOLE]
    assert len(rules) == len(set(rules))
    assert posts - {GATE} == set(rules)


@pytest.mark.parametrize("form", CONSOLE, ids=lambda f: f.rule)
def test_every_console_form_refuses_a_district_regulator_as_the_api_does_and_writes_nothing(
        client: FlaskClient, make: Factory, form: Form) -> None:
    world = authority_world(make)
    url = form.url.format(**world.ids)
    district = Browser(client)
    assert district.sign_in(token_in(world.headers["regulator_a"])).status_code == 302
    before = written(world)
    resp = district.post(url, form.data)
    detail = f"regulator_a → {url}: {resp.status_code}"
    assert resp.status_code == form.district, detail
    if form.district >= 400:
        assert written(world) == before, f"{detail}: a refused form wrote something"
        page = resp.get_data(as_text=True)
        assert "无权" in page or "只能查看" in page or "不存在" in page, detail
    # The control: someone allowed gets through (a fresh browser, signed in as them).
    owner = Browser(app_client(client))
    assert owner.sign_in(token_in(world.headers[form.owner])).status_code == 302
    assert owner.post(url, form.data).status_code == form.owner_status, f"{form.owner} → {url}"


def app_client(client: FlaskClient) -> FlaskClient:
    return client.application.test_client()


@pytest.mark.parametrize("caller", ["institution_a", "parent_a"])
def test_institutions_and_parents_cannot_sign_in_so_no_console_form_takes_them(
        client: FlaskClient, make: Factory, caller: str) -> None:
    world = authority_world(make)
    browser = Browser(client)
    resp = browser.sign_in(token_in(world.headers[caller]))
    assert resp.status_code == 403
    assert "仅限教育局监管人员登录" in resp.get_data(as_text=True)
    for form in CONSOLE:
        before = written(world)
        url = form.url.format(**world.ids)
        resp = browser.post(url, form.data, csrf_from=GATE)
        assert resp.status_code == 302, url
        assert resp.headers["Location"].startswith(GATE), url
        assert written(world) == before, f"{caller} → {url} wrote something"


# --- the services decide, whatever front end calls them ---------------------------------------

def _authority_actor(role: str, **kw: Any) -> Actor:
    return Actor(principal_id=10**6, role=role, name=f"{role}-authority", **kw)


AS_OF = dt.datetime(2026, 12, 7, 19, tzinfo=dt.timezone(dt.timedelta(hours=8)))
CITY_WRITES = {
    "put_override": lambda db, actor: cal.put_override(db, actor, dt.date(2027, 1, 1),
                                                       kind="holiday", name="元旦"),
    "delete_override": lambda db, actor: cal.delete_override(db, actor, dt.date(2026, 10, 2)),
    "put_school_year": lambda db, actor: cal.put_school_year(
        db, actor, "2027-2028", winter=(dt.date(2028, 1, 22), dt.date(2028, 2, 20)),
        summer=(dt.date(2028, 7, 5), dt.date(2028, 8, 31))),
    "add_to_roster": lambda db, actor: add_to_roster(db, actor, "inservice", [new_id_number()]),
    "run_compliance": lambda db, actor: run_compliance(db, actor, as_of=AS_OF, horizon_days=0,
                                                       lookback_days=0),
}


def _counts(db: Session) -> tuple[int, ...]:
    db.expire_all()
    return tuple(int(db.scalar(select(func.count()).select_from(model)) or 0)
                 for model in (AuditLog, CalendarOverride, SchoolYear, RosterEntry,
                               ComplianceRun))


@pytest.mark.parametrize("write", CITY_WRITES, ids=str)
@pytest.mark.parametrize("caller", [("regulator", "320213"), ("institution", None),
                                    ("parent", None)], ids=lambda c: c[0])
def test_a_city_wide_write_refuses_districts_institutions_and_parents_in_the_service(
        db: Session, make: Factory, write: str, caller: tuple[str, str | None]) -> None:
    cal.put_override(db, SYSTEM, dt.date(2026, 10, 2), kind="workday", name=None)  # as the system
    role, district = caller
    institution = make.institution() if role == "institution" else None
    before = _counts(db)
    with pytest.raises(Forbidden):
        CITY_WRITES[write](db, _authority_actor(
            role, district_code=district, institution_id=institution.id if institution else None))
    assert _counts(db) == before


@pytest.mark.parametrize("write", CITY_WRITES, ids=str)
def test_the_city_the_scheduler_and_the_command_line_may_make_city_wide_writes(
        db: Session, write: str) -> None:
    for actor in (SYSTEM, SCHEDULER, Actor(principal_id=10**6, role="regulator", name="市局")):
        cal.put_override(db, SYSTEM, dt.date(2026, 10, 2), kind="workday", name=None)
        CITY_WRITES[write](db, actor)  # no Forbidden


def test_flag_decisions_are_a_regulators_and_responses_an_institutions_in_the_service(
        db: Session, make: Factory) -> None:
    institution = make.institution()
    flag = raise_flag(db, SYSTEM, rule="TEACHER_NO_CERT", severity="high",
                      institution_id=institution.id, subject_type="institution",
                      subject_id=institution.id, summary="测试", evidence={})
    staff = Actor(principal_id=10**6, role="institution", name="机构",
                  institution_id=institution.id)
    regulator = Actor(principal_id=10**6 + 1, role="regulator", name="市局")
    before = _counts(db)
    with pytest.raises(Forbidden):
        apply_action(db, staff, flag.id, action="acknowledge", note=None, due_on=None,
                     today=AS_OF.date())
    with pytest.raises(Forbidden):
        respond(db, regulator, flag.id, note="已整改")
    assert _counts(db) == before
    assert apply_action(db, regulator, flag.id, action="acknowledge", note=None, due_on=None,
                        today=AS_OF.date()).status == "acknowledged"
