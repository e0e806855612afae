"""Servers for tests that talk HTTP for real: a free port, the app in a thread, the production
profile (scripts/serve-prod) in a process of its own, and waiting for something to happen."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from supervision.config import PROJECT_DIR


def free_port() -> int:
    """A port nobody listens on (closed again at once: a server may take it, or a test may
    count on the connection being refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` (any WSGI app) on a free local port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    """Whether `predicate()` came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@dataclass
class ProdServer:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextmanager
def prod_server(database_url: str, tmp_path: Path, **env: str) -> Iterator[ProdServer]:
    """scripts/serve-prod (gunicorn) on `database_url` and a free port, its output in
    tmp_path/server.log; yields once /readyz answers, stops the whole process group after.
    `env` adds to the environment (SUPERVISION_WEB_CONCURRENCY="2", ...); the test run's own
    SUPERVISION_* variables are not passed on."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("SUPERVISION_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    environ.update(SUPERVISION_DATABASE_URL=database_url, SUPERVISION_BIND=f"127.0.0.1:{port}",
                   **env)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(PROJECT_DIR / "scripts" / "serve-prod")],
                                cwd=PROJECT_DIR, env=environ, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = ProdServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _wait_ready(server: ProdServer) -> None:
    deadline = time.monotonic() + 30  # a loaded CI machine boots workers slowly
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"gunicorn exited early:\n{server.log.read_text()[-3000:]}")
        try:
            if requests.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # refused, or queued until a worker has booted
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn not ready in 30 s:\n{server.log.read_text()[-3000:]}")


# A scheduler process for the racing tests: `python -c SCHEDULER_WORKER start now job...`
# connects, waits for the common start line, runs each job twice and prints what ran.
SCHEDULER_WORKER = textwrap.dedent("""
    import datetime as dt, json, sys, time
    from supervision import create_app
    from supervision.scheduler import run_job
    start, now, jobs = float(sys.argv[1]), dt.datetime.fromisoformat(sys.argv[2]), sys.argv[3:]
    app = create_app()
    app.extensions["supervision.engine"].connect().close()  # connect before the start line
    time.sleep(max(0.0, start - time.time()))
    ran = []
    for _ in range(2):
        for job in jobs:
            ran.append([job, run_job(app, job, now).ran])
    print(json.dumps(ran))
""")
