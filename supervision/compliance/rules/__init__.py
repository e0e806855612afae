"""The rulebook's evaluation: each rule of the catalogue is one set-based SQL query run by the
database (SQLite and PostgreSQL alike), whose few result rows become Findings.

One module per RULES.md section; each exposes EVALUATORS (code → function of a Context).
Rules raised by escrow events (detected_by "event") have no evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy.orm import Session

from ..catalogue import CATALOGUE
from ..model import Finding, Window
from . import complaints, escrow, institutions, prices, subjects, teachers, timing
from .base import Context, Evaluator
from .scan import SessionRule, scan_sessions

# Rules judged per session, all in one pass over the window's sessions.
SESSION_RULES: dict[str, SessionRule] = {
    **timing.SESSION_RULES,
    **teachers.SESSION_RULES,
    **institutions.SESSION_RULES,
}
# Every other rule: its own query. A code may have both (OPERATING_WHILE_SUSPENDED).
EVALUATORS: dict[str, Evaluator] = {
    **subjects.EVALUATORS,
    **timing.EVALUATORS,
    **escrow.EVALUATORS,
    **prices.EVALUATORS,
    **teachers.EVALUATORS,
    **institutions.EVALUATORS,
    **complaints.EVALUATORS,
}


def evaluate_all(session: Session, window: Window,
                 codes: Iterable[str] | None = None) -> Iterator[Finding]:
    """Every finding of every scanned rule (or of `codes` only): first the session rules in
    one streamed pass, then each other rule (fetched whole before its findings are yielded).
    A caller may write with the same session while iterating (the run stages its findings so)."""
    wanted = set(CATALOGUE) if codes is None else set(codes)
    unknown = wanted - set(CATALOGUE)
    if unknown:
        raise KeyError(f"unknown rule codes: {sorted(unknown)}")
    ctx = Context.of(session, window)
    yield from scan_sessions(ctx, [rule for code, rule in SESSION_RULES.items()
                                   if code in wanted])
    for code in CATALOGUE:
        if code in wanted and code in EVALUATORS:
            yield from list(EVALUATORS[code](ctx))


def evaluated_codes() -> set[str]:
    """Every code the scan can find (the rest are raised by escrow events)."""
    return set(SESSION_RULES) | set(EVALUATORS)


__all__ = ["EVALUATORS", "SESSION_RULES", "evaluate_all", "evaluated_codes"]
