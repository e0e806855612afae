"""The production profile end to end: scripts/serve-prod (gunicorn, 2 workers) on a fresh
database, multiprocess metrics, JSON logs, a clean shutdown."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from supervision import create_app
from supervision.config import PROJECT_DIR

from ..support.databases import fresh_database
from ..support.servers import prod_server

pytest.importorskip("gunicorn")
pytestmark = [pytest.mark.slow, pytest.mark.other_processes]


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """scripts/serve-prod with two workers on a database of its own (the server commits for
    real), with multiprocess metrics."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with fresh_database(database_url, tmp_path, schema=True) as url, \
            prod_server(url, tmp_path, SUPERVISION_WEB_CONCURRENCY="2",
                        SUPERVISION_WEB_THREADS="2",
                        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as served:
        yield {"base": served.base, "proc": served.proc, "log": served.log,
               "metrics_dir": metrics_dir}


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def serving_pids(path: Path) -> set[int]:
    """Workers that logged an API request so far (a line being written is skipped)."""
    pids = set()
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "supervision.request" and record.get("path") == "/api/v1/me":
            pids.add(record["pid"])
    return pids


def healthz_count(base: str) -> float:
    text_ = requests.get(f"{base}/metrics", timeout=5).text
    for line in text_.splitlines():
        if line.startswith("flask_http_request_duration_seconds_count") \
                and 'url_rule="/healthz"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_serve_prod_runs_two_workers_that_share_metrics_and_log_json(
        server: dict[str, Any]) -> None:
    base, log_path = server["base"], server["log"]
    # Fresh connections until both workers have served (the kernel picks the worker).
    sent = 0
    for _ in range(30):
        for _ in range(10):
            assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
            assert requests.get(f"{base}/api/v1/me", timeout=5).status_code == 401
            sent += 1
        serving = serving_pids(log_path)
        if len(serving) == 2:
            break
    assert len(serving) == 2, "both workers answered requests"
    # Whichever worker answers the scrape reports what both served.
    for _ in range(6):
        assert healthz_count(base) == sent
    pids = {path.stem.rsplit("_", 1)[1] for path in server["metrics_dir"].glob("*.db")}
    assert len(pids) == 2

    refused = requests.post(f"{base}/api/v1/me", data=b"x" * (10 * 1024 * 1024),
                            headers={"Content-Type": "application/json"}, timeout=30)
    assert refused.status_code == 413
    assert refused.json()["code"] == 413

    proc = server["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    lines = log_lines(log_path)  # every line the server wrote is one JSON object
    assert any(line["message"].startswith("Booting worker") for line in lines)
    assert any(line["message"] == "Shutting down: Master" for line in lines)


def load_gunicorn_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                       **env: str) -> dict[str, Any]:
    # A directory of our own, so loading the file does not leave a temporary one behind.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(PROJECT_DIR / "gunicorn.conf.py"))


def test_gunicorn_conf_takes_its_settings_from_supervision_variables(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = load_gunicorn_conf(monkeypatch, tmp_path, SUPERVISION_WEB_CONCURRENCY="3",
                              SUPERVISION_WEB_THREADS="6", SUPERVISION_BIND="0.0.0.0:9000")
    assert (conf["workers"], conf["threads"], conf["bind"]) == (3, 6, ["0.0.0.0:9000"])
    assert conf["worker_class"] == "gthread"
    assert conf["preload_app"] is False
    assert conf["control_socket_disable"] is True


def test_post_fork_drops_an_inherited_pool_without_closing_the_parents_connections(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    conf = load_gunicorn_conf(monkeypatch, tmp_path)
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    engine = app.extensions["supervision.engine"]
    inherited = engine.pool
    with engine.connect() as conn:
        parents = conn.connection.dbapi_connection  # back in the pool when the block ends
    assert parents is not None
    conf["post_fork"](SimpleNamespace(app=SimpleNamespace(callable=app)), None)
    assert engine.pool is not inherited  # the child will open connections of its own
    cursor = parents.cursor()  # and the parent's pooled connection was not closed by the child
    cursor.execute("select 1")
    assert cursor.fetchone()[0] == 1
    parents.close()
    engine.dispose()
    conf["post_fork"](SimpleNamespace(app=SimpleNamespace(callable=None)), None)  # no app: no-op


def test_serve_prod_refuses_to_start_without_a_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISION_DATABASE_URL"}
    done = subprocess.run(["bash", str(PROJECT_DIR / "scripts" / "serve-prod")], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "SUPERVISION_DATABASE_URL" in done.stderr
