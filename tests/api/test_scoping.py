"""The role × endpoint scoping matrix (OWASP API1): out of scope is 404, a forbidden role 403.

Add an endpoint by appending a row to ENDPOINTS (see tests/scoping.py for the kinds); every
row is run by each intruder and then, as a control, by B's owner.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..support.factories import Factory
from ..support.registry_bodies import (
    course_body,
    institution_body,
    new_id_number,
    session_items,
    teacher_body,
)
from ..support.scoping_matrix import (
    DISTRICT_B,
    INTRUDERS,
    Endpoint,
    World,
    build_world,
    check_intruder,
    check_owner,
    endpoint,
)

STAFF = "regulator institution"
ANYONE = "regulator institution parent"


def _teacher_of_b(world: World) -> dict[str, object]:
    return teacher_body(institution_id=world.ids["inst_b"])


ENDPOINTS: list[Endpoint] = [
    # Institutions and venues
    endpoint("GET", "/institutions", STAFF, kind="list"),
    endpoint("GET", "/institutions?district_code=" + DISTRICT_B, STAFF, kind="list"),
    endpoint("POST", "/institutions", "regulator", kind="reference", field="district_code",
             body=lambda w: institution_body(district_code=DISTRICT_B),
             owner="regulator_b", owner_status=201),
    endpoint("GET", "/institutions/{inst_b}", STAFF),
    endpoint("PATCH", "/institutions/{inst_b}", STAFF, body=lambda w: {"address": "改了"}),
    endpoint("POST", "/institutions/{inst_b}/status", "regulator", owner="regulator_b",
             body=lambda w: {"status": "suspended", "reason": "检查"}),
    endpoint("GET", "/institutions/{inst_b}/public", ANYONE, kind="public"),
    endpoint("GET", "/institutions/{inst_b}/venues", STAFF),
    endpoint("POST", "/institutions/{inst_b}/venues", STAFF, owner_status=201,
             body=lambda w: {"address": "新教学点", "capacity": 10}),
    # Teachers
    endpoint("GET", "/teachers", STAFF, kind="list"),
    endpoint("GET", "/teachers?institution_id={inst_b}", STAFF, kind="list"),
    endpoint("POST", "/teachers", STAFF, kind="reference", field="institution_id",
             body=_teacher_of_b, owner_status=201),
    endpoint("GET", "/teachers/{teacher_b}", STAFF),
    endpoint("PATCH", "/teachers/{teacher_b}", STAFF,
             body=lambda w: {"employment": "part_time"}),
    # Rosters: the city's lists, not any institution's, and not a district's to change
    endpoint("POST", "/rosters/inservice-teachers", "regulator", kind="citywide",
             owner="regulator_city", body=lambda w: {"id_numbers": [new_id_number()]}),
    endpoint("POST", "/rosters/blacklist", "regulator", kind="citywide",
             owner="regulator_city",
             body=lambda w: {"id_numbers": [new_id_number()], "reason": "测试"}),
    # Courses and sessions: parents may read any course and session
    endpoint("GET", "/courses", ANYONE, kind="list", public_to="parent"),
    endpoint("GET", "/courses?institution_id={inst_b}", ANYONE, kind="list",
             public_to="parent"),
    endpoint("POST", "/courses", "institution", kind="reference", field="venue_id",
             body=lambda w: course_body(venue_id=w.ids["venue_b"]),
             owner_status=201),
    endpoint("GET", "/courses/{course_b}", ANYONE, public_to="parent"),
    endpoint("PATCH", "/courses/{course_b}", STAFF, body=lambda w: {"class_size": 12}),
    endpoint("POST", "/courses/{course_b}/sessions", "institution", owner_status=201,
             body=lambda w: {"sessions": session_items(w.ids["teacher_b"])}),
    endpoint("GET", "/sessions", ANYONE, kind="list", public_to="parent"),
    endpoint("GET", "/sessions?institution_id={inst_b}", ANYONE, kind="list",
             public_to="parent"),
    endpoint("POST", "/sessions/{session_b}/cancel", "institution"),
    # The audit log
    endpoint("GET", "/audit?entity=institutions&entity_id={inst_b}", "regulator",
             kind="list", owner="regulator_b"),
]


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda ep: ep.name)
def test_intruders_get_404_or_403_and_never_data_while_the_owner_gets_through(
        client: FlaskClient, make: Factory, ep: Endpoint) -> None:
    # One world per row, all intruders in turn (a failure names the intruder): building
    # the app and the world dominates the cost, so rows × intruders tests would triple it.
    world = build_world(make)
    for intruder in INTRUDERS:
        check_intruder(client, world, ep, intruder)
    check_owner(client, world, ep)


def test_a_session_of_another_institutions_course_cannot_use_b_s_teacher(
        client: FlaskClient, make: Factory) -> None:
    world = build_world(make)
    own_course = endpoint("POST", "/courses/{course_a}/sessions", "institution",
                          kind="reference", field="sessions.0.teacher_id",
                          body=lambda w: {"sessions": session_items(w.ids["teacher_b"])})
    check_intruder(client, world, own_course, "institution_a")


def test_the_matrix_names_every_registry_route(app: Flask) -> None:
    # A route added to these blueprints without a row here would escape the matrix.
    covered = {(ep.method, ep.path.split("?")[0]) for ep in ENDPOINTS}
    placeholders = {"institution_id": "inst_b", "teacher_id": "teacher_b",
                    "course_id": "course_b", "session_id": "session_b"}
    blueprints = ("institutions.", "teachers.", "rosters.", "courses.", "audit.")
    missing, checked = [], 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(blueprints):
            continue
        path = rule.rule.removeprefix("/api/v1")
        for arg, name in placeholders.items():
            path = path.replace(f"<int:{arg}>", f"{{{name}}}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            checked += 1
            if (method, path) not in covered:
                missing.append(f"{method} {path}")
    assert checked >= 21  # the registry routes of today really were compared
    assert missing == []
