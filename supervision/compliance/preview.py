"""What a compliance run would raise about a course before it is saved (the portal's course
form warns with it): the course rules' own evaluators, so the form and the run cannot disagree
(no second copy of a rule's predicate in Python).

Inside a savepoint the course is written as it would be (created, or the existing one
changed, through the registry service that will save it, with all its checks), flushed, and
judged by the course rules with every query restricted to that one course; then the savepoint
is rolled back. Nothing stays: the audit rows the flush wrote are inside the savepoint too,
and the caller's transaction goes on as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from .. import clock
from ..access.scope import Actor
from ..models import Course
from ..registry.courses import create_course, update_course
from ..unit_of_work import trial
from .model import Finding, Window
from .rules import EVALUATORS
from .rules.base import Context

# The rules that judge a course by its own columns (and its institution's category).
COURSE_RULES = ("DISGUISED_SUBJECT", "CATEGORY_OUTSIDE_LICENSE", "PRESCHOOL_ONLINE",
                "PRESCHOOL_SUBJECT", "PRICE_ABOVE_GUIDE")


def preview_course(session: Session, actor: Actor, values: Mapping[str, Any], *,
                   course_id: int | None = None,
                   as_of: dt.datetime | None = None) -> list[Finding]:
    """The findings of COURSE_RULES about the course `values` describe: a new one, or course
    `course_id` with `values` changed. Raises what create_course / update_course would
    (Invalid, NotFound...); writes nothing."""
    with trial(session):
        if course_id is None:
            course = create_course(session, actor, values)
        else:
            course = update_course(session, actor, course_id, values)
        return course_findings(session, course.id, as_of=as_of)


def course_findings(session: Session, course_id: int, *,
                    as_of: dt.datetime | None = None) -> list[Finding]:
    """COURSE_RULES' findings about one (flushed) course, as a run at `as_of` would word them."""
    moment = as_of or clock.now()
    ctx = Context.of(session, Window.around(moment, lookback_days=0, horizon_days=0))
    with _only_course(session, course_id):
        return [f for code in COURSE_RULES for f in EVALUATORS[code](ctx)]


@contextmanager
def _only_course(session: Session, course_id: int) -> Iterator[None]:
    """Every ORM SELECT of `session` meanwhile sees the one course only (the rules' queries
    read the city's courses: restricted so, a preview costs one course, not a scan)."""
    criteria = with_loader_criteria(Course, Course.id == course_id, include_aliases=True)

    def restrict(state: ORMExecuteState) -> None:
        if state.is_select:
            state.statement = state.statement.options(criteria)

    event.listen(session, "do_orm_execute", restrict)
    try:
        yield
    finally:
        event.remove(session, "do_orm_execute", restrict)
