"""Value objects shared by the rulebook (rules/, catalogue.py) and the runs that use it.

No I/O here: a window says what is judged, a finding says what was found, a rule spec says
what a rule is. The run (compliance.runs) turns findings into flags and clears what is no
longer found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

# How a run clears a rule's open flags that were not found again:
# "session"  - only flags whose subject is a session starting inside the window (sessions outside
#              it were not judged). Such a rule may also report a non-session subject (the
#              calendar year of CALENDAR_DATA_MISSING, an enrollment taken while suspended):
#              those are never cleared by a run, people resolve them (they reopen if found again).
# "registry" - the whole rule is judged every run (teachers, courses, institutions).
# "escrow"   - judged whole every run from the escrow tables (enrollments, refunds).
Scope = Literal["session", "registry", "escrow"]
# "scan": found by evaluate_all, so a run may clear it. "event": raised by an escrow event
# (a dispute, a rejected refund, reconciliation) and never found by a scan, so never cleared by one.
DetectedBy = Literal["scan", "event"]


@dataclass(frozen=True)
class Window:
    """What one run judges: sessions starting in [start, end]; registry facts at as_of's date.

    All three are aware datetimes. Local dates and times are Asia/Shanghai (+08:00, no DST).
    """

    as_of: dt.datetime
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        for name in ("as_of", "start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"Window.{name} must be an aware datetime")
        if self.end < self.start:
            raise ValueError("Window.end is before Window.start")

    @classmethod
    def around(cls, as_of: dt.datetime, *, lookback_days: int = 7,
               horizon_days: int = 30) -> Window:
        """The window API.md §5 describes: [as_of - lookback, as_of + horizon]."""
        return cls(as_of=as_of, start=as_of - dt.timedelta(days=lookback_days),
                   end=as_of + dt.timedelta(days=horizon_days))


@dataclass(frozen=True)
class Finding:
    """One rule broken by one subject; becomes (or refreshes) the flag (rule, subject)."""

    rule: str
    severity: str
    institution_id: int | None
    subject_type: str
    subject_id: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleSpec:
    """A rule of RULES.md as data: code, titles, severity, legal basis, parameters it reads."""

    code: str
    title_zh: str
    title_en: str
    severity: str
    legal_basis: str
    parameters: tuple[str, ...]
    scope: Scope
    detected_by: DetectedBy = "scan"
