"""RULES.md §6's staff rules judge the people employed on the run's day: a teacher who left
(离职) before it is not judged any more; one leaving on that very day still is."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from supervision.identifiers import hash_id_number
from supervision.models import RosterEntry

from ..support.factories import Factory
from ..support.rules import AS_OF, run, subjects, world

DAY = AS_OF.date()  # the rules' world runs as of 2026-12-01


def _on_both_rosters(db: Session, number: str) -> None:
    key = db.info["settings"].id_hash_key
    for kind in ("blacklist", "inservice"):
        db.add(RosterEntry(kind=kind, id_number_hash=hash_id_number(number, key),
                           reason="测试"))
    db.flush()


@pytest.mark.parametrize("code", ["STAFF_BLACKLISTED", "INSERVICE_TEACHER",
                                  "STAFF_BACKGROUND_MISSING"])
def test_a_teacher_who_left_before_the_day_is_not_judged_and_one_leaving_on_it_is(
        db: Session, make: Factory, code: str) -> None:
    w = world(make)
    people = {}
    for name, left_on in (("gone", DAY - dt.timedelta(days=1)), ("leaving", DAY),
                          ("staying", None)):
        number = make.id_number()
        _on_both_rosters(db, number)
        people[name] = make.teacher(w.institution, id_number=number, left_on=left_on,
                                    background_check_status="pending")
    found = subjects(run(db, code))
    assert str(people["gone"].id) not in found
    assert {str(people["leaving"].id), str(people["staying"].id)} <= found
