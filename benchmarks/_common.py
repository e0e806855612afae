"""Helpers shared by the escrow benchmarks: throw-away PostgreSQL databases, a production
server (scripts/serve-prod) started and stopped around a measurement, and HTTP load
generators (closed loop: N threads as fast as they can; open loop: a fixed request rate).

The load generators use http.client with one keep-alive connection per thread: on a 2-core
machine the client shares the CPU with gunicorn and PostgreSQL, and `requests` costs several
times more CPU per call than a bare HTTPConnection.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


def pg_url(name: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def _pg(*args: str) -> None:
    subprocess.run([*args, "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER],
                   check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})


def drop_database(name: str) -> None:
    _pg("psql", "-q", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_database(name: str) -> str:
    """Drop `name` if a previous run left it, create it empty; returns its SQLAlchemy URL."""
    drop_database(name)
    _pg("createdb", name)
    return pg_url(name)


@contextlib.contextmanager
def temporary_database(name: str, keep: bool = False) -> Iterator[str]:
    url = fresh_database(name)
    try:
        yield url
    finally:
        if not keep:
            drop_database(name)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figures:
    """Each figure's value in each run, by name, in the order they were first measured."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float | None:
        """The median of the runs; for a count of errors, their sum (one bad run counts)."""
        runs = self.values.get(name)
        if not runs:
            return None
        return float(sum(runs)) if name.endswith("errors") else statistics.median(runs)


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "NA"
    if value == int(value):
        return f"{value:.0f}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.1f}"


# A table row: (figure name, what it is, its target, its name on the RESULT line)
Row = tuple[str, str, str, str]


def report(figures: Figures, rows: tuple[Row, ...], runs: int, title: str,
           always: tuple[str, ...] = (), extra: str = "") -> None:
    """The figures measured, one row each (every run, the median, the target), then the
    last line `RESULT name=median ...`: NA for a figure of `always` that was not measured.
    Errors are summed over the runs, not their median."""
    head = ["figure", *(f"run {i + 1}" for i in range(runs)), "median", "target"]
    table = [head]
    for name, label, target, _ in rows:
        values = figures.values.get(name)
        if values:
            cells = [fmt(v) for v in values] + [""] * (runs - len(values))
            table.append([label, *cells, fmt(figures.median(name)), target])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    print(f"\n{title}", flush=True)
    for i, line in enumerate(table):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                        for j, (cell, w) in enumerate(zip(line, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    summary = " ".join(f"{key}={fmt(figures.median(name))}" for name, _, _, key in rows
                       if name in figures.values or name in always)
    print(f"RESULT {summary}{' ' + extra if extra else ''}", flush=True)


@dataclass
class Server:
    host: str  # 127.0.0.1:port
    pid: int  # the gunicorn master

    def worker_pids(self) -> list[int]:
        """The master's children (the workers), from /proc."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)


@contextlib.contextmanager
def server(url: str, port: int, log_path: Path, **env: str) -> Iterator[Server]:
    """scripts/serve-prod (gunicorn, gunicorn.conf.py) on 127.0.0.1:`port` against `url`;
    yields once /readyz answers; SIGTERM to the gunicorn master (our own child, by pid)
    afterwards."""
    environ = {**os.environ, "SUPERVISION_DATABASE_URL": url,
               "SUPERVISION_BIND": f"127.0.0.1:{port}", **env}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)  # instance/ is absent in a fresh clone
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(ROOT / "scripts" / "serve-prod")], cwd=ROOT, env=environ,
                                stdout=log, stderr=log)
    try:
        _wait_ready(port, proc)
        yield Server(f"127.0.0.1:{port}", proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"serve-prod exited with {proc.returncode} (see its log)")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("serve-prod did not become ready within 60 s")


@dataclass
class Call:
    """One request to make: method, path, body (JSON-able or None), headers."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, successful calls
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    late: int = 0  # open loop: requests started more than 10 ms after their slot
    # Where the answers came from, by the X-Served-By header the replica routing adds
    # ("-" when the server sent none).
    served_by: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0  # connection errors

    def merge(self, other: Result) -> None:
        self.latencies += other.latencies
        self.late += other.late
        self.unanswered += other.unanswered
        self.errors += other.errors[:5]
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        for where, n in other.served_by.items():
            self.served_by[where] = self.served_by.get(where, 0) + n

    @property
    def failed(self) -> int:
        """Calls that got no answer or an answer other than the expected one."""
        return sum(self.statuses.values()) - len(self.latencies) + self.unanswered

    def describe(self) -> str:
        ms = [x * 1000 for x in self.latencies]
        if not ms:
            return f"no successful request; statuses {self.statuses}; {self.errors[:3]}"
        return (f"p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
                f"max {max(ms):.1f} ms; statuses {dict(sorted(self.statuses.items()))}")


class Client:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, host: str) -> None:
        self.host, self.port = host.split(":")[0], int(host.split(":")[1])
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.served_by = "-"  # the last answer's X-Served-By header

    def call(self, c: Call) -> tuple[int, bytes]:
        body = None if c.body is None else json.dumps(c.body).encode()
        headers = {**c.headers, **({"Content-Type": "application/json"} if body else {})}
        for attempt in (1, 2):
            try:
                self.conn.request(c.method, c.path, body=body, headers=headers)
                resp = self.conn.getresponse()
                self.served_by = resp.getheader("X-Served-By") or "-"
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _record(result: Result, client: Client, call: Call, ok: int) -> None:
    t0 = time.perf_counter()
    try:
        status, body = client.call(call)
    except OSError as exc:
        result.unanswered += 1
        if len(result.errors) < 5:
            result.errors.append(repr(exc))
        return
    elapsed = time.perf_counter() - t0
    result.statuses[status] = result.statuses.get(status, 0) + 1
    result.served_by[client.served_by] = result.served_by.get(client.served_by, 0) + 1
    if status == ok:
        result.latencies.append(elapsed)
    elif len(result.errors) < 5:
        result.errors.append(f"{status} {call.path}: {body[:300]!r}")


def closed_loop(host: str, calls_per_thread: list[Iterator[Call]], seconds: float,
                ok: int) -> Result:
    """Each thread sends its calls back to back until `seconds` have passed (or its calls
    run out)."""
    deadline = time.perf_counter() + seconds
    results = [Result() for _ in calls_per_thread]

    def work(calls: Iterator[Call], result: Result) -> None:
        client = Client(host)
        for call in calls:
            if time.perf_counter() >= deadline:
                break
            _record(result, client, call, ok)

    started = time.perf_counter()
    _run_threads([functools.partial(work, c, r)
                  for c, r in zip(calls_per_thread, results, strict=True)])
    total = Result(elapsed=time.perf_counter() - started)
    for r in results:
        total.merge(r)
    return total


def open_loop(host: str, make_call: Callable[[int], Call], rate: float, seconds: float,
              ok: int, threads: int = 8) -> Result:
    """Request i is due at i / rate seconds; `threads` senders take the slots in turn, so a
    slow answer delays at most its own thread's next slots (counted as `late`)."""
    total_calls = int(rate * seconds)
    results = [Result() for _ in range(threads)]
    start = time.perf_counter() + 0.2

    def work(k: int, result: Result) -> None:
        client = Client(host)
        for i in range(k, total_calls, threads):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            elif pause < -0.010:
                result.late += 1
            _record(result, client, make_call(i), ok)

    _run_threads([functools.partial(work, k, r) for k, r in enumerate(results)])
    total = Result(elapsed=time.perf_counter() - start)
    for r in results:
        total.merge(r)
    return total


def _run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@contextlib.contextmanager
def py_spy(pids: list[int], seconds: float, out_prefix: Path) -> Iterator[list[Path]]:
    """py-spy record (collapsed stacks, CPU samples only) of each pid for `seconds`."""
    outputs = [out_prefix.with_name(f"{out_prefix.name}-{pid}.txt") for pid in pids]
    procs = [subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration",
                               str(int(seconds)), "--rate", "50", "--format", "raw",
                               "--output", str(out), "--nonblocking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for pid, out in zip(pids, outputs, strict=True)]
    try:
        yield outputs
    finally:
        for proc in procs:
            proc.wait()


# Plumbing every request passes through: 100% of samples, no information.
_PLUMBING = re.compile(r"threading\.py|concurrent/futures|gunicorn/|flask/app\.py|flask/views\.py|"
                       r"webargs/|flask_smorest/|sqlalchemy/engine/|sqlalchemy/sql/elements|"
                       r"deprecations\.py|state_changes\.py|<sqlalchemy generated")


def summarise_stacks(paths: list[Path], top: int = 25) -> list[str]:
    """Inclusive share of CPU samples per function (supervision's own, and the big libraries'
    entry points), from py-spy's collapsed stacks."""
    inclusive: dict[str, int] = {}
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            for frame in set(stack.split(";")):
                inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return ["(no samples: is py-spy installed and allowed to attach?)"]
    ranked = sorted(((f, n) for f, n in inclusive.items() if not _PLUMBING.search(f)),
                    key=lambda kv: -kv[1])
    return [f"{n / total:6.1%}  {frame}" for frame, n in ranked[:top]]
