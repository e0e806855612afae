"""Time the compliance engine on the data of benchmarks/gen_compliance.py (QUALITY.md: a full
run over 10,000 institutions, 50,000 teachers, 1,000,000 sessions ≤ 30 s with peak RSS ≤ 500 MB;
a 48-hour-window run ≤ 2 s). One line per figure.

    python -m benchmarks.bench_compliance [DATABASE_URL] [--per-rule] [--only FIGURE]

Figures (each measured in its own child process, so each peak RSS is its own):
  evaluate_full    evaluate_all over the full window (7 days back, 30 ahead)
  evaluate_48h     evaluate_all over the next 48 hours (the hourly run: lookback 0)
  run_full         run_compliance, full window: first run (opens every flag) then a second
                   (the nightly steady state), rolled back afterwards
  run_48h          run_compliance over the next 48 hours, after a full run, rolled back
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from supervision.access.scope import SYSTEM
from supervision.compliance.model import Window
from supervision.compliance.rules import EVALUATORS, SESSION_RULES, evaluate_all
from supervision.compliance.rules.base import Context
from supervision.compliance.rules.scan import scan_sessions
from supervision.config import load_settings
from supervision.db import make_engine, make_sessionmaker

from .gen_compliance import AS_OF, HORIZON_DAYS, LOOKBACK_DAYS

FIGURES = ("evaluate_full", "evaluate_48h", "run_full", "run_48h")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _windows(as_of: dt.datetime) -> dict[str, Window]:
    return {"full": Window.around(as_of, lookback_days=LOOKBACK_DAYS, horizon_days=HORIZON_DAYS),
            "48h": Window.around(as_of, lookback_days=0, horizon_days=2)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _evaluate(session: Any, window: Window, per_rule: bool, label: str) -> None:
    started, cpu = time.perf_counter(), _cpu()
    counts: Counter[str] = Counter()
    if per_rule:
        ctx = Context.of(session, window)
        parts: list[tuple[str, Any]] = [
            (f"session scan ({len(SESSION_RULES)} rules)",
             lambda: scan_sessions(ctx, list(SESSION_RULES.values())))]
        parts += [(code, lambda code=code: EVALUATORS[code](ctx)) for code in EVALUATORS]
        for name, run in parts:
            t0, c0 = time.perf_counter(), _cpu()
            n = 0
            for finding in run():
                counts[finding.rule] += 1
                n += 1
            print(f"  {label} {name:<30} {time.perf_counter() - t0:7.2f} s "
                  f"(CPU here {_cpu() - c0:5.2f} s) {n:>8} findings", flush=True)
    else:
        for finding in evaluate_all(session, window):
            counts[finding.rule] += 1
    elapsed = time.perf_counter() - started
    print(f"bench_compliance {label}: {elapsed:.2f} s (this process's CPU {_cpu() - cpu:.2f} s), "
          f"{sum(counts.values())} findings, peak RSS {_peak_mb():.0f} MB", flush=True)


def _run(session: Any, as_of: dt.datetime, label: str, hourly: bool) -> None:
    try:
        runs = importlib.import_module("supervision.compliance.runs")
    except ImportError:
        print(f"bench_compliance {label}: skipped (supervision.compliance.runs is missing)")
        return
    full = {"lookback_days": LOOKBACK_DAYS, "horizon_days": HORIZON_DAYS}
    t0 = time.perf_counter()
    first = runs.run_compliance(session, SYSTEM, as_of=as_of, **full)
    t1 = time.perf_counter()
    if hourly:
        run = runs.run_compliance(session, SYSTEM, as_of=as_of + dt.timedelta(hours=1),
                                  lookback_days=0, horizon_days=2)
        print(f"bench_compliance {label}: {time.perf_counter() - t1:.2f} s "
              f"(after a full run of {t1 - t0:.2f} s), {run.findings} findings, "
              f"{run.flags_cleared} cleared, peak RSS {_peak_mb():.0f} MB", flush=True)
        return
    print(f"bench_compliance {label} first (opens {first.flags_opened} flags): "
          f"{t1 - t0:.2f} s, sessions_scanned {first.sessions_scanned}, "
          f"peak RSS {_peak_mb():.0f} MB", flush=True)
    second = runs.run_compliance(session, SYSTEM, as_of=as_of + dt.timedelta(minutes=1), **full)
    print(f"bench_compliance {label} steady (refreshes {second.findings} findings): "
          f"{time.perf_counter() - t1:.2f} s, peak RSS {_peak_mb():.0f} MB", flush=True)


# Tables a run writes: each run figure is rolled back, and on PostgreSQL the aborted rows stay
# behind as dead tuples until a vacuum, which would bloat the next figure's scans of `flags`.
RUN_TABLES = ("flags", "flag_events", "audit_log", "outbox", "compliance_runs")


def _vacuum(engine: Any) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        present = [t for t in RUN_TABLES if engine.dialect.has_table(conn, t)]
        if present:
            conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(present)}")


def measure(url: str, figure: str, per_rule: bool, as_of: dt.datetime) -> None:
    settings = load_settings({"DATABASE_URL": url})
    engine = make_engine(url)
    _vacuum(engine)
    session = make_sessionmaker(engine)()
    session.info.update(settings=settings, actor=SYSTEM)
    try:
        if figure.startswith("evaluate_"):
            window = _windows(as_of)[figure.removeprefix("evaluate_")]
            _evaluate(session, window, per_rule, figure)
        else:
            _run(session, as_of, figure, hourly=figure == "run_48h")
    finally:
        session.rollback()  # the benchmark leaves the data set as it found it
        session.close()
        _vacuum(engine)
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("SUPERVISION_DATABASE_URL"))
    parser.add_argument("--only", choices=FIGURES)
    parser.add_argument("--per-rule", action="store_true", help="time each rule on its own")
    parser.add_argument("--as-of", default=AS_OF.isoformat())
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give a database URL or set SUPERVISION_DATABASE_URL")
    as_of = dt.datetime.fromisoformat(args.as_of)
    if args.only:
        measure(args.url, args.only, args.per_rule, as_of)
        return
    backend = args.url.split(":", 1)[0]
    print(f"bench_compliance on {backend}, as_of {as_of.isoformat()}", flush=True)
    for figure in FIGURES:
        cmd = [sys.executable, "-m", "benchmarks.bench_compliance", args.url, "--only", figure,
               "--as-of", args.as_of] + (["--per-rule"] if args.per_rule else [])
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
