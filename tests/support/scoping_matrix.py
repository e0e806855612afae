"""The scoping matrix's machinery, shared by every module that adds endpoints.

A `World` holds two districts (A: 320213, B: 320282) with one institution each and everything
an institution owns, and a principal for each way of looking at them. The target is always
B's data; the intruders are A's district regulator, institution A and parent A. An endpoint
row (`Endpoint`) says which roles may call it at all and what kind of answer scoping gives:

    object     an id in the path: 404 for an intruder whose role may call the endpoint
    list       a collection: 200 without any of B's rows
    reference  B's id inside the body: 422 naming `field`
    public     anyone who may call it sees it (B's public profile)
    unscoped   city-wide data: any caller of an allowed role gets it
    citywide   city-wide data only the city may change: a district regulator gets 403 too

Roles that may not call the endpoint get 403 whatever the id. An intruder never gets data and
a refused call never writes (the audit log does not grow). Each row also runs as B's `owner`
afterwards, so a wrong path or body cannot make the refusals pass vacuously.

Escrow and compliance tests reuse this: build a World, add their objects of B to
`world.ids`, and call `check_intruder` / `check_owner` with their own rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision.access.principals import create_principal
from supervision.models import AuditLog, Institution

from .factories import SHANGHAI, Factory
from .parties import bearer

DISTRICT_A, DISTRICT_B = "320213", "320282"
INTRUDERS = ("regulator_a", "institution_a", "parent_a")
DISTRICT_REGULATORS = frozenset({"regulator_a", "regulator_b"})
ROLE_OF = {"regulator_city": "regulator", "regulator_a": "regulator", "regulator_b": "regulator",
           "institution_a": "institution", "institution_b": "institution",
           "parent_a": "parent", "parent_b": "parent"}
ERROR_KEYS = {"code", "status", "message", "errors", "rule"}
# Names only B's rows carry, so a leak shows up in any response text.
B_MARKS = ("乙机构宜兴培训中心", "乙机构钱老师", "乙机构高一物理", "宜兴市乙机构路")


@dataclass
class World:
    session: Session
    institution_a: Institution
    institution_b: Institution
    ids: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    principal_ids: dict[str, int] = field(default_factory=dict)


def build_world(make: Factory) -> World:
    a = make.institution(name="甲机构梁溪培训中心", district_code=DISTRICT_A)
    b = make.institution(name=B_MARKS[0], district_code=DISTRICT_B, address=B_MARKS[3])
    world = World(session=make.session, institution_a=a, institution_b=b)
    for side, inst in (("a", a), ("b", b)):
        venue = make.venue(inst, address=f"{B_MARKS[3]}教学点" if side == "b" else "甲教学点")
        teacher = make.teacher(inst, name=B_MARKS[1] if side == "b" else "甲机构孙老师")
        course = make.course(inst, venue_id=venue.id,
                             name=B_MARKS[2] if side == "b" else "甲机构初二数学")
        session = make.session_of(course, teacher,
                                  starts_at=dt.datetime(2026, 12, 8, 18, tzinfo=SHANGHAI))
        world.ids.update({f"inst_{side}": inst.id, f"venue_{side}": venue.id,
                          f"teacher_{side}": teacher.id, f"course_{side}": course.id,
                          f"session_{side}": session.id})
    for key, role in ROLE_OF.items():
        institution = {"institution_a": a, "institution_b": b}.get(key)
        district = {"regulator_a": DISTRICT_A, "regulator_b": DISTRICT_B}.get(key)
        principal, token = create_principal(
            make.session, role=role, name=key, district_code=district,
            institution_id=institution.id if institution else None)
        world.headers[key] = bearer(token)
        world.principal_ids[key] = principal.id
    return world


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with world.ids, e.g. "/institutions/{inst_b}"
    roles: frozenset[str]
    kind: str = "object"
    body: Callable[[World], Any] | None = None
    owner: str = "institution_b"
    owner_status: int = 200
    public_to: frozenset[str] = frozenset()
    field: str | None = None  # for kind "reference": the error key naming B's id

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def endpoint(method: str, path: str, roles: str, **kw: Any) -> Endpoint:
    """Shorthand: roles as a space-separated string, public_to likewise."""
    public_to = frozenset(kw.pop("public_to", "").split())
    return Endpoint(method, path, frozenset(roles.split()), public_to=public_to, **kw)


def call(client: FlaskClient, world: World, ep: Endpoint, caller: str) -> TestResponse:
    body = ep.body(world) if ep.body else None
    return client.open(f"/api/v1{ep.path.format(**world.ids)}", method=ep.method, json=body,
                       headers=world.headers[caller])


def audit_rows(world: World) -> int:
    world.session.expire_all()
    return int(world.session.scalar(select(func.count()).select_from(AuditLog)) or 0)


def mentions_b(world: World, resp: TestResponse) -> bool:
    text = resp.get_data(as_text=True)
    if any(mark in text for mark in B_MARKS) or world.institution_b.uscc in text:
        return True
    return _has_b_row(resp.json if resp.is_json else None, world.ids["inst_b"])


def _has_b_row(data: Any, inst_b: int) -> bool:
    if isinstance(data, list):
        return any(_has_b_row(item, inst_b) for item in data)
    if isinstance(data, dict):
        return data.get("institution_id") == inst_b or any(
            _has_b_row(v, inst_b) for v in data.values() if isinstance(v, list | dict))
    return False


def expected_answer(ep: Endpoint, caller: str) -> str:
    role = ROLE_OF[caller]
    if role not in ep.roles:
        return "forbidden"
    if ep.kind == "citywide":
        return "forbidden" if caller in DISTRICT_REGULATORS else "allowed"
    if role in ep.public_to or ep.kind in {"public", "unscoped"}:
        return "allowed"
    return {"object": "not_found", "list": "hidden", "reference": "invalid"}[ep.kind]


def check_intruder(client: FlaskClient, world: World, ep: Endpoint, intruder: str) -> None:
    before = audit_rows(world)
    resp = call(client, world, ep, intruder)
    answer = expected_answer(ep, intruder)
    detail = f"{intruder} → {ep.name}: {resp.status_code} {resp.get_data(as_text=True)[:300]}"
    if answer == "allowed":
        assert resp.status_code < 300, detail
        return
    if answer == "hidden":
        assert resp.status_code == 200, detail
        assert not mentions_b(world, resp), detail
        return
    status = {"forbidden": 403, "not_found": 404, "invalid": 422}[answer]
    assert resp.status_code == status, detail
    assert set(resp.json) <= ERROR_KEYS, detail
    assert not mentions_b(world, resp), detail
    if answer == "invalid" and ep.field:
        assert ep.field in resp.json["errors"], detail
    assert audit_rows(world) == before, f"{detail}: a refused call wrote something"


def check_owner(client: FlaskClient, world: World, ep: Endpoint) -> None:
    """The same call from B's side works (and a list shows B's rows)."""
    resp = call(client, world, ep, ep.owner)
    detail = f"{ep.owner} → {ep.name}: {resp.status_code} {resp.get_data(as_text=True)[:300]}"
    assert resp.status_code == ep.owner_status, detail
    if ep.kind == "list":
        assert mentions_b(world, resp), detail

