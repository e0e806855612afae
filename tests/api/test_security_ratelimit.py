"""Rate limits per principal (SUPERVISION_RATELIMIT), never on the trustee or the probes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision import create_app
from supervision.access.principals import create_principal
from supervision.db import transaction
from supervision.models import Base
from supervision.web.security import TRUSTEE_EVENTS_PATH

from ..support.console import csrf_of
from ..support.factories import Factory
from ..support.money_checks import row_counts

REDIS_URL = "redis://127.0.0.1:6379/0"
# Keys are principal ids, which a test database reuses from run to run (and SQLite after each
# rolled-back test): each run and test counts in Redis under keys of its own.
RUN_PREFIX = f"supervision-test-{uuid.uuid4().hex}"
per_minute = pytest.mark.parametrize("settings_overrides", [{"RATELIMIT": "5 per minute"}])


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")


def statuses(client: FlaskClient, n: int, path: str = "/api/v1/me",
             method: str = "GET", **kw: Any) -> list[int]:
    return [client.open(path, method=method, **kw).status_code for _ in range(n)]


@per_minute
def test_past_the_limit_one_principal_gets_429_while_another_is_unaffected(
        client: FlaskClient, make: Factory) -> None:
    greedy, other = make.headers("institution", institution=make.institution()), \
        make.headers("parent")
    assert statuses(client, 4, headers=greedy) == [200] * 4
    last = client.get("/api/v1/me", headers=greedy)
    assert last.status_code == 200
    assert last.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in last.headers  # only a refusal says when to come back
    refused = client.get("/api/v1/me", headers=greedy)
    assert refused.status_code == 429
    assert set(refused.json) >= {"code", "status", "message", "errors"}
    assert refused.json["code"] == 429
    assert refused.json["status"] == "Too Many Requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Request-Id"]
    assert statuses(client, 5, headers=other) == [200] * 5


@per_minute
def test_the_limit_is_shared_by_all_endpoints_of_a_principal(
        client: FlaskClient, make: Factory) -> None:
    headers = make.headers("regulator")
    assert statuses(client, 3, headers=headers) == [200] * 3
    assert statuses(client, 2, "/api/v1/audit", headers=headers) == [200] * 2
    assert client.get("/api/v1/audit", headers=headers).status_code == 429


@per_minute
def test_a_new_garbage_token_per_request_is_still_limited_by_the_client_address(
        client: FlaskClient, make: Factory) -> None:
    garbage = [{"Authorization": f"Bearer garbage-{uuid.uuid4().hex}"} for _ in range(6)]
    assert [client.get("/api/v1/me", headers=h).status_code for h in garbage] == \
        [401] * 5 + [429]
    # The same address without a token is the same allowance: spent.
    refused = client.get("/api/v1/me")
    assert refused.status_code == 429
    assert set(refused.json) >= {"code", "status", "message", "errors"}
    # A verified principal counts on its own, wherever it calls from.
    assert statuses(client, 5, headers=make.headers("parent")) == [200] * 5


@per_minute
def test_a_valid_token_from_many_addresses_is_one_principal(
        client: FlaskClient, make: Factory) -> None:
    headers = make.headers("parent")
    codes = [client.get("/api/v1/me", headers=headers,
                        environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code
             for i in range(6)]
    assert codes == [200] * 5 + [429]


@pytest.mark.fresh_app
@pytest.mark.parametrize("settings_overrides", [{"RATELIMIT": "2 per minute"}])
def test_trustee_events_probes_and_metrics_are_never_limited(
        app: Flask, client: FlaskClient) -> None:
    if not any(rule.rule == TRUSTEE_EVENTS_PATH for rule in app.url_map.iter_rules()):
        # The trustee blueprint may not be registered in this tree yet: stand in for it, so
        # that the limiter has a real endpoint to (not) limit.
        app.add_url_rule(TRUSTEE_EVENTS_PATH, "stand_in", lambda: ({}, 401), methods=["POST"])
    signed = {"X-Supervision-Timestamp": "1", "X-Supervision-Signature": "sha256=00"}
    events = statuses(client, 10, TRUSTEE_EVENTS_PATH, "POST", headers=signed, json={})
    assert 429 not in events and len(set(events)) == 1
    for path in ("/healthz", "/readyz", "/metrics"):
        assert statuses(client, 10, path) == [200] * 10
    # ...while the same anonymous client is limited elsewhere.
    assert statuses(client, 3, "/api/v1/me") == [401, 401, 429]


@pytest.mark.parametrize("settings_overrides", [{"RATELIMIT": ""}])
def test_without_a_limit_setting_nothing_is_limited(client: FlaskClient, make: Factory) -> None:
    headers = make.headers("parent")
    assert set(statuses(client, 120, headers=headers)) == {200}
    assert "X-RateLimit-Limit" not in client.get("/api/v1/me", headers=headers).headers


@pytest.mark.parametrize("settings_overrides", [{"RATELIMIT": "every so often"}])
def test_a_malformed_limit_fails_at_start_not_on_a_request(
        database_url: str, settings_overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        create_app({"DATABASE_URL": database_url, "TESTING": True, **settings_overrides})


# --- bursts: real threads against an app of its own ---------------------------------------


@pytest.fixture
def burst_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Flask, str]]:
    """An app on its own SQLite file, so that concurrent requests really run concurrently."""
    settings: dict[str, Any] = {"DATABASE_URL": f"sqlite:///{tmp_path / 'burst.sqlite3'}",
                                "TESTING": True, **request.param}
    app = create_app(settings)
    engine = app.extensions["supervision.engine"]
    Base.metadata.create_all(engine)
    with transaction(app.extensions["supervision.sessionmaker"],
                     settings=app.config["SUPERVISION"]) as session:
        _, token = create_principal(session, role="parent", name="burst")
    yield app, token
    engine.dispose()


def concurrent_statuses(app: Flask, token: str, n: int) -> list[int]:
    start = threading.Barrier(n)
    results: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        client = app.test_client()
        start.wait()
        status = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        with lock:
            results.append(status.status_code)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("burst_app", [{"RATELIMIT": "50 per second"}], indirect=True)
def test_a_burst_of_40_concurrent_requests_passes_under_50_per_second(
        burst_app: tuple[Flask, str]) -> None:
    app, token = burst_app
    assert concurrent_statuses(app, token, 40) == [200] * 40


@pytest.mark.parametrize("burst_app", [{"RATELIMIT": "20 per minute"}], indirect=True)
def test_a_concurrent_burst_over_the_limit_never_gets_more_than_the_limit_through(
        burst_app: tuple[Flask, str]) -> None:
    app, token = burst_app
    results = concurrent_statuses(app, token, 40)
    assert set(results) <= {200, 429}
    # The in-memory counter reads its value back outside its lock, so under contention a
    # request may see a later increment and be refused a little early; never late.
    assert 10 <= results.count(200) <= 20


# --- shared storage -------------------------------------------------------------------------


@needs_redis
@pytest.mark.parametrize("burst_app", [{"RATELIMIT": "20 per minute",
                                        "RATELIMIT_STORAGE_URL": REDIS_URL,
                                        "RATELIMIT_KEY_PREFIX": f"{RUN_PREFIX}-burst"}],
                         indirect=True)
def test_with_redis_a_concurrent_burst_is_cut_at_exactly_the_limit(
        burst_app: tuple[Flask, str]) -> None:
    app, token = burst_app
    results = concurrent_statuses(app, token, 40)
    assert results.count(200) == 20  # Redis INCR returns the value it set: no early refusals
    assert results.count(429) == 20


@needs_redis
@pytest.mark.parametrize("settings_overrides",
                         [{"RATELIMIT": "5 per minute", "RATELIMIT_STORAGE_URL": REDIS_URL,
                           "RATELIMIT_KEY_PREFIX": f"{RUN_PREFIX}-workers"}])
def test_with_redis_two_workers_count_against_one_limit(
        app: Flask, client: FlaskClient, make: Factory,
        settings_overrides: dict[str, Any], database_url: str) -> None:
    # A second app stands for a second gunicorn worker: its own limiter, the same Redis.
    other_worker = create_app({"DATABASE_URL": database_url, "TESTING": True,
                               **settings_overrides})
    other_worker.extensions["supervision.sessionmaker"] = app.extensions[
        "supervision.sessionmaker"]
    headers = make.headers("parent", name=f"redis-{uuid.uuid4().hex}")
    assert statuses(client, 3, headers=headers) == [200] * 3
    assert statuses(other_worker.test_client(), 3, headers=headers) == [200, 200, 429]
    other_worker.extensions["supervision.engine"].dispose()


@pytest.mark.parametrize("settings_overrides", [{
    "RATELIMIT": "5 per minute", "RATELIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"}])
def test_an_unreachable_redis_falls_back_to_memory_instead_of_failing_requests(
        client: FlaskClient, make: Factory) -> None:
    headers = make.headers("parent")
    assert statuses(client, 6, headers=headers) == [200] * 5 + [429]


# --- console sign-in guesses -------------------------------------------------------------------


def signin_attempt(client: FlaskClient, token: str, addr: str = "127.0.0.1") -> Any:
    env = {"REMOTE_ADDR": addr}
    page = client.get("/console/signin", environ_base=env).get_data(as_text=True)
    return client.post("/console/signin", environ_base=env,
                       data={"csrf_token": csrf_of(page), "token": token})


@pytest.mark.fresh_app
@pytest.mark.parametrize("settings_overrides", [{"RATELIMIT": ""}])
def test_sign_in_guesses_are_throttled_by_default_per_address(
        client: FlaskClient, db: Session, make: Factory) -> None:
    right = make.token("regulator")
    assert statuses_of_guesses(client, 10, "10.1.1.1") == [401] * 10
    before = row_counts(db)
    refused = signin_attempt(client, f"guess-{uuid.uuid4().hex}", "10.1.1.1")
    assert refused.status_code == 429
    assert "登录尝试过于频繁" in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Refused before the token is looked at: even the right token waits, and nothing is
    # written (no console session).
    refused = signin_attempt(client, right, "10.1.1.1")
    assert refused.status_code == 429
    assert row_counts(db) == before
    # Another address is not affected, and signs in.
    assert signin_attempt(client, make.token("regulator"), "10.2.2.2").status_code == 302


def statuses_of_guesses(client: FlaskClient, n: int, addr: str) -> list[int]:
    return [signin_attempt(client, f"guess-{uuid.uuid4().hex}", addr).status_code
            for _ in range(n)]


@pytest.mark.fresh_app
def test_guesses_sharing_a_token_prefix_are_throttled_across_addresses(
        client: FlaskClient, make: Factory) -> None:
    codes = [signin_attempt(client, f"abcdefgh{i}", f"10.3.0.{i}").status_code
             for i in range(11)]
    assert codes == [401] * 10 + [429]
    assert signin_attempt(client, "zyxwvuts0", "10.3.1.1").status_code == 401


@pytest.mark.fresh_app
def test_an_officer_signing_in_often_is_never_throttled(
        client: FlaskClient, make: Factory) -> None:
    token = make.token("regulator")
    assert [signin_attempt(client, token).status_code for _ in range(15)] == [302] * 15


@pytest.mark.parametrize("settings_overrides", [{"CONSOLE_SIGNIN_RATELIMIT": "3 per minute"}])
def test_the_sign_in_throttle_is_configurable(client: FlaskClient) -> None:
    assert statuses_of_guesses(client, 4, "10.4.4.4") == [401] * 3 + [429]


@pytest.mark.parametrize("settings_overrides", [{"CONSOLE_SIGNIN_RATELIMIT": ""}])
def test_an_empty_sign_in_throttle_setting_turns_it_off(client: FlaskClient) -> None:
    assert set(statuses_of_guesses(client, 15, "10.5.5.5")) == {401}
