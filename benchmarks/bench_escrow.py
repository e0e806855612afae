"""The escrow benchmarks of QUALITY.md "Performance", one line per figure:

1. attendance postings through the HTTP API, one enrollment per request, N client threads
   for a fixed time against gunicorn (scripts/serve-prod, 2 workers) on PostgreSQL →
   postings/s, p50, p99 (target ≥ 400/s, p99 ≤ 50 ms); then `pgbench -N` with the same
   concurrency on its own database → TPS, and the ratio postings/s ÷ pgbench TPS;
2. attendance of a 40-student session in one request → p50 (target ≤ 50 ms);
3. the parent's escrow status read with ≥ 1,000,000 ledger entries present, at a fixed
   100 requests/s → p50, p99 (target p99 ≤ 10 ms);
4. reconciliation of a 100,000-line statement (99,990 lines matching ledger deposits by
   trustee_txn_id, 10 unknown to the ledger; 10 deposits missing from it) → seconds
   (target ≤ 20 s): through the statements service (what the daily pull runs) and through
   POST /api/v1/escrow/statements.

    python -m benchmarks.bench_escrow [--seconds 30] [--threads 8] [--seed 2026]
                                      [--bulk 100000] [--only 1,2,3,4] [--keep]

The data set (benchmarks/gen_escrow.py) goes into a fresh database sv_bench_escrow, dropped
at the end (unless --keep); pgbench gets sv_bench_escrow_pgbench, also dropped. The server's
log goes to instance/bench_escrow_server.log. The load average is printed before and after:
other work on the machine shows in every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import re
import subprocess
import time
from collections.abc import Iterator

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
    Result,
    closed_loop,
    load_average,
    open_loop,
    percentile,
    py_spy,
    server,
    summarise_stacks,
    temporary_database,
)
from .gen_escrow import DAY, Manifest, generate

PORT = 8411
# POST /escrow/statements with 100,000 lines is a ~13 MB body: over the 2 MB default limit.
STATEMENT_BODY_LIMIT = str(64 * 1024 * 1024)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- 1. postings -----------------------------------------------------------------------------

def _posting_calls(m: Manifest, k: int, threads: int) -> Iterator[Call]:
    """Thread k's own slice of enrollments, session after session: no two threads ever book
    the same enrollment, as with many teachers recording different classes at once."""
    mine = m.attendance_enrollments[k::threads]
    headers = _bearer(m.institution_token)
    for session_id in m.attendance_sessions:
        for enrollment_id in mine:
            yield Call("POST", f"/api/v1/sessions/{session_id}/attendance",
                       {"enrollment_ids": [enrollment_id]}, headers)


def bench_postings(host: str, m: Manifest, seconds: float, threads: int) -> float:
    result = closed_loop(host, [_posting_calls(m, k, threads) for k in range(threads)],
                         seconds, ok=201)
    rate = len(result.latencies) / result.elapsed
    print(f"1. attendance postings (1 enrollment/request, {threads} client threads, "
          f"{result.elapsed:.0f} s): {rate:.0f} postings/s; {result.describe()} "
          f"(target >= 400/s, p99 <= 50 ms)", flush=True)
    _errors(result)
    return rate


def pgbench_tps(clients: int, seconds: float) -> float:
    conn = ["-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER]
    with temporary_database("sv_bench_escrow_pgbench") as _:
        subprocess.run(["pgbench", "-i", "-q", *conn, "sv_bench_escrow_pgbench"], check=True,
                       capture_output=True)
        out = subprocess.run(["pgbench", "-N", "-c", str(clients), "-j", "2", "-T",
                              str(int(seconds)), *conn, "sv_bench_escrow_pgbench"],
                             check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if match is None:
        raise SystemExit(f"pgbench printed no TPS:\n{out}")
    return float(match.group(1))


# --- 2. a class of 40 ------------------------------------------------------------------------

def bench_class40(host: str, m: Manifest, requests: int = 50) -> None:
    client, headers = Client(host), _bearer(m.institution_token)
    result, warmup = Result(), 3
    for i, session_id in enumerate(m.class40_sessions[:requests + warmup]):
        call = Call("POST", f"/api/v1/sessions/{session_id}/attendance",
                    {"enrollment_ids": m.class40_enrollments}, headers)
        t0 = time.perf_counter()
        status, body = client.call(call)
        if status != 201:
            result.errors.append(f"{status}: {body[:300]!r}")
        elif i >= warmup:
            result.latencies.append(time.perf_counter() - t0)
        result.statuses[status] = result.statuses.get(status, 0) + 1
    ms = [x * 1000 for x in result.latencies]
    print(f"2. attendance of a 40-student session in one request ({len(ms)} requests, after "
          f"{warmup} warm-up): p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms"
          f" (target p50 <= 50 ms)", flush=True)
    _errors(result)


# --- 3. the parent's escrow status -----------------------------------------------------------

def bench_status(host: str, m: Manifest, seconds: float, rate: float = 100) -> None:
    targets = m.read_targets

    def call(i: int) -> Call:
        enrollment_id, parent = targets[i % len(targets)]
        return Call("GET", f"/api/v1/enrollments/{enrollment_id}/escrow", None,
                    _bearer(m.parent_tokens[parent]))

    result = open_loop(host, call, rate, seconds, ok=200)
    print(f"3. parent escrow status read ({m.ledger_entries} ledger entries, {rate:.0f} req/s "
          f"for {seconds:.0f} s, {len(result.latencies)} ok, {result.late} sent late): "
          f"{result.describe()} (target p99 <= 10 ms)", flush=True)
    _errors(result)


# --- 4. reconciliation -----------------------------------------------------------------------

def statement_of(m: Manifest, seed: int, account_no: str) -> StatementIn:
    rng = random.Random(seed)
    missing = set(rng.sample(range(len(m.big_deposits)), 10))
    lines = [LineIn(txn, "credit", amount, DAY, f"deposit {txn}")
             for i, (txn, amount) in enumerate(m.big_deposits) if i not in missing]
    lines += [LineIn(f"UNKNOWN{i:04d}", "credit", 10_000 + i, DAY, "not in the ledger")
              for i in range(10)]
    closing = sum(line.amount_fen for line in lines)
    return StatementIn(account_no, DAY, 0, closing, tuple(lines))


def bench_reconcile_service(url: str, m: Manifest, seed: int) -> None:
    statement = statement_of(m, seed, m.big_account_no)
    engine = make_engine(url)
    settings = create_app({"DATABASE_URL": url}).config["SUPERVISION"]
    started = time.perf_counter()
    with transaction(make_sessionmaker(engine), settings=settings, actor=SYSTEM) as session:
        row, _ = import_statement(session, SYSTEM, statement, source="pull")
        report = dict(row.report)
    elapsed = time.perf_counter() - started
    engine.dispose()
    print(f"4. reconciliation of a {len(statement.lines)}-line statement (service, as the daily "
          f"pull): {elapsed:.2f} s; matched {report['matched']}, unmatched lines "
          f"{report['unmatched_statement_line_count']}, unmatched entries "
          f"{report['unmatched_ledger_entry_count']} (target <= 20 s)", flush=True)


def bench_reconcile_http(host: str, m: Manifest, seed: int) -> None:
    # The same lines a day later: the service run above already holds DAY's statement.
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
    print(f"4. reconciliation of a {len(statement.lines)}-line statement (HTTP POST, "
          f"{len(raw)} B answer): {elapsed:.2f} s, status {status} (target <= 20 s)",
          flush=True)
    if status != 201:
        print(f"   answer: {raw[:300]!r}")


def _errors(result: Result) -> None:
    for error in result.errors[:3]:
        print(f"   error: {error}", flush=True)


# --- the run ---------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> None:
    only = {int(x) for x in args.only.split(",")}
    print(f"bench_escrow start: {load_average()}", flush=True)
    with temporary_database("sv_bench_escrow", keep=args.keep) as url:
        m = generate(url, seed=args.seed, bulk=args.bulk)
        log = ROOT / "instance" / "bench_escrow_server.log"
        rate = None
        with server(url, PORT, log, SUPERVISION_MAX_CONTENT_LENGTH=STATEMENT_BODY_LIMIT,
                    SUPERVISION_RATELIMIT="") as srv:
            host = srv.host
            _warm_up(host, m)
            print(f"server up (gunicorn, scripts/serve-prod): {load_average()}", flush=True)
            if 1 in only and args.profile:
                with py_spy(srv.worker_pids(), args.seconds, ROOT / "instance" / "pyspy") as out:
                    rate = bench_postings(host, m, args.seconds, args.threads)
                print("   py-spy, gunicorn workers' CPU samples during 1. (inclusive):")
                for line in summarise_stacks(out, top=40):
                    print(f"   {line}")
            elif 1 in only:
                rate = bench_postings(host, m, args.seconds, args.threads)
            if 2 in only:
                bench_class40(host, m)
            if 3 in only:
                bench_status(host, m, args.seconds)
            if 4 in only:
                bench_reconcile_http(host, m, args.seed)
        if 4 in only:
            bench_reconcile_service(url, m, args.seed)
    if rate is not None and not args.profile:
        tps = pgbench_tps(args.threads, args.seconds)
        print(f"1. pgbench -N -c {args.threads} -j 2 -T {int(args.seconds)}: {tps:.0f} TPS; "
              f"postings/s / pgbench TPS = {rate / tps:.3f}", flush=True)
    print(f"bench_escrow end: {load_average()}", flush=True)


def _warm_up(host: str, m: Manifest) -> None:
    """A few reads on each worker: imports, first connections, prepared plans."""
    client = Client(host)
    for (enrollment_id, parent), _ in zip(itertools.cycle(m.read_targets[-20:]), range(40),
                                          strict=False):
        client.call(Call("GET", f"/api/v1/enrollments/{enrollment_id}/escrow", None,
                         _bearer(m.parent_tokens[parent])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--only", default="1,2,3,4")
    parser.add_argument("--keep", action="store_true", help="keep the sv_bench_escrow database")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the gunicorn workers during figure 1 (perturbs it)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
