"""gunicorn's configuration for production: `scripts/serve-prod` or
`gunicorn -c gunicorn.conf.py wsgi:app`. Configuration comes only from SUPERVISION_* variables
(config/defaults.toml has the defaults), like the app's own.

- Workers: SUPERVISION_WEB_CONCURRENCY processes (default 2, one per core of the reference
  machine), each with SUPERVISION_WEB_THREADS threads (gthread, default 4). Requests spend most
  of their time waiting on PostgreSQL, so a few threads per process keep both cores busy while
  the GIL is released; gthread also keeps connections alive and a slow client ties up one thread,
  not a whole process as with sync workers. Every thread may hold a database connection: keep
  SUPERVISION_DB_POOL_SIZE >= SUPERVISION_WEB_THREADS.
- No preload: each worker builds its app (and its engine and pool) after the fork. post_fork
  still drops an inherited pool, should anyone add --preload.
- Metrics: PROMETHEUS_MULTIPROC_DIR is set here, before anything imports prometheus_client, to
  a fresh directory; the workers write their values there and any worker's /metrics sums them.
- Logs: JSON lines on stderr. The app writes the access line itself (with the request id, the
  principal and the URL rule, which gunicorn cannot know), so gunicorn's access log is off.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from typing import Any

_METRICS_PREFIX = "supervision-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_PREFIX)
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

from gunicorn import glogging  # noqa: E402
from gunicorn import util as gunicorn_util  # noqa: E402

from supervision.config import load_settings  # noqa: E402

_settings = load_settings()
_log_level = _settings.log_level.upper()

wsgi_app = "wsgi:app"
bind = [_settings.bind]
workers = _settings.web_concurrency
worker_class = "gthread"
threads = _settings.web_threads
preload_app = False
timeout = 30
graceful_timeout = 20
keepalive = 5
# The longest request line gunicorn takes (its own maximum; the default is 4094): longer ones are
# refused with 414 before the app sees them, in the API's error body (below).
limit_request_line = 8190
# The heartbeat file in memory: a worker blocked on a slow disk must not look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn >= 25 opens a control socket at one fixed path per user by default: two servers on
# one machine (benchmarks beside tests) would fight over it, and nothing here uses it.
control_socket_disable = True
loglevel = _log_level.lower()
accesslog = None
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "supervision.web.observability.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": _log_level, "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines go through logconfig_dict (JSON); no per-request line from it.

    logconfig_dict alone would switch gunicorn's access log on and build its atoms for every
    request only to drop them: the app's "supervision.request" line is the access log.
    """

    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


logger_class = JsonLogger


def _write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own refusals (414, 400 on a malformed request line, 431...) in the API's
    error body, not an HTML page: API.md §1 says errors always have that body."""
    body = json.dumps({"code": status_int, "status": reason, "message": mesg or reason,
                       "errors": {}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


# The workers are forked from this process, so they inherit the replacement.
gunicorn_util.write_error = _write_json_error


def _owned_metrics_dir() -> bool:
    return os.path.basename(METRICS_DIR.rstrip("/")).startswith(_METRICS_PREFIX)


def on_starting(server: Any) -> None:
    # A directory handed to us may hold the files of a previous run: counters would resume
    # from someone else's values.
    for path in glob.glob(os.path.join(METRICS_DIR, "*.db")):
        os.remove(path)


def post_fork(server: Any, worker: Any) -> None:
    # Without --preload the master never built the app and there is nothing to drop. With it,
    # the child must not share the parent's connections: dispose(close=False) forgets them
    # without closing the parent's sockets (SQLAlchemy's recipe for forked processes).
    app = getattr(server.app, "callable", None)
    engine = getattr(app, "extensions", {}).get("supervision.engine")
    if engine is not None:
        engine.dispose(close=False)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)


def on_exit(server: Any) -> None:
    if _owned_metrics_dir():
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
