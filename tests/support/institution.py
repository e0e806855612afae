"""The institutions' portal as a test client drives it: the front desk's browser."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
GOOD_ID = "11010519491231002X"


def text(resp: TestResponse) -> str:
    return resp.get_data(as_text=True)


class Clerk:
    """A test client used as the front desk's browser."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, url: str = "/institution/signin") -> str:
        match = CSRF.search(text(self.client.get(url)))
        assert match, f"{url} has no CSRF token"
        return match.group(1)

    def sign_in(self, token: str) -> TestResponse:
        return self.client.post("/institution/signin", data={
            "csrf_token": self.csrf(), "token": token, "next": ""})

    def get(self, url: str) -> TestResponse:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, Any] | None = None) -> TestResponse:
        return self.client.post(url, data={"csrf_token": self.csrf("/institution/signin"),
                                           **(data or {})})


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)
