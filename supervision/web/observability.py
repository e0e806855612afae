"""Observability: JSON log lines, request ids and Prometheus metrics.

Every log line is one JSON object on stderr. Inside a request it carries the request id, the
principal (once authenticated), the method and the URL rule; the app writes one line per request
(logger "supervision.request") with the status and the duration, which is the access log. It is
the only line per request under gunicorn (its access log is off, gunicorn.conf.py) and under
`flask run` (scripts/run), whose development server's own coloured line is dropped.

Metrics are prometheus-flask-exporter's request histogram grouped by URL rule (so ids in paths
never multiply the series), plus a few domain gauges read from the database at scrape time only.
Under gunicorn (PROMETHEUS_MULTIPROC_DIR set by gunicorn.conf.py) the values live in files shared
by the workers, and whichever worker answers /metrics reports the sum of them all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask, Request, Response, g, has_request_context, request
from flask.logging import default_handler
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from .. import clock
from ..models import Flag, OutboxMessage
from ..vocab import CLOSED_FLAG_STATUSES, SEVERITIES

REQUEST_ID_HEADER = "X-Request-Id"
# What we accept from a client or a load balancer as a request id: short, printable, no spaces or
# quotes, so it can never forge a log field or smuggle a header. Anything else gets a new id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")
# Last line of defence: nothing should log an ID number or a bearer token, but an exception text
# may quote input, so every string of every line is scrubbed before it is written.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
# Terminal colours (werkzeug paints its lines): escape codes have no place in a JSON log.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

access_log = logging.getLogger("supervision.request")


def scrub(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: m.group(0)[:4] + "*" * 10 + m.group(0)[-4:], text)
    return _BEARER.sub(r"\1[redacted]", text)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _ANSI_ESCAPE.sub("", record.getMessage()),
            "pid": record.process,  # which gunicorn worker
        }
        if has_request_context():
            out.update(request_fields())
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_scrubbed(out), ensure_ascii=False)


def request_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {"request_id": g.get("request_id"), "method": request.method,
                              "path": url_rule(request)}
    actor = g.get("actor")
    if actor is not None:
        fields["principal_role"] = actor.role
        fields["principal_id"] = actor.principal_id
    return fields


def url_rule(req: Request) -> str:
    """The matched URL rule ("/api/v1/institutions/<int:id>"), never the raw path.

    Named url_rule because the metrics exporter uses the function's name as the label name.
    """
    return req.url_rule.rule if req.url_rule is not None else "<unmatched>"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test capture swaps it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


# Set by the app's access line, cleared by the development server's line for the same request
# (written next, in the same thread, as the response goes out).
_access_logged = threading.local()


def _is_dev_server_request_line(record: logging.LogRecord) -> bool:
    # werkzeug.serving.WSGIRequestHandler.log_request: '<addr> - - [<date>] "%s" %s %s'.
    return (isinstance(record.msg, str) and record.msg.endswith('"%s" %s %s')
            and isinstance(record.args, tuple) and len(record.args) == 3)


class _DevServerRequestLines(logging.Filter):
    """`flask run` (scripts/run): werkzeug's development server writes a line of its own for
    every request, after ours and in colour. Ours is the access log (request id, principal, URL
    rule, duration), so the server's line for a request the app has logged is dropped; its other
    lines (startup, malformed requests the app never saw) stay, and so do the request lines of
    other applications in the process (the sandbox trustee has no access log of its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_access_logged, "pending", False) and _is_dev_server_request_line(record):
            _access_logged.pending = False
            return False
        return True


def configure_logging(level: str) -> None:
    """JSON lines on stderr, unless the process already logs JSON (gunicorn's logconfig_dict)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    dev_server = logging.getLogger("werkzeug")
    # werkzeug gives its logger a plain-text, coloured handler of its own when it logs before
    # we configured anything: its lines would then be written twice, once not as JSON.
    for own in [h for h in dev_server.handlers if not isinstance(h.formatter, JsonFormatter)]:
        dev_server.removeHandler(own)
    if not any(isinstance(f, _DevServerRequestLines) for f in dev_server.filters):
        dev_server.addFilter(_DevServerRequestLines())
    ours = logging.getLogger("supervision")  # also Flask's app.logger (the app's name)
    ours.removeHandler(default_handler)  # its plain-text lines would double ours
    ours.setLevel(level.upper())


def _request_id_from(header: str | None) -> str:
    if header and _SANE_REQUEST_ID.fullmatch(header) and not _ID_NUMBER.search(header):
        return header
    return uuid.uuid4().hex


def _begin_request() -> None:
    g.request_id = _request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _end_request(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    status = response.status_code
    rule = url_rule(request)
    if status >= 500:
        level = logging.ERROR
    elif rule in PROBE_PATHS:
        level = logging.DEBUG  # probes every few seconds would drown the real traffic
    else:
        level = logging.INFO
    access_log.log(level, "%s %s %s", request.method, rule, status,
                   extra={"status": status, "duration_ms": duration_ms})
    _access_logged.pending = True
    return response


# --- metrics -------------------------------------------------------------------------------


def multiprocess_metrics() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def init_metrics(app: Flask) -> None:
    exporter_class: Any = (GunicornInternalPrometheusMetrics if multiprocess_metrics()
                           else PrometheusMetrics)
    # One registry per app: tests build many apps in one process, and the default global
    # registry refuses a second metric of the same name. No auto_describe: in multiprocess mode
    # it would make the exporter's MultiProcessCollector claim every name already in the other
    # workers' files, and this worker's own request metrics would then be refused as duplicates.
    registry = CollectorRegistry()
    exporter = exporter_class.for_app_factory(
        path=None, registry=registry, group_by=url_rule, excluded_paths=[r"^/metrics$"])
    exporter.init_app(app)
    if not multiprocess_metrics():
        registry.register(DomainCollector(app))
    app.extensions["supervision.metrics_registry"] = registry


def render_metrics(app: Flask, accept: str | None) -> tuple[bytes, str]:
    """The Prometheus exposition for /metrics (text format, or OpenMetrics if asked for)."""
    if multiprocess_metrics():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(DomainCollector(app))
    else:
        registry = app.extensions["supervision.metrics_registry"]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class DomainCollector(Collector):
    """Gauges read at scrape time (two small aggregate queries), never per request."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def describe(self) -> list[Any]:
        return []  # computed at collect time: nothing to pre-register

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("supervision_database_up",
                               "1 if the scrape could read the database")
        try:
            with self.app.extensions["supervision.sessionmaker"]() as session:
                backlog, oldest = session.execute(
                    select(func.count(), func.min(OutboxMessage.created_at))
                    .where(OutboxMessage.delivered_at.is_(None))).one()
                open_flags = dict(session.execute(
                    select(Flag.severity, func.count())
                    .where(Flag.status.not_in(CLOSED_FLAG_STATUSES))
                    .group_by(Flag.severity)).all())
        except SQLAlchemyError as exc:
            # One short line: a traceback on every scrape would flood the logs during an outage.
            logging.getLogger(__name__).warning("metrics scrape could not read the database: %s",
                                                type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("supervision_outbox_backlog",
                                "notifications not yet delivered", value=backlog)
        age = 0.0
        if oldest is not None:
            age = max((clock.now() - oldest).total_seconds(), 0.0)
        yield GaugeMetricFamily("supervision_outbox_oldest_age_seconds",
                                "age of the oldest undelivered notification", value=age)
        flags = GaugeMetricFamily("supervision_flags_outstanding",
                                  "compliance flags not resolved, dismissed or cleared",
                                  labels=["severity"])
        for severity in SEVERITIES:
            flags.add_metric([severity], open_flags.get(severity, 0))
        yield flags


def init_app(app: Flask) -> None:
    """Call first in create_app, so that every later refusal (413, 429) is logged and counted."""
    configure_logging(app.config["SUPERVISION"].log_level)
    app.before_request(_begin_request)
    app.after_request(_end_request)
    init_metrics(app)
