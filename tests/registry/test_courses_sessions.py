"""Courses and their sessions: declared as given, refused only when malformed or foreign."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from supervision import registry
from supervision.db import is_postgres
from supervision.errors import Conflict, Invalid, NotFound
from supervision.models import ClassSession, Course

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import SHANGHAI, audit_count, count, course_body, session_items

API = "/api/v1"


def _parsed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the schema hands the service: aware datetimes instead of ISO strings."""
    return [{**item, "starts_at": dt.datetime.fromisoformat(item["starts_at"]),
             "ends_at": dt.datetime.fromisoformat(item["ends_at"])} for item in items]


@pytest.fixture
def insert_statements(db: Session) -> Iterator[list[str]]:
    """Every INSERT INTO sessions sent to the database while the test runs."""
    seen: list[str] = []
    conn = db.connection()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SESSIONS"):
            seen.append(statement)

    event.listen(conn, "before_cursor_execute", record)
    yield seen
    event.remove(conn, "before_cursor_execute", record)


# --- course services -----------------------------------------------------------------------

@pytest.mark.parametrize("mode, minutes", [("offline", 45), ("online", 30)])
def test_the_class_hour_defaults_to_the_policy_length_of_the_mode(db: Session, make: Factory,
                                                                  mode: str,
                                                                  minutes: int) -> None:
    inst = make.institution()
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        course = registry.create_course(db, actor, course_body(mode=mode))
    assert course.minutes_per_class_hour == minutes
    assert course.institution_id == inst.id


@pytest.mark.parametrize("change, field", [
    ({"subject": "olympiad_math"}, "subject"),
    ({"grade_min": 13}, "grade_min"),
    ({"grade_min": 8, "grade_max": 7}, "grade_max"),
    ({"mode": "hybrid"}, "mode"),
    ({"category": "both"}, "category"),
    ({"price_per_class_hour_fen": -1}, "price_per_class_hour_fen"),
    ({"class_size": 0}, "class_size"),
])
def test_a_malformed_course_is_refused_naming_the_field(db: Session, make: Factory,
                                                        change: dict[str, Any],
                                                        field: str) -> None:
    inst = make.institution()
    with acting_as(db, "institution",
                   institution_id=inst.id) as actor, pytest.raises(Invalid) as caught:
        registry.create_course(db, actor, course_body(**change))
    assert field in caught.value.errors


def test_a_course_may_use_only_its_own_institutions_venue(db: Session, make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    own_venue, their_venue = make.venue(mine), make.venue(theirs)
    with acting_as(db, "institution", institution_id=mine.id) as actor:
        assert registry.create_course(db, actor, course_body(venue_id=own_venue.id)).venue_id
        with pytest.raises(Invalid) as caught:
            registry.create_course(db, actor, course_body(venue_id=their_venue.id))
    assert set(caught.value.errors) == {"venue_id"}


def test_a_disguised_subject_course_is_stored_as_declared(db: Session, make: Factory) -> None:
    inst = make.institution(category="non_subject")
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        course = registry.create_course(
            db, actor, course_body(name="思维训练营", subject="math", category="non_subject",
                            price_per_class_hour_fen=99000))
    assert course.category == "non_subject"


# --- session services ----------------------------------------------------------------------

def test_a_batch_of_five_hundred_offline_sessions_takes_the_course_venue(
        db: Session, make: Factory) -> None:
    inst = make.institution()
    venue = make.venue(inst)
    course = make.course(inst, venue_id=venue.id)
    teacher = make.teacher(inst)
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        rows = registry.schedule_sessions(db, actor, course.id,
                                          _parsed(session_items(teacher.id, 500)))
    assert len(rows) == 500 and len({r.id for r in rows}) == 500
    assert {r.venue_id for r in rows} == {venue.id}
    assert count(db, ClassSession, ClassSession.course_id == course.id) == 500


def test_on_postgresql_a_batch_is_sent_as_a_few_multi_row_inserts(
        db: Session, make: Factory, insert_statements: list[str]) -> None:
    # SQLite cannot promise the order of RETURNING rows, so SQLAlchemy inserts one row per
    # execute there; in-process that costs no network round trip. PostgreSQL batches.
    if not is_postgres(db):
        pytest.skip("multi-row INSERT ... RETURNING batching is a PostgreSQL matter")
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        registry.schedule_sessions(db, actor, course.id, _parsed(session_items(teacher.id, 500)))
    assert 1 <= len(insert_statements) <= 5


def test_one_bad_session_refuses_the_whole_batch(db: Session, make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    items = _parsed(session_items(teacher.id, 5))
    items[3]["ends_at"] = items[3]["starts_at"]
    with acting_as(db, "institution",
                   institution_id=inst.id) as actor, pytest.raises(Invalid) as caught:
        registry.schedule_sessions(db, actor, course.id, items)
    assert set(caught.value.errors) == {"sessions.3.ends_at"}
    assert count(db, ClassSession, ClassSession.course_id == course.id) == 0


def test_another_institutions_teacher_or_venue_is_refused(db: Session, make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    course = make.course(mine)
    own_teacher, their_teacher = make.teacher(mine), make.teacher(theirs)
    their_venue = make.venue(theirs)
    items = _parsed(session_items(own_teacher.id, 3))
    items[0]["teacher_id"] = their_teacher.id
    items[2]["venue_id"] = their_venue.id
    with acting_as(db, "institution",
                   institution_id=mine.id) as actor, pytest.raises(Invalid) as caught:
        registry.schedule_sessions(db, actor, course.id, items)
    assert set(caught.value.errors) == {"sessions.0.teacher_id", "sessions.2.venue_id"}


@pytest.mark.parametrize("size", [0, 501])
def test_a_batch_holds_one_to_five_hundred_sessions(db: Session, make: Factory,
                                                    size: int) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    with acting_as(db, "institution",
                   institution_id=inst.id) as actor, pytest.raises(Invalid) as caught:
        registry.schedule_sessions(db, actor, course.id, _parsed(session_items(teacher.id, size)))
    assert "sessions" in caught.value.errors


def test_an_online_session_keeps_no_venue_unless_given(db: Session, make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst, mode="online"), make.teacher(inst)
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        [row] = registry.schedule_sessions(db, actor, course.id, _parsed(session_items(teacher.id)))
    assert row.venue_id is None


def test_cancelling_twice_is_a_conflict(db: Session, make: Factory) -> None:
    inst = make.institution()
    cs = make.session_of(make.course(inst), make.teacher(inst))
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        assert registry.cancel_session(db, actor, cs.id).status == "cancelled"
        with pytest.raises(Conflict):
            registry.cancel_session(db, actor, cs.id)


def test_another_institutions_session_cannot_be_cancelled(db: Session, make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    cs = make.session_of(make.course(theirs), make.teacher(theirs))
    with acting_as(db, "institution", institution_id=mine.id) as actor, pytest.raises(NotFound):
        registry.cancel_session(db, actor, cs.id)


def test_sessions_are_listed_in_a_half_open_time_window(db: Session, make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    base = dt.datetime(2026, 12, 7, 18, 0, tzinfo=SHANGHAI)
    made = [make.session_of(course, teacher, starts_at=base + dt.timedelta(days=d))
            for d in range(4)]
    with acting_as(db, "parent") as actor:
        found = list(db.scalars(registry.sessions_query(
            db, actor, course_id=course.id, starts_from=base + dt.timedelta(days=1),
            starts_before=base + dt.timedelta(days=3))))
    assert [s.id for s in found] == [made[1].id, made[2].id]


# --- HTTP: courses -------------------------------------------------------------------------

def test_post_course_answers_201_with_the_defaults_filled_in(client: FlaskClient,
                                                             make: Factory) -> None:
    inst = make.institution()
    venue = make.venue(inst)
    resp = client.post(f"{API}/courses", json=course_body(venue_id=venue.id),
                       headers=make.headers("institution", institution=inst))
    assert resp.status_code == 201, resp.json
    assert resp.json["minutes_per_class_hour"] == 45
    assert resp.json["institution_id"] == inst.id
    assert resp.json["venue_id"] == venue.id


@pytest.mark.parametrize("change, field", [
    ({"subject": "奥数"}, "subject"),
    ({"grade_min": -1}, "grade_min"),
    ({"grade_min": 9, "grade_max": 3}, "grade_max"),
    ({"grade_max": "9"}, "grade_max"),
    ({"price_per_class_hour_fen": -100}, "price_per_class_hour_fen"),
    ({"price_per_class_hour_fen": 40.5}, "price_per_class_hour_fen"),
    ({"minutes_per_class_hour": 0}, "minutes_per_class_hour"),
    ({"venue_id": 10**12}, "venue_id"),
    ({"institution_id": 1}, "institution_id"),
])
def test_post_course_refuses_each_bad_field_and_writes_nothing(
        client: FlaskClient, make: Factory, db: Session, change: dict[str, Any],
        field: str) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    before = (count(db, Course), audit_count(db))
    resp = client.post(f"{API}/courses", json=course_body(**change), headers=headers)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]
    assert (count(db, Course), audit_count(db)) == before


@pytest.mark.parametrize("role", ["regulator", "parent"])
def test_only_institutions_create_courses(client: FlaskClient, make: Factory,
                                          role: str) -> None:
    resp = client.post(f"{API}/courses", json=course_body(), headers=make.headers(role))
    assert resp.status_code == 403


def test_parents_read_any_course_and_institutions_only_their_own(client: FlaskClient,
                                                                 make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    own, other = make.course(mine), make.course(theirs)
    parent = make.headers("parent")
    assert client.get(f"{API}/courses/{other.id}", headers=parent).status_code == 200
    listed = client.get(f"{API}/courses?institution_id={theirs.id}", headers=parent)
    assert [c["id"] for c in listed.json] == [other.id]
    institution = make.headers("institution", institution=mine)
    assert client.get(f"{API}/courses/{other.id}", headers=institution).status_code == 404
    assert [c["id"] for c in client.get(f"{API}/courses", headers=institution).json] == [own.id]


# --- HTTP: sessions ------------------------------------------------------------------------

def test_post_sessions_answers_201_with_the_created_list(client: FlaskClient,
                                                         make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst, mode="online"), make.teacher(inst)
    items = session_items(teacher.id, 3, minutes=30)
    resp = client.post(f"{API}/courses/{course.id}/sessions", json={"sessions": items},
                       headers=make.headers("institution", institution=inst))
    assert resp.status_code == 201, resp.json
    assert [s["starts_at"] for s in resp.json] == [i["starts_at"] for i in items]
    assert {s["status"] for s in resp.json} == {"scheduled"}
    assert {s["course_id"] for s in resp.json} == {course.id}


@pytest.mark.parametrize("change, field", [
    ({"ends_at": "2026-12-07T17:00:00+08:00"}, "sessions.1.ends_at"),
    ({"starts_at": "2026-12-07T18:00:00"}, "sessions.1.starts_at"),
    ({"teacher_id": None}, "sessions.1.teacher_id"),
    ({"teacher_id": "5"}, "sessions.1.teacher_id"),
    ({"room": "A"}, "sessions.1.room"),
])
def test_a_bad_session_is_named_by_position_and_nothing_is_written(
        client: FlaskClient, make: Factory, db: Session, change: dict[str, Any],
        field: str) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    headers = make.headers("institution", institution=inst)
    items = session_items(teacher.id, 3)
    items[1].update(change)
    before = (count(db, ClassSession), audit_count(db))
    resp = client.post(f"{API}/courses/{course.id}/sessions", json={"sessions": items},
                       headers=headers)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]
    assert (count(db, ClassSession), audit_count(db)) == before


@pytest.mark.parametrize("status", ["suspended", "revoked"])
def test_a_suspended_or_revoked_institution_schedules_no_session_and_nothing_is_written(
        client: FlaskClient, make: Factory, db: Session, status: str) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    headers = make.headers("institution", institution=inst)
    inst.status = status
    db.flush()
    before = (count(db, ClassSession), audit_count(db))
    resp = client.post(f"{API}/courses/{course.id}/sessions",
                       json={"sessions": session_items(teacher.id, 2)}, headers=headers)
    assert resp.status_code == 422, resp.json
    assert resp.json["rule"] == "INSTITUTION_NOT_ACTIVE"
    assert (count(db, ClassSession), audit_count(db)) == before


@pytest.mark.parametrize("size", [0, 501])
def test_zero_or_five_hundred_and_one_sessions_are_422(client: FlaskClient, make: Factory,
                                                      size: int) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    resp = client.post(f"{API}/courses/{course.id}/sessions",
                       json={"sessions": session_items(teacher.id, size)},
                       headers=make.headers("institution", institution=inst))
    assert resp.status_code == 422 and "sessions" in resp.json["errors"]


def test_sessions_of_another_institutions_course_are_404(client: FlaskClient,
                                                         make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    course, teacher = make.course(theirs), make.teacher(mine)
    resp = client.post(f"{API}/courses/{course.id}/sessions",
                       json={"sessions": session_items(teacher.id)},
                       headers=make.headers("institution", institution=mine))
    assert resp.status_code == 404


def test_the_session_list_filters_and_parents_may_read_it(client: FlaskClient,
                                                          make: Factory) -> None:
    inst = make.institution()
    course, teacher = make.course(inst), make.teacher(inst)
    base = dt.datetime(2027, 3, 1, 18, 0, tzinfo=SHANGHAI)
    made = [make.session_of(course, teacher, starts_at=base + dt.timedelta(days=d))
            for d in range(3)]
    resp = client.get(f"{API}/sessions", headers=make.headers("parent"), query_string={
        "course_id": course.id, "from": "2027-03-02T00:00:00+08:00",
        "to": "2027-03-10T00:00:00+08:00"})
    assert resp.status_code == 200
    assert [s["id"] for s in resp.json] == [made[1].id, made[2].id]
    assert resp.json[0]["starts_at"] == "2027-03-02T18:00:00+08:00"
    naive = client.get(f"{API}/sessions?from=2027-03-02T00:00:00",
                       headers=make.headers("parent"))
    assert naive.status_code == 422 and "from" in naive.json["errors"]


def test_cancel_answers_200_then_409(client: FlaskClient, make: Factory) -> None:
    inst = make.institution()
    cs = make.session_of(make.course(inst), make.teacher(inst))
    headers = make.headers("institution", institution=inst)
    first = client.post(f"{API}/sessions/{cs.id}/cancel", headers=headers)
    assert first.status_code == 200 and first.json["status"] == "cancelled"
    assert client.post(f"{API}/sessions/{cs.id}/cancel", headers=headers).status_code == 409


@pytest.mark.parametrize("role", ["regulator", "parent"])
def test_only_the_institution_cancels_sessions(client: FlaskClient, make: Factory,
                                               role: str) -> None:
    inst = make.institution()
    cs = make.session_of(make.course(inst), make.teacher(inst))
    resp = client.post(f"{API}/sessions/{cs.id}/cancel", headers=make.headers(role))
    assert resp.status_code == 403
