"""Time the compliance engine on the data of benchmarks/gen_compliance.py (QUALITY.md and
issue 14 item 3: a full run over 10,000 institutions, 50,000 teachers, 1,000,000 sessions
≤ 30 s with peak RSS ≤ 500 MB; a 48-hour-window run ≤ 2 s; on SQLite and PostgreSQL alike),
`--runs` times (default 3), the median reported, as a table and a last `RESULT` line.

    python -m benchmarks.bench_compliance [DATABASE_URL] [--runs 3] [--only FIGURE,...]
                                          [--per-rule] [--as-of ISO]

Figures (each run of each measured in its own child process, so each peak RSS is its own; each
rolled back afterwards, so every run finds the data set as the first did):
  run_full         run_compliance, full window (7 days back, 30 ahead): a first run (opens
                   every flag) then a second (the nightly steady state)
  run_48h          run_compliance over the next 48 hours (the hourly run), after a full run
  evaluate_full    (only when asked) evaluate_all, the rules alone, over the full window
  evaluate_48h     (only when asked) the same over the next 48 hours

The rules: run_compliance runs every rule of the catalogue that a scan detects (the session
rules in one pass, every other its own query, complaints' §10 included); the rules raised by
events (deposits, reconciliation, disputes, and RISK_HIGH by the risk run, timed by
benchmarks/bench_risk) are listed and not timed here. The benchmark stops if a catalogue rule
is neither scanned nor raised by an event, or a scanned rule is missing from the catalogue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from supervision.access.scope import SYSTEM
from supervision.compliance import runs
from supervision.compliance.catalogue import CATALOGUE
from supervision.compliance.model import Window
from supervision.compliance.rules import EVALUATORS, SESSION_RULES, evaluate_all
from supervision.compliance.rules.base import Context
from supervision.compliance.rules.scan import scan_sessions
from supervision.config import load_settings
from supervision.db import make_engine, make_sessionmaker

from ._common import Figures, Row, load_average, report
from .gen_compliance import AS_OF, HORIZON_DAYS, LOOKBACK_DAYS

FIGURES = ("run_full", "run_48h", "evaluate_full", "evaluate_48h")
DEFAULT = "run_full,run_48h"
MARK = "FIGURE "  # a child's line of figures for the parent: "FIGURE name=value ..."
ROWS: tuple[Row, ...] = (
    ("run_full_first_s", "full run, first (opens every flag) s", "<= 30", "full_first_s"),
    ("run_full_steady_s", "full run, steady (nightly) s", "<= 30", "full_steady_s"),
    ("run_full_rss_mb", "  full run peak RSS MB", "<= 500", "full_rss_mb"),
    ("run_full_findings", "  full run findings", "", "full_findings"),
    ("sessions", "  sessions in the full window", "", "sessions"),
    ("run_48h_s", "48-hour run s", "<= 2", "h48_s"),
    ("run_48h_rss_mb", "  48-hour run peak RSS MB", "", "h48_rss_mb"),
    ("run_48h_findings", "  48-hour run findings", "", "h48_findings"),
    ("evaluate_full_s", "rules alone, full window s", "", "evaluate_full_s"),
    ("evaluate_48h_s", "rules alone, 48 hours s", "", "evaluate_48h_s"),
)


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
    print(f"{MARK}{label}_s={elapsed} {label}_rss_mb={_peak_mb()}", flush=True)


def _run(session: Any, as_of: dt.datetime, label: str, hourly: bool) -> None:
    full = {"lookback_days": LOOKBACK_DAYS, "horizon_days": HORIZON_DAYS}
    t0 = time.perf_counter()
    first = runs.run_compliance(session, SYSTEM, as_of=as_of, **full)
    t1 = time.perf_counter()
    if hourly:
        run = runs.run_compliance(session, SYSTEM, as_of=as_of + dt.timedelta(hours=1),
                                  lookback_days=0, horizon_days=2)
        elapsed = time.perf_counter() - t1
        print(f"bench_compliance {label}: {elapsed:.2f} s "
              f"(after a full run of {t1 - t0:.2f} s), {run.findings} findings, "
              f"{run.flags_cleared} cleared, peak RSS {_peak_mb():.0f} MB", flush=True)
        print(f"{MARK}run_48h_s={elapsed} run_48h_rss_mb={_peak_mb()} "
              f"run_48h_findings={run.findings}", flush=True)
        return
    print(f"bench_compliance {label} first (opens {first.flags_opened} flags): "
          f"{t1 - t0:.2f} s, sessions_scanned {first.sessions_scanned}, "
          f"peak RSS {_peak_mb():.0f} MB", flush=True)
    second = runs.run_compliance(session, SYSTEM, as_of=as_of + dt.timedelta(minutes=1), **full)
    t2 = time.perf_counter()
    print(f"bench_compliance {label} steady (refreshes {second.findings} findings): "
          f"{t2 - t1:.2f} s, peak RSS {_peak_mb():.0f} MB", flush=True)
    print(f"{MARK}run_full_first_s={t1 - t0} run_full_steady_s={t2 - t1} "
          f"run_full_rss_mb={_peak_mb()} run_full_findings={second.findings} "
          f"sessions={first.sessions_scanned}", flush=True)


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


def rule_set() -> str:
    """What a run evaluates, checked against the catalogue: every rule a scan detects has an
    evaluator, and every evaluator belongs to a rule of the catalogue (evaluate_all runs only
    the catalogue's codes, so an evaluator outside it would silently never run)."""
    scanned = set(SESSION_RULES) | set(EVALUATORS)
    events = {code for code, spec in CATALOGUE.items() if spec.detected_by == "event"}
    unevaluated = set(CATALOGUE) - scanned - events
    outside = scanned - set(CATALOGUE)
    if unevaluated or outside:
        raise SystemExit(f"the rule set is not the catalogue: scanned rules without an "
                         f"evaluator {sorted(unevaluated)}, evaluators of no catalogue rule "
                         f"{sorted(outside)}")
    complaints = sorted(c for c in scanned if c.startswith("COMPLAINT"))
    return (f"{len(scanned)} of the catalogue's {len(CATALOGUE)} rules scanned by every run "
            f"({len(SESSION_RULES)} in the session pass; §10 {', '.join(complaints)}); "
            f"{len(events)} raised by events, not timed here: {', '.join(sorted(events))}")


def _child(args: argparse.Namespace, figure: str, figures: Figures) -> None:
    cmd = [sys.executable, "-m", "benchmarks.bench_compliance", args.url, "--child", figure,
           "--as-of", args.as_of] + (["--per-rule"] if args.per_rule else [])
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(MARK):
                for pair in line.removeprefix(MARK).split():
                    name, value = pair.split("=")
                    figures.add(name, float(value))
            else:
                print(f"  {line}", end="", flush=True)
    if proc.returncode:
        raise SystemExit(f"{figure} failed (exit status {proc.returncode})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("SUPERVISION_DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=3,
                        help="repeat each figure; the median is reported")
    parser.add_argument("--only", default=DEFAULT,
                        help=f"comma-separated, of {', '.join(FIGURES)} (default {DEFAULT})")
    parser.add_argument("--child", choices=FIGURES, help=argparse.SUPPRESS)
    parser.add_argument("--per-rule", action="store_true", help="time each rule on its own "
                        "(evaluate_* figures)")
    parser.add_argument("--as-of", default=AS_OF.isoformat())
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give a database URL or set SUPERVISION_DATABASE_URL")
    as_of = dt.datetime.fromisoformat(args.as_of)
    if args.child:
        measure(args.url, args.child, args.per_rule, as_of)
        return
    chosen = args.only.split(",")
    if set(chosen) - set(FIGURES) or args.runs < 1:
        parser.error(f"--only takes some of {', '.join(FIGURES)}; --runs at least 1")
    backend = args.url.split(":", 1)[0].split("+")[0]
    print(f"bench_compliance on {backend}, as_of {as_of.isoformat()}, {args.runs} runs: "
          f"{load_average()}", flush=True)
    print(f"rules: {rule_set()}", flush=True)
    figures = Figures()
    for r in range(1, args.runs + 1):
        for figure in chosen:
            print(f"run {r} {figure}:", flush=True)
            _child(args, figure, figures)
    print(f"bench_compliance end: {load_average()}", flush=True)
    report(figures, ROWS, args.runs, f"bench_compliance on {backend}: medians of {args.runs} "
           f"runs", always=("run_full_first_s", "run_full_steady_s", "run_48h_s"),
           extra=f"backend={backend} runs={args.runs}")


if __name__ == "__main__":
    main(sys.argv[1:])
