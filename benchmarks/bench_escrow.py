"""The escrow benchmarks of issue 14 / QUALITY.md "Performance", repeated `--runs` times
(default 3) on one generated data set, each figure's median reported:

postings   attendance through the HTTP API, one enrollment per request, `--threads` (8) client
           threads back to back for `--seconds` against gunicorn (scripts/serve-prod, 2 workers)
           on PostgreSQL → postings/s, p50, p99, errors (target ≥ 400/s, p99 ≤ 50 ms, none);
           then `pgbench -N` with the same clients for as long, on its own database, once per
           run after the server stopped → TPS, and the ratio postings/s ÷ TPS of each run;
class40    attendance of a 40-student session in one request, 50 requests after 3 warm-up,
           one client → p50, p99 (target p50 ≤ 25 ms);
read       the parent's escrow status with ~1,100,000 ledger entries present (--bulk 100000),
           100 requests/s for `--seconds` → p50, p99 (target p99 ≤ 10 ms);
replica    the same read with a streaming replica (scripts/replica start PORT, the server
           restarted with SUPERVISION_DATABASE_REPLICA_URL) → p50, p99, and the share of
           answers whose X-Served-By header names the replica (target p99 ≤ 10 ms);
reconcile  (only when asked: --only reconcile; bench_statements measures it too) a
           `--bulk`-line statement, once, through the service and through the HTTP API.

    python -m benchmarks.bench_escrow [--runs 3] [--seconds 30] [--threads 8] [--seed 2026]
        [--bulk 100000] [--only postings,class40,read,replica] [--replica-port 5442]
        [--smoke] [--keep] [--profile]

--smoke: a tiny data set (300 bulk enrollments) and 2-second figures, to see that it runs.
The data set (benchmarks/gen_escrow.py) is generated once per invocation, into a fresh
database sv_bench_escrow, dropped at the end (unless --keep); pgbench gets
sv_bench_escrow_pgbench, also dropped; the replica is stopped again (unless it was already
running on that port). The server's log goes to instance/bench_escrow_server.log. Prints one
line per figure and run, then a table, then one last line `RESULT name=value ...` (NA: not
measured). The load average is printed before and after: other work on the machine shows in
every figure, so only a quiet machine's figures count.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import math
import random
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from supervision import create_app
from supervision.access.scope import SYSTEM
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow.statements import LineIn, StatementIn, import_statement

from ._common import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    ROOT,
    Call,
    Client,
    Figures,
    Result,
    Row,
    closed_loop,
    load_average,
    open_loop,
    percentile,
    py_spy,
    report,
    server,
    summarise_stacks,
    temporary_database,
)
from .gen_escrow import DAY, HOURS, Manifest, generate

FIGURES = ("postings", "class40", "read", "replica", "reconcile")
PORT = 8411
REPLICA_PORT = 5442  # not the replica tests' default 5433: they may run at the same time
DATABASE = "sv_bench_escrow"
# The attendance data set is sized for this many postings/s for every run's seconds: each
# (session, enrollment) pair can be posted once, and an enrollment pays for HOURS sessions.
POSTINGS_CEILING = 1000
CLASS40_REQUESTS, CLASS40_WARMUP = 50, 3
READ_RATE = 100.0
# POST /escrow/statements with 100,000 lines is a ~13 MB body: over the 2 MB default limit.
STATEMENT_BODY_LIMIT = str(64 * 1024 * 1024)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- postings --------------------------------------------------------------------------------

class Postings:
    """Each client thread's own slice of the attendance enrollments, session after session,
    carried over from run to run (a pair is posted once): no two threads ever book the same
    enrollment, as with many teachers recording different classes at once."""

    def __init__(self, m: Manifest, threads: int) -> None:
        self.ran_out = False
        self.streams = [self._calls(m, k, threads) for k in range(threads)]

    def _calls(self, m: Manifest, k: int, threads: int) -> Iterator[Call]:
        mine = m.attendance_enrollments[k::threads]
        headers = _bearer(m.institution_token)
        for session_id in m.attendance_sessions:
            for enrollment_id in mine:
                yield Call("POST", f"/api/v1/sessions/{session_id}/attendance",
                           {"enrollment_ids": [enrollment_id]}, headers)
        self.ran_out = True


def bench_postings(host: str, postings: Postings, seconds: float, figures: Figures,
                   run: int) -> None:
    result = closed_loop(host, postings.streams, seconds, ok=201)
    rate = len(result.latencies) / result.elapsed
    ms = [x * 1000 for x in result.latencies] or [math.nan]
    figures.add("postings_per_s", rate)
    figures.add("p50_ms", percentile(ms, 50))
    figures.add("p99_ms", percentile(ms, 99))
    figures.add("errors", result.failed)
    print(f"run {run} postings (1 enrollment/request, {len(postings.streams)} client threads, "
          f"{result.elapsed:.0f} s): {rate:.0f} postings/s; {result.describe()}", flush=True)
    if postings.ran_out:
        print("   the data set ran out of attendance pairs: the figure is low; raise "
              "POSTINGS_CEILING", flush=True)
    _errors(result)


@contextlib.contextmanager
def pgbench_database() -> Iterator[list[str]]:
    """An initialised pgbench database; yields pgbench's connection arguments."""
    conn = ["-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER]
    with temporary_database("sv_bench_escrow_pgbench"):
        subprocess.run(["pgbench", "-i", "-q", *conn, "sv_bench_escrow_pgbench"], check=True,
                       capture_output=True)
        yield conn


def pgbench_tps(conn: list[str], clients: int, seconds: float) -> float:
    out = subprocess.run(["pgbench", "-N", "-c", str(clients), "-j", "2", "-T",
                          str(max(1, int(seconds))), *conn, "sv_bench_escrow_pgbench"],
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if match is None:
        raise SystemExit(f"pgbench printed no TPS:\n{out}")
    return float(match.group(1))


# --- a class of 40 ---------------------------------------------------------------------------

def bench_class40(host: str, m: Manifest, run: int, requests: int, figures: Figures) -> None:
    sessions, enrollments = m.classes40[run - 1]
    client, headers = Client(host), _bearer(m.institution_token)
    result = Result()
    for i, session_id in enumerate(sessions[:requests + CLASS40_WARMUP]):
        call = Call("POST", f"/api/v1/sessions/{session_id}/attendance",
                    {"enrollment_ids": enrollments}, headers)
        t0 = time.perf_counter()
        status, body = client.call(call)
        elapsed = time.perf_counter() - t0
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status != 201:
            result.errors.append(f"{status}: {body[:300]!r}")
        elif i >= CLASS40_WARMUP:
            result.latencies.append(elapsed)
    ms = [x * 1000 for x in result.latencies] or [math.nan]
    figures.add("class40_p50_ms", percentile(ms, 50))
    figures.add("class40_p99_ms", percentile(ms, 99))
    print(f"run {run} class40 (attendance of 40 in one request, {len(result.latencies)} "
          f"requests after {CLASS40_WARMUP} warm-up): {result.describe()}", flush=True)
    _errors(result)


# --- the parent's escrow status --------------------------------------------------------------

def bench_read(host: str, m: Manifest, seconds: float, run: int, figures: Figures,
               prefix: str) -> Result:
    targets = m.read_targets

    def call(i: int) -> Call:
        enrollment_id, parent = targets[i % len(targets)]
        return Call("GET", f"/api/v1/enrollments/{enrollment_id}/escrow", None,
                    _bearer(m.parent_tokens[parent]))

    result = open_loop(host, call, READ_RATE, seconds, ok=200)
    ms = [x * 1000 for x in result.latencies] or [math.nan]
    figures.add(f"{prefix}p50_ms", percentile(ms, 50))
    figures.add(f"{prefix}p99_ms", percentile(ms, 99))
    figures.add(f"{prefix}errors", result.failed)
    where = ", ".join(f"{k}: {n}" for k, n in sorted(result.served_by.items()))
    what = "escrow read via the replica" if prefix == "replica_" else "escrow read"
    print(f"run {run} {what} ({m.ledger_entries} ledger entries, "
          f"{READ_RATE:.0f} req/s for {seconds:.0f} s, {result.late} sent late): "
          f"{result.describe()}; X-Served-By {where}", flush=True)
    _errors(result)
    return result


def replica_share(result: Result) -> float | None:
    """The share of answers served by the replica, or None when no answer said where it came
    from (no X-Served-By header: the build has no replica routing, or does not say)."""
    told = {k: n for k, n in result.served_by.items() if k != "-"}
    if not told:
        return None
    return sum(n for k, n in told.items() if "replica" in k.lower()) / sum(
        result.served_by.values())


@contextlib.contextmanager
def replica(port: int, database: str = DATABASE) -> Iterator[str | None]:
    """A streaming replica of the local cluster (scripts/replica), or None with the reason
    printed. Stopped afterwards unless it was already running on that port."""
    script = ROOT / "scripts" / "replica"
    if not script.exists():
        print("replica not available: scripts/replica is missing", flush=True)
        yield None
        return
    started = time.perf_counter()
    proc = subprocess.run([str(script), "start", str(port)], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"replica not available: scripts/replica start {port} failed: "
              f"{proc.stderr.strip()[-500:]}", flush=True)
        yield None
        return
    ours = "already running" not in proc.stderr
    # The script's URL names the postgres database; the replica holds every database.
    url = lines[-1].rsplit("/", 1)[0] + f"/{database}"
    print(f"replica streaming on port {port} (set up in {time.perf_counter() - started:.0f} s): "
          f"{url}", flush=True)
    try:
        yield url
    finally:
        if ours:
            subprocess.run([str(script), "stop", str(port)], capture_output=True)


# --- reconciliation (once, when asked) -------------------------------------------------------

def statement_of(m: Manifest, seed: int, account_no: str) -> StatementIn:
    rng = random.Random(seed)
    missing = set(rng.sample(range(len(m.big_deposits)), min(10, len(m.big_deposits))))
    lines = [LineIn(txn, "credit", amount, DAY, f"deposit {txn}")
             for i, (txn, amount) in enumerate(m.big_deposits) if i not in missing]
    lines += [LineIn(f"UNKNOWN{i:04d}", "credit", 10_000 + i, DAY, "not in the ledger")
              for i in range(10)]
    closing = sum(line.amount_fen for line in lines)
    return StatementIn(account_no, DAY, 0, closing, tuple(lines))


def bench_reconcile_service(url: str, m: Manifest, seed: int, figures: Figures) -> None:
    statement = statement_of(m, seed, m.big_account_no)
    engine = make_engine(url)
    settings = create_app({"DATABASE_URL": url}).config["SUPERVISION"]
    started = time.perf_counter()
    with transaction(make_sessionmaker(engine), settings=settings, actor=SYSTEM) as session:
        row, _ = import_statement(session, SYSTEM, statement, source="pull")
        report = dict(row.report)
    elapsed = time.perf_counter() - started
    engine.dispose()
    figures.add("reconcile_s", elapsed)
    print(f"reconcile a {len(statement.lines)}-line statement (service, as the daily pull): "
          f"{elapsed:.2f} s; matched {report['matched']}, unmatched lines "
          f"{report['unmatched_statement_line_count']}, unmatched entries "
          f"{report['unmatched_ledger_entry_count']} (target <= 20 s)", flush=True)


def bench_reconcile_http(host: str, m: Manifest, seed: int, figures: Figures) -> None:
    # The same lines a day later: the service's run holds DAY's statement.
    statement = statement_of(m, seed, m.big_account_no)
    day = DAY + dt.timedelta(days=1)
    body = {"account_no": statement.account_no, "date": day.isoformat(),
            "opening_balance_fen": 0, "closing_balance_fen": statement.closing_balance_fen,
            "lines": [{"trustee_txn_id": ln.trustee_txn_id, "direction": ln.direction,
                       "amount_fen": ln.amount_fen, "value_date": day.isoformat(),
                       "reference": ln.reference} for ln in statement.lines]}
    started = time.perf_counter()
    status, raw = Client(host).call(Call("POST", "/api/v1/escrow/statements", body,
                                         _bearer(m.regulator_token)))
    elapsed = time.perf_counter() - started
    figures.add("reconcile_http_s", elapsed)
    print(f"reconcile a {len(statement.lines)}-line statement (HTTP POST, {len(raw)} B "
          f"answer): {elapsed:.2f} s, status {status} (target <= 20 s)", flush=True)
    if status != 201:
        print(f"   answer: {raw[:300]!r}")


def _errors(result: Result) -> None:
    for error in result.errors[:3]:
        print(f"   error: {error}", flush=True)


# --- the report ------------------------------------------------------------------------------

ROWS: tuple[Row, ...] = (
    ("postings_per_s", "postings/s, 1 enrollment/request", ">= 400", "postings_per_s"),
    ("p50_ms", "  posting p50 ms", "", "p50_ms"),
    ("p99_ms", "  posting p99 ms", "<= 50", "p99_ms"),
    ("errors", "  posting errors (sum)", "0", "errors"),
    ("pgbench_tps", "pgbench -N TPS, same clients", "", "pgbench_tps"),
    ("ratio", "  postings/s / pgbench TPS", "", "ratio"),
    ("class40_p50_ms", "40 in one request, p50 ms", "<= 25", "class40_p50_ms"),
    ("class40_p99_ms", "  40 in one request, p99 ms", "", "class40_p99_ms"),
    ("read_p50_ms", "escrow read p50 ms", "", "read_p50_ms"),
    ("read_p99_ms", "escrow read p99 ms", "<= 10", "read_p99_ms"),
    ("read_errors", "  escrow read errors (sum)", "0", "read_errors"),
    ("replica_p50_ms", "read with replica p50 ms", "", "read_replica_p50_ms"),
    ("replica_p99_ms", "read with replica p99 ms", "<= 10", "read_replica_p99_ms"),
    ("replica_errors", "  read with replica errors (sum)", "0", "read_replica_errors"),
    ("replica_share", "  share served by the replica", "1.0", "replica_share"),
    ("reconcile_s", "reconcile (service) s", "<= 20", "reconcile_s"),
    ("reconcile_http_s", "reconcile (HTTP) s", "<= 20", "reconcile_http_s"),
)


ALWAYS = tuple(name for name, *_ in ROWS if not name.startswith("reconcile"))


# --- the run ---------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> None:
    only = set(args.only.split(","))
    unknown = only - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figures {sorted(unknown)}; choose from {FIGURES}")
    figures = Figures()
    print(f"bench_escrow start: {load_average()}", flush=True)
    attendance = max(2 * args.threads,
                     math.ceil(args.runs * args.seconds * POSTINGS_CEILING / HOURS))
    class40_requests = 5 if args.smoke else CLASS40_REQUESTS
    log = ROOT / "instance" / "bench_escrow_server.log"
    env = {"SUPERVISION_MAX_CONTENT_LENGTH": STATEMENT_BODY_LIMIT, "SUPERVISION_RATELIMIT": ""}
    with temporary_database(DATABASE, keep=args.keep) as url:
        m = generate(url, seed=args.seed, bulk=args.bulk, attendance_enrollments=attendance,
                     attendance_sessions=HOURS, classes40=args.runs,
                     class40_sessions=class40_requests + CLASS40_WARMUP)
        postings = Postings(m, args.threads)
        with server(url, PORT, log, **env) as srv:
            _warm_up(srv.host, m)
            print(f"server up (gunicorn, scripts/serve-prod): {load_average()}", flush=True)
            for r in range(1, args.runs + 1):
                if "postings" in only and args.profile and r == 1:
                    with py_spy(srv.worker_pids(), args.seconds,
                                ROOT / "instance" / "pyspy") as out:
                        bench_postings(srv.host, postings, args.seconds, figures, r)
                    print("   py-spy, gunicorn workers' CPU samples during run 1 (inclusive):")
                    for line in summarise_stacks(out, top=40):
                        print(f"   {line}")
                elif "postings" in only:
                    bench_postings(srv.host, postings, args.seconds, figures, r)
                if "class40" in only:
                    bench_class40(srv.host, m, r, class40_requests, figures)
                if "read" in only:
                    bench_read(srv.host, m, args.seconds, r, figures, "read_")
            if "reconcile" in only:
                bench_reconcile_http(srv.host, m, args.seed, figures)
        if "reconcile" in only:
            bench_reconcile_service(url, m, args.seed, figures)
        if "replica" in only:
            _replica_runs(args, url, m, log, env, figures)
    if "postings" in only:
        with pgbench_database() as conn:
            for r in range(1, args.runs + 1):
                tps = pgbench_tps(conn, args.threads, args.seconds)
                figures.add("pgbench_tps", tps)
                figures.add("ratio", figures.values["postings_per_s"][r - 1] / tps)
                print(f"run {r} pgbench -N -c {args.threads} -j 2 -T {int(args.seconds)}: "
                      f"{tps:.0f} TPS", flush=True)
    print(f"bench_escrow end: {load_average()}", flush=True)
    report(figures, ROWS, args.runs, f"bench_escrow: {m.ledger_entries} ledger entries, "
           f"medians of {args.runs} runs", always=ALWAYS,
           extra=f"entries={m.ledger_entries} runs={args.runs}")


def _replica_runs(args: argparse.Namespace, url: str, m: Manifest, log: Path,
                  env: dict[str, str], figures: Figures) -> None:
    """The escrow status read again, `runs` times, with the server routing reads to a
    streaming replica."""
    with replica(args.replica_port) as replica_url:
        if replica_url is None:
            return
        with server(url, PORT, log, SUPERVISION_DATABASE_REPLICA_URL=replica_url,
                    **env) as srv:
            _warm_up(srv.host, m)
            print(f"server up with the replica: {load_average()}", flush=True)
            for r in range(1, args.runs + 1):
                result = bench_read(srv.host, m, args.seconds, r, figures, "replica_")
                share = replica_share(result)
                if share is None:
                    print("   no answer carried X-Served-By: where the reads went is unknown "
                          "(no replica routing in this build?)", flush=True)
                else:
                    figures.add("replica_share", share)


def _warm_up(host: str, m: Manifest) -> None:
    """A few reads on each worker: imports, first connections, prepared plans."""
    client = Client(host)
    for (enrollment_id, parent), _ in zip(itertools.cycle(m.read_targets[-20:]), range(40),
                                          strict=False):
        client.call(Call("GET", f"/api/v1/enrollments/{enrollment_id}/escrow", None,
                         _bearer(m.parent_tokens[parent])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repeat each figure; the median "
                        "is reported")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--bulk", type=int, default=100_000,
                        help="bulk enrollments, ~11 ledger entries each")
    parser.add_argument("--only", default="postings,class40,read,replica",
                        help=f"comma-separated, of {', '.join(FIGURES)}")
    parser.add_argument("--replica-port", type=int, default=REPLICA_PORT)
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny data set and 2-second figures: does it run?")
    parser.add_argument("--keep", action="store_true", help=f"keep the {DATABASE} database")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the gunicorn workers during run 1's postings (perturbs it)")
    args = parser.parse_args()
    if args.smoke:
        args.bulk, args.seconds = min(args.bulk, 300), min(args.seconds, 2)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    run(args)


if __name__ == "__main__":
    main()
