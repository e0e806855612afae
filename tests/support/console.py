"""Helpers for the console tests: a signed-in browser session, CSRF tokens, demo data.

(Named test_* only to sit with the console's tests; it holds no tests itself.)
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision import clock
from supervision.access.scope import SYSTEM
from supervision.compliance.runs import run_compliance
from supervision.devtools.demo import seed_demo
from supervision.models import Flag, Institution

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
WUXI = "demo-regulator-wuxi"  # a city-wide regulator of the demo set
LIANGXI = "demo-regulator-liangxi"  # the 梁溪区 (320213) regulator of the demo set


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


class Browser:
    """A test client that signs in like a person and submits forms with their CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.client.get(url, **kw)

    def token(self, url: str = "/console/flags") -> str:
        return csrf_of(self.client.get(url).get_data(as_text=True))

    def sign_in(self, token: str, *, next_url: str = "") -> TestResponse:
        csrf = csrf_of(self.client.get("/console/signin").get_data(as_text=True))
        return self.client.post("/console/signin",
                                data={"csrf_token": csrf, "token": token, "next": next_url})

    def post(self, url: str, data: dict[str, Any], *, csrf_from: str = "/console/flags",
             with_csrf: bool = True) -> TestResponse:
        form = dict(data)
        if with_csrf:
            form["csrf_token"] = self.token(csrf_from)
        return self.client.post(url, data=form)

    def act(self, flag_id: int, action: str, **fields: Any) -> TestResponse:
        data = {"action": action, **{k: v for k, v in fields.items() if v is not None}}
        return self.post(f"/console/flags/{flag_id}/actions", data,
                         csrf_from=f"/console/flags/{flag_id}")


def now_local() -> dt.datetime:
    return clock.local_now()


def load_demo(db: Session) -> None:
    """The Wuxi demo registries and one compliance run over them; no money, so that the money
    tests can state exact figures of their own."""
    seed_demo(db, with_money=False)
    run_compliance(db, SYSTEM, as_of=now_local())
    db.flush()


def flags(db: Session, **where: Any) -> list[Flag]:
    stmt = select(Flag).order_by(Flag.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Flag, name) == value)
    return list(db.scalars(stmt))


def flag_in_district(db: Session, district: str, *, status: str = "open") -> Flag:
    stmt = (select(Flag).join(Institution, Institution.id == Flag.institution_id)
            .where(Institution.district_code == district, Flag.status == status)
            .order_by(Flag.id))
    flag = db.scalars(stmt).first()
    assert flag is not None, f"the demo run found no {status} flag in {district}"
    return flag


def institution_named(db: Session, name: str) -> Institution:
    inst = db.scalars(select(Institution).where(Institution.name == name)).first()
    assert inst is not None
    return inst
