"""离职: a teacher's left_on, set by an edit; no session after it may be scheduled, and none may
remain scheduled when it is recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision import clock, registry
from supervision.errors import Conflict, Invalid
from supervision.models import Institution, Teacher

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import teacher_body

API = "/api/v1"


def _at(day: dt.date, hour: int = 18) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), clock.SHANGHAI)


def _item(teacher: Teacher, day: dt.date) -> dict[str, Any]:
    return {"starts_at": _at(day), "ends_at": _at(day, 19), "teacher_id": teacher.id}


def _left(db: Session, inst: Institution, teacher: Teacher, day: dt.date | None) -> Teacher:
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        return registry.update_teacher(db, actor, teacher.id, {"left_on": day})


def test_a_teacher_marked_left_today_keeps_the_day_and_null_undoes_it(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    teacher = make.teacher(inst)
    assert _left(db, inst, teacher, clock.today()).left_on == clock.today()
    assert _left(db, inst, teacher, None).left_on is None


@pytest.mark.parametrize("day, why", [
    (dt.date(2026, 1, 31), "must not be before hired_on"),  # the factory hires on 2026-02-01
    (None, "must not be after today"),
])
def test_leaving_before_the_hiring_or_after_today_is_refused(
        db: Session, make: Factory, day: dt.date | None, why: str) -> None:
    inst = make.institution()
    teacher = make.teacher(inst)
    with pytest.raises(Invalid) as caught:
        _left(db, inst, teacher, day or clock.today() + dt.timedelta(days=1))
    assert caught.value.errors == {"left_on": [why]}


def test_a_new_hiring_day_after_the_leaving_day_is_refused(db: Session,
                                                           make: Factory) -> None:
    inst = make.institution()
    teacher = make.teacher(inst, left_on=dt.date(2026, 3, 1))
    with acting_as(db, "institution", institution_id=inst.id) as actor, \
            pytest.raises(Invalid) as caught:
        registry.update_teacher(db, actor, teacher.id, {"hired_on": "2026-04-01"})
    assert "left_on" in caught.value.errors


def test_a_session_after_the_leaving_day_is_refused_and_one_on_it_is_not(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    course = make.course(inst)
    today = clock.today()
    teacher = make.teacher(inst, left_on=today)
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        with pytest.raises(Invalid) as caught:
            registry.schedule_sessions(db, actor, course.id, [
                _item(teacher, today), _item(teacher, today + dt.timedelta(days=1))])
        assert list(caught.value.errors) == ["sessions.1.teacher_id"]
        assert "left on" in caught.value.errors["sessions.1.teacher_id"][0]
        assert len(registry.schedule_sessions(db, actor, course.id,
                                              [_item(teacher, today)])) == 1


def test_a_teacher_with_sessions_still_scheduled_after_the_day_cannot_be_marked_left(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    later = make.session_of(course, teacher, starts_at=_at(clock.today() + dt.timedelta(days=3)))
    with pytest.raises(Conflict):
        _left(db, inst, teacher, clock.today())
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        registry.cancel_session(db, actor, later.id)
    assert _left(db, inst, teacher, clock.today()).left_on == clock.today()


def test_patch_teacher_sets_left_on_and_get_shows_it(client: FlaskClient,
                                                     make: Factory) -> None:
    inst = make.institution()
    teacher = make.teacher(inst)
    headers = make.headers("institution", institution=inst)
    today = clock.today().isoformat()
    resp = client.patch(f"{API}/teachers/{teacher.id}", json={"left_on": today},
                        headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["left_on"] == today
    assert client.get(f"{API}/teachers/{teacher.id}", headers=headers).json["left_on"] == today


def test_a_new_teacher_cannot_be_registered_as_already_left(client: FlaskClient,
                                                            make: Factory) -> None:
    inst = make.institution()
    resp = client.post(f"{API}/teachers", json=teacher_body(left_on="2026-03-01"),
                       headers=make.headers("institution", institution=inst))
    assert resp.status_code == 422
