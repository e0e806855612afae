"""Helpers for the rule tests (tests/compliance/test_rules_*.py): a compliant world, findings
of one rule, fixed instants."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI as SH
from supervision.compliance.model import Finding, Window
from supervision.compliance.rules import evaluate_all
from supervision.models import ClassSession, Course, Institution, Teacher, Venue

from .factories import Factory

# A Tuesday; the default window (7 days back, 30 ahead) lies inside 2026, which
# chinesecalendar 1.11 covers, and inside the configured 2026-2027 school year.
AS_OF = dt.datetime(2026, 12, 1, 9, 0, tzinfo=SH)


def at(year: int, month: int, day: int, hour: int = 18, minute: int = 0,
       second: int = 0) -> dt.datetime:
    """An Asia/Shanghai local time."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SH)


def run(db: Session, code: str, *, as_of: dt.datetime = AS_OF,
        window: Window | None = None) -> list[Finding]:
    return list(evaluate_all(db, window or Window.around(as_of), codes=[code]))


def subjects(findings: list[Finding], subject_type: str | None = None) -> set[str]:
    return {f.subject_id for f in findings
            if subject_type is None or f.subject_type == subject_type}


def only(findings: list[Finding], subject_id: Any) -> Finding:
    matching = [f for f in findings if f.subject_id == str(subject_id)]
    assert len(matching) == 1, findings
    return matching[0]


@dataclass
class World:
    """A compliant institution with a venue, a qualified teacher and a subject course."""

    make: Factory
    institution: Institution
    venue: Venue
    teacher: Teacher
    course: Course

    def session(self, starts_at: dt.datetime, minutes: int = 90,
                course: Course | None = None, **kw: Any) -> ClassSession:
        return self.make.session_of(course or self.course, self.teacher, starts_at=starts_at,
                                    minutes=minutes, **kw)

    def course_like(self, **kw: Any) -> Course:
        values: dict[str, Any] = {"venue_id": self.venue.id}
        values.update(kw)
        return self.make.course(self.institution, **values)


def world(make: Factory, institution: dict[str, Any] | None = None,
          **course: Any) -> World:
    inst = make.institution(**(institution or {}))
    venue = make.venue(inst)
    teacher = make.teacher(inst)
    values: dict[str, Any] = {"venue_id": venue.id}
    values.update(course)
    return World(make, inst, venue, teacher, make.course(inst, **values))
