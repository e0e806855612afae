"""Credentials that can be listed, revoked and ended: the principals commands, revoked and
expired tokens, server-side console sessions, and demo tokens in production (API.md §9)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access import principals
from supervision.access.principals import create_principal, hash_token
from supervision.devtools.demo import DEMO_PRINCIPALS, seed_demo
from supervision.models import AuditLog, ConsoleSession, Principal

from ..support.console import Browser
from ..support.factories import Factory
from ..support.parties import bearer

PRODUCTION = {"ENV": "production", "SECRET_KEY": "k" * 32, "ID_HASH_KEY": "i" * 32,
              "TRUSTEE_SECRET": "t" * 32, "NOTIFY_SECRET": "n" * 32,
              # The test client speaks plain http; a Secure cookie would never come back.
              "SESSION_COOKIE_SECURE": "0"}


def principal_of(db: Session, token: str) -> Principal:
    return db.scalars(select(Principal).where(Principal.token_hash == hash_token(token))).one()


def audit_rows(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(AuditLog)) or 0


def console_rows(db: Session, principal: Principal) -> list[ConsoleSession]:
    db.expire_all()
    return list(db.scalars(select(ConsoleSession)
                           .where(ConsoleSession.principal_id == principal.id)
                           .order_by(ConsoleSession.id)))


# --- principals list ---------------------------------------------------------------------------

def test_principals_list_shows_every_principal_and_never_a_token_or_its_hash(
        runner: FlaskCliRunner, db: Session, make: Factory) -> None:
    inst = make.institution()
    school_token = make.token("institution", institution=inst, name="锡心学堂账号")
    city_token = make.token("regulator", name="无锡市教育局")
    district = make.districts()[0]
    make.token("regulator", name="区教育局", district_code=district)
    db.flush()

    result = runner.invoke(args=["principals", "list"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split("\t") == ["id", "role", "name", "institution", "district", "created",
                                    "expires", "revoked"]
    by_name = {cols[2]: cols for cols in (line.split("\t") for line in lines[1:])}
    school = principal_of(db, school_token)
    assert by_name["锡心学堂账号"][:5] == [str(school.id), "institution", "锡心学堂账号",
                                           str(inst.id), "-"]
    assert by_name["区教育局"][4] == district
    assert by_name["无锡市教育局"][7] == "-"  # not revoked
    for token in (school_token, city_token):
        assert token not in result.output
        assert hash_token(token) not in result.output
        assert hash_token(token)[:16] not in result.output


def test_principals_list_shows_when_a_principal_was_revoked(
        runner: FlaskCliRunner, db: Session, make: Factory) -> None:
    token = make.token("parent", name="张女士")
    principal = principal_of(db, token)
    assert runner.invoke(args=["principals", "revoke", "--id", str(principal.id)]).exit_code == 0

    result = runner.invoke(args=["principals", "list"])

    row = next(line.split("\t") for line in result.output.splitlines() if "\t张女士\t" in line)
    db.refresh(principal)
    assert principal.revoked_at is not None
    assert row[7] == principal.revoked_at.astimezone(clock.SHANGHAI).isoformat(
        timespec="minutes")


# --- principals revoke -------------------------------------------------------------------------

def test_a_revoked_token_gets_401_on_its_very_next_call(
        client: FlaskClient, runner: FlaskCliRunner, db: Session, make: Factory) -> None:
    token = make.token("regulator")
    other = make.token("regulator")
    principal = principal_of(db, token)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200

    result = runner.invoke(args=["principals", "revoke", "--id", str(principal.id)])

    assert result.exit_code == 0, result.output
    assert f"principal {principal.id}" in result.output and "revoked" in result.output
    resp = client.get("/api/v1/me", headers=bearer(token))
    assert resp.status_code == 401
    assert resp.get_json()["message"] == "invalid token"  # says nothing about why
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200
    # The revocation itself is in the audit trail.
    db.expire_all()
    entry = db.scalars(select(AuditLog).where(AuditLog.entity == "principals",
                                              AuditLog.entity_id == str(principal.id),
                                              AuditLog.action == "update")).one()
    assert "revoked_at" in entry.changes


def test_revoking_twice_says_so_and_changes_nothing(
        runner: FlaskCliRunner, db: Session, make: Factory) -> None:
    principal = principal_of(db, make.token("parent"))
    runner.invoke(args=["principals", "revoke", "--id", str(principal.id)])
    db.refresh(principal)
    first = principal.revoked_at
    before = audit_rows(db)

    result = runner.invoke(args=["principals", "revoke", "--id", str(principal.id)])

    assert result.exit_code == 0, result.output
    assert "already revoked" in result.output
    db.refresh(principal)
    assert principal.revoked_at == first
    assert audit_rows(db) == before


def test_revoking_an_unknown_id_fails_clearly_and_writes_nothing(
        runner: FlaskCliRunner, db: Session, make: Factory) -> None:
    make.token("regulator")
    db.flush()
    before = audit_rows(db)
    unknown = (db.scalar(select(func.max(Principal.id))) or 0) + 1000

    result = runner.invoke(args=["principals", "revoke", "--id", str(unknown)])

    assert result.exit_code != 0
    assert f"principal {unknown} not found" in result.output
    assert audit_rows(db) == before
    assert db.scalar(select(func.count()).select_from(Principal)
                     .where(Principal.revoked_at.is_not(None))) == 0


# --- expiry ------------------------------------------------------------------------------------

def test_an_expired_token_gets_401_and_one_not_yet_expired_still_works(
        client: FlaskClient, db: Session, make: Factory) -> None:
    expired, token_expired = create_principal(db, role="parent", name="过期", expires_in_days=1)
    _, token_valid = create_principal(db, role="parent", name="有效", expires_in_days=1)
    expired.expires_at = clock.now() - dt.timedelta(minutes=1)
    db.flush()

    assert client.get("/api/v1/me", headers=bearer(token_expired)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(token_valid)).status_code == 200


def test_principals_create_can_issue_a_token_that_expires(
        runner: FlaskCliRunner, db: Session) -> None:
    result = runner.invoke(args=["principals", "create", "--role", "parent", "--name", "限期家长",
                                 "--expires-days", "30"])

    assert result.exit_code == 0, result.output
    principal = principal_of(db, result.output.splitlines()[-1])
    assert principal.expires_at is not None
    assert abs(principal.expires_at - (clock.now() + dt.timedelta(days=30))) < dt.timedelta(
        minutes=5)


@pytest.mark.parametrize("days", ["0", "-3", "100000"])
def test_principals_create_refuses_an_expiry_out_of_range_and_writes_nothing(
        runner: FlaskCliRunner, db: Session, days: str) -> None:
    before = db.scalar(select(func.count()).select_from(Principal))

    result = runner.invoke(args=["principals", "create", "--role", "parent", "--name", "某家长",
                                 "--expires-days", days])

    assert result.exit_code != 0
    assert "expires_days" in result.output
    assert db.scalar(select(func.count()).select_from(Principal)) == before


# --- console sessions --------------------------------------------------------------------------

def test_a_revoked_regulators_console_session_ends_at_once(
        client: FlaskClient, runner: FlaskCliRunner, db: Session, make: Factory) -> None:
    token = make.token("regulator", name="将被吊销的监管员")
    principal = principal_of(db, token)
    browser = Browser(client)
    assert browser.sign_in(token).status_code == 302
    assert browser.get("/console/flags").status_code == 200

    assert runner.invoke(args=["principals", "revoke", "--id", str(principal.id)]).exit_code == 0

    resp = browser.get("/console/flags")
    assert resp.status_code == 302
    assert resp.location.startswith("/console/signin")
    [row] = console_rows(db, principal)
    assert row.ended_at is not None
    # Nor can it sign in again.
    assert browser.sign_in(token).status_code == 401


def test_after_signing_out_a_replayed_copy_of_the_old_cookie_is_refused(
        client: FlaskClient, db: Session, make: Factory) -> None:
    token = make.token("regulator")
    browser = Browser(client)
    browser.sign_in(token)
    assert browser.get("/console/flags").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    stolen = cookie.value

    assert browser.post("/console/signout", {}).status_code == 302
    client.set_cookie("session", stolen)

    resp = browser.get("/console/flags")
    assert resp.status_code == 302
    assert resp.location.startswith("/console/signin")
    [row] = console_rows(db, principal_of(db, token))
    assert row.ended_at is not None


def test_signing_out_in_one_browser_leaves_the_other_signed_in(
        app: Flask, db: Session, make: Factory) -> None:
    token = make.token("regulator")
    office, home = Browser(app.test_client()), Browser(app.test_client())
    office.sign_in(token)
    home.sign_in(token)

    office.post("/console/signout", {})

    assert office.get("/console/flags").status_code == 302
    assert home.get("/console/flags").status_code == 200
    ended = [row.ended_at is not None for row in console_rows(db, principal_of(db, token))]
    assert ended == [True, False]


def test_a_console_session_past_its_lifetime_is_refused_even_with_a_fresh_cookie(
        client: FlaskClient, db: Session, make: Factory) -> None:
    token = make.token("regulator")
    browser = Browser(client)
    browser.sign_in(token)
    [row] = console_rows(db, principal_of(db, token))
    row.expires_at = clock.now() - dt.timedelta(seconds=1)
    db.flush()

    assert browser.get("/console/flags").status_code == 302


# --- demo tokens in production -----------------------------------------------------------------

def seed_as_a_demo_once_was(app: Flask, db: Session) -> None:
    """The demo seed refuses production; this database was seeded before the switch."""
    db.info["settings"] = dataclasses.replace(app.config["SUPERVISION"], env="development")
    seed_demo(db, with_money=False)
    db.info["settings"] = app.config["SUPERVISION"]
    db.flush()


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
def test_demo_tokens_get_401_in_production_while_real_tokens_work(
        app: Flask, client: FlaskClient, db: Session, make: Factory,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        settings_overrides: dict[str, Any]) -> None:
    assert app.config["SUPERVISION"].env == "production"
    seed_as_a_demo_once_was(app, db)
    real = make.token("regulator")
    monkeypatch.setattr(principals, "_demo_refusal_logged", False)

    with caplog.at_level(logging.WARNING, logger="supervision.access.principals"):
        for token, *_ in DEMO_PRINCIPALS:
            assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401, token
    assert client.get("/api/v1/me", headers=bearer(real)).status_code == 200

    warnings = [r for r in caplog.records if r.name == "supervision.access.principals"]
    assert len(warnings) == 1  # once, not once per request
    assert "demo principals" in warnings[0].getMessage()
    resp = Browser(client).sign_in(DEMO_PRINCIPALS[0][0])
    assert resp.status_code == 401
    assert client.get("/console/flags").status_code == 302


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
def test_a_demo_regulators_console_session_from_before_production_ends(
        app: Flask, client: FlaskClient, db: Session,
        settings_overrides: dict[str, Any]) -> None:
    seed_as_a_demo_once_was(app, db)
    production = app.config["SUPERVISION"]
    app.config["SUPERVISION"] = dataclasses.replace(production, env="development")
    browser = Browser(client)
    browser.sign_in(DEMO_PRINCIPALS[0][0])
    assert browser.get("/console/flags").status_code == 200

    app.config["SUPERVISION"] = production


    assert browser.get("/console/flags").status_code == 302


def test_outside_production_the_demo_tokens_work(client: FlaskClient, db: Session) -> None:
    seed_demo(db, with_money=False)
    db.flush()
    for token, role, *_ in DEMO_PRINCIPALS:
        resp = client.get("/api/v1/me", headers=bearer(token))
        assert resp.status_code == 200, token
        assert resp.get_json()["role"] == role
