"""The regulator's console: signing in, the session cookie, CSRF on every form, scoping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import clock, create_app
from supervision.models import CalendarOverride, Flag, FlagEvent

from ..support.console import LIANGXI, WUXI, Browser, flag_in_district, institution_named, load_demo
from ..support.factories import Factory


@pytest.fixture
def browser(client: FlaskClient, db: Session) -> Browser:
    load_demo(db)
    return Browser(client)


# --- signing in and out ----------------------------------------------------------------------

def test_an_anonymous_visitor_is_sent_to_the_sign_in_page(browser: Browser) -> None:
    resp = browser.get("/console/flags?severity=high")
    assert resp.status_code == 302
    assert resp.location.startswith("/console/signin?next=")
    page = browser.get(resp.location)
    assert page.status_code == 200
    assert "监管人员登录" in page.get_data(as_text=True)


def test_a_regulator_signs_in_with_its_token_and_lands_on_the_queue(browser: Browser) -> None:
    resp = browser.sign_in(WUXI)
    assert resp.status_code == 302
    assert resp.location == "/console/flags"
    page = browser.get("/console/flags").get_data(as_text=True)
    assert "今日待办" in page
    assert "无锡市教育局（演示）" in page


def test_sign_in_returns_to_the_page_first_asked_for_but_never_to_another_site(
        browser: Browser) -> None:
    assert browser.sign_in(WUXI, next_url="/console/dashboard").location == "/console/dashboard"
    for target in ("https://evil.example/console/", "//evil.example/x", "/api/v1/me"):
        assert browser.sign_in(WUXI, next_url=target).location == "/console/flags"


def test_the_session_cookie_is_httponly_and_samesite_lax(browser: Browser) -> None:
    resp = browser.sign_in(WUXI)
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert WUXI not in cookie  # the token itself never travels in the cookie


@pytest.mark.parametrize("role", ["institution", "parent"])
def test_an_institution_or_parent_token_cannot_sign_in(browser: Browser, make: Factory,
                                                       role: str) -> None:
    inst = make.institution() if role == "institution" else None
    resp = browser.sign_in(make.token(role, institution=inst))
    assert resp.status_code == 403
    assert "仅限教育局监管人员登录" in resp.get_data(as_text=True)
    assert browser.get("/console/flags").status_code == 302  # still not signed in


def test_an_unknown_token_is_refused_with_401(browser: Browser) -> None:
    resp = browser.sign_in("not-a-token")
    assert resp.status_code == 401
    assert "令牌无效" in resp.get_data(as_text=True)
    assert browser.get("/console/flags").status_code == 302


def test_signing_out_ends_the_session(browser: Browser) -> None:
    browser.sign_in(WUXI)
    resp = browser.post("/console/signout", {})
    assert resp.status_code == 302
    assert resp.location == "/console/signin"
    assert browser.get("/console/flags").status_code == 302


def test_a_principal_whose_token_was_replaced_is_signed_out(browser: Browser,
                                                            db: Session) -> None:
    from supervision.access.principals import hash_token
    from supervision.models import Principal

    browser.sign_in(WUXI)
    principal = db.scalars(select(Principal).where(
        Principal.token_hash == hash_token(WUXI))).one()
    principal.token_hash = hash_token("a-new-token-issued-later")
    db.flush()
    assert browser.get("/console/flags").status_code == 302


# --- CSRF ------------------------------------------------------------------------------------

def _forms(db: Session) -> list[tuple[str, dict[str, str]]]:
    flag = flag_in_district(db, "320213")
    return [
        ("/console/signout", {}),
        (f"/console/flags/{flag.id}/actions", {"action": "acknowledge"}),
        ("/console/calendar/days", {"date": "2027-01-01", "kind": "holiday", "name": "元旦"}),
        ("/console/calendar/days/delete", {"date": "2027-01-01"}),
        ("/console/calendar/school-years", {
            "name": "2027-2028", "winter_start": "2028-01-22", "winter_end": "2028-02-20",
            "summer_start": "2028-07-01", "summer_end": "2028-08-31"}),
    ]


def test_every_console_form_rejects_a_post_without_its_csrf_token(browser: Browser,
                                                                   db: Session) -> None:
    csrf = browser.token("/console/signin")
    resp = browser.client.post("/console/signin", data={"token": WUXI})
    assert resp.status_code == 400
    resp = browser.client.post("/console/signin", data={"token": WUXI, "csrf_token": "forged"})
    assert resp.status_code == 400
    assert browser.client.post("/console/signin",
                               data={"token": WUXI, "csrf_token": csrf}).status_code == 302
    flag = flag_in_district(db, "320213")
    for url, data in _forms(db):
        resp = browser.post(url, data, with_csrf=False)
        assert resp.status_code == 400, url
        assert "安全令牌" in resp.get_data(as_text=True)
    db.expire_all()
    assert db.get(Flag, flag.id).status == "open"  # type: ignore[union-attr]
    assert db.scalars(select(CalendarOverride)).first() is None
    assert browser.get("/console/flags").status_code == 200  # and still signed in


def test_the_json_api_needs_no_csrf_token_for_the_same_action(browser: Browser, db: Session,
                                                              make: Factory) -> None:
    flag = flag_in_district(db, "320213")
    resp = browser.client.post(f"/api/v1/flags/{flag.id}/actions",
                               json={"action": "acknowledge"},
                               headers=make.headers("regulator"))
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "acknowledged"


def test_a_console_cookie_does_not_authenticate_the_json_api(browser: Browser,
                                                             db: Session) -> None:
    browser.sign_in(WUXI)
    flag = flag_in_district(db, "320213")
    resp = browser.client.post(f"/api/v1/flags/{flag.id}/actions", json={"action": "acknowledge"})
    assert resp.status_code == 401


# --- scoping ---------------------------------------------------------------------------------

def test_a_district_regulator_sees_only_its_district_in_the_queue(browser: Browser,
                                                                  db: Session) -> None:
    browser.sign_in(LIANGXI)
    own = flag_in_district(db, "320213")
    other = flag_in_district(db, "320214")
    page = browser.get("/console/flags?status=all").get_data(as_text=True)
    assert f'href="/console/flags/{own.id}"' in page
    assert f'href="/console/flags/{other.id}"' not in page
    assert "新吴区" not in page.split('id="flag-table"')[1]


def test_a_district_regulator_gets_404_for_another_districts_flag(browser: Browser,
                                                                  db: Session) -> None:
    browser.sign_in(LIANGXI)
    other = flag_in_district(db, "320214")
    resp = browser.get(f"/console/flags/{other.id}")
    assert resp.status_code == 404
    assert "不在您的辖区范围内" in resp.get_data(as_text=True)
    assert other.summary not in resp.get_data(as_text=True)
    assert browser.get(f"/console/flags/{flag_in_district(db, '320213').id}").status_code == 200


def test_a_district_regulator_cannot_act_on_another_districts_flag(browser: Browser,
                                                                   db: Session) -> None:
    browser.sign_in(LIANGXI)
    other = flag_in_district(db, "320214")
    resp = browser.act(other.id, "acknowledge")
    assert resp.status_code == 404
    db.expire_all()
    assert db.get(Flag, other.id).status == "open"  # type: ignore[union-attr]
    assert db.scalars(select(FlagEvent).where(FlagEvent.flag_id == other.id,
                                              FlagEvent.action == "acknowledge")).first() is None


def test_a_district_regulator_gets_404_for_another_districts_institution(
        browser: Browser, db: Session) -> None:
    browser.sign_in(LIANGXI)
    other = institution_named(db, "新吴英才培训学校")
    own = institution_named(db, "锡心学堂培训中心")
    assert browser.get(f"/console/institutions/{other.id}").status_code == 404
    assert browser.get(f"/console/institutions/{own.id}").status_code == 200
    listing = browser.get("/console/institutions").get_data(as_text=True)
    assert own.name in listing
    assert other.name not in listing


def test_a_district_regulators_dashboard_counts_its_district_only(browser: Browser,
                                                                  db: Session) -> None:
    browser.sign_in(LIANGXI)
    page = browser.get("/console/dashboard").get_data(as_text=True)
    assert "梁溪区" in page
    assert "新吴区" not in page
    outstanding = ("open", "acknowledged", "rectification_ordered", "rectification_submitted")
    own = [f for f in db.scalars(select(Flag)) if f.status in outstanding
           and f.institution_id == institution_named(db, "锡心学堂培训中心").id]
    critical = sum(1 for f in own if f.severity == "critical")
    assert f'<span class="count-n">{critical}</span><span class="count-label">严重</span>' \
        in page


def test_an_unknown_console_address_is_a_404_page_in_chinese(browser: Browser) -> None:
    browser.sign_in(WUXI)
    for url in ("/console/nothing-here", "/console/flags/999999999",
                "/console/institutions/999999999"):
        resp = browser.get(url)
        assert resp.status_code == 404, url
        assert "未找到" in resp.get_data(as_text=True)


def test_today_is_what_the_overdue_badge_compares_with(browser: Browser, db: Session) -> None:
    browser.sign_in(WUXI)
    flag = flag_in_district(db, "320213")
    flag.status = "rectification_ordered"
    flag.due_on = clock.today() - dt.timedelta(days=3)
    db.flush()
    page = browser.get("/console/flags?overdue=y").get_data(as_text=True)
    assert f'href="/console/flags/{flag.id}"' in page
    assert "逾期" in page
    rows = page.split('id="flag-table"')[1].count('class="flag-link"')
    assert rows == 1


# --- configuration ---------------------------------------------------------------------------

STRONG = {"ID_HASH_KEY": "k1-not-a-demo", "TRUSTEE_SECRET": "k2-not-a-demo",
          "NOTIFY_SECRET": "k3-not-a-demo", "ENV": "production", "TESTING": False}


def test_production_refuses_to_start_without_a_console_secret_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    with pytest.raises(RuntimeError, match="SUPERVISION_SECRET_KEY"):
        create_app({**STRONG, "DATABASE_URL": url})


def test_production_cookies_are_secure_unless_configured_otherwise(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    app = create_app({**STRONG, "DATABASE_URL": url, "SECRET_KEY": "s" * 40})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SECRET_KEY"] == "s" * 40
    app = create_app({**STRONG, "DATABASE_URL": url, "SECRET_KEY": "s" * 40,
                      "SESSION_COOKIE_SECURE": "false"})
    assert app.config["SESSION_COOKIE_SECURE"] is False
