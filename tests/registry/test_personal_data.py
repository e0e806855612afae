"""Full resident ID numbers never leave the request that brought them.

Teachers and roster entries are created through the API; then no response body, no stored
row, no audit row and no log line (SQLAlchemy's statements and parameters included) may
contain any of the numbers, whatever their case.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from supervision.models import AuditLog

from ..support.factories import Factory
from ..support.registry_bodies import new_id_number, teacher_body

API = "/api/v1"


@pytest.fixture(autouse=True)
def log_everything(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # Autouse, so it runs before the test's database connection is opened: SQLAlchemy
    # decides whether to log a connection's statements when the connection is made.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.pool")
    yield


def _number_ending_in_x() -> str:
    while True:
        number = new_id_number()
        if number.endswith("X"):
            return number


def _leaks(haystack: str, numbers: list[str]) -> list[str]:
    return [n for n in numbers if n in haystack or n.lower() in haystack]


def _exercise_the_api(client: FlaskClient, make: Factory,
                      numbers: list[str]) -> list[TestResponse]:
    inst = make.institution()
    own = make.headers("institution", institution=inst)
    regulator = make.headers("regulator")
    near_miss = numbers[4][:17] + ("0" if numbers[4][17] != "0" else "1")
    calls = [
        client.post(f"{API}/teachers", json=teacher_body(id_number=numbers[0]), headers=own),
        client.post(f"{API}/teachers", headers=regulator,
                    json=teacher_body(id_number=numbers[1].lower(), institution_id=inst.id)),
        client.post(f"{API}/teachers", json=teacher_body(id_number=near_miss), headers=own),
        client.post(f"{API}/teachers", json=teacher_body(id_number=numbers[0] + "1"),
                    headers=own),
    ]
    teacher_id = calls[0].json["id"]
    calls += [
        client.patch(f"{API}/teachers/{teacher_id}", json={"id_number": numbers[2]},
                     headers=own),
        client.get(f"{API}/teachers", headers=own),
        client.get(f"{API}/teachers/{teacher_id}", headers=regulator),
        client.post(f"{API}/rosters/inservice-teachers", headers=regulator,
                    json={"id_numbers": [numbers[0], numbers[3]]}),
        client.post(f"{API}/rosters/blacklist", headers=regulator,
                    json={"id_numbers": [numbers[1], numbers[5]], "reason": "吊销"}),
        client.post(f"{API}/rosters/blacklist", headers=regulator,
                    json={"id_numbers": [numbers[5], near_miss], "reason": "吊销"}),
        client.get(f"{API}/audit?entity=teachers", headers=regulator),
        client.get(f"{API}/audit?entity=roster_entries", headers=regulator),
    ]
    return calls


def test_full_id_numbers_appear_in_no_response_row_audit_entry_or_log_line(
        client: FlaskClient, make: Factory, db: Session,
        caplog: pytest.LogCaptureFixture) -> None:
    numbers = [new_id_number() for _ in range(4)] + [_number_ending_in_x(), new_id_number()]
    near_miss = numbers[4][:17] + ("0" if numbers[4][17] != "0" else "1")
    secrets = [*numbers, near_miss]
    calls = _exercise_the_api(client, make, numbers)
    assert [c.status_code for c in calls] == [201, 201, 422, 422, 200, 200, 200, 200, 200,
                                              422, 200, 200]
    # The API did see them: masks in the answers, hashes stored, statements logged.
    assert calls[4].json["id_number_masked"] == numbers[2][:4] + "*" * 10 + numbers[2][-4:]
    assert calls[7].json == {"added": 2} and calls[8].json == {"added": 2}
    assert "INSERT INTO teachers" in caplog.text and "roster_entries" in caplog.text

    for resp in calls:
        assert _leaks(resp.get_data(as_text=True), secrets) == [], resp.request.path

    db.expire_all()
    audit = json.dumps([[r.actor, r.entity, r.entity_id, r.changes]
                        for r in db.scalars(select(AuditLog))], ensure_ascii=False)
    assert "teachers" in audit and "roster_entries" in audit
    assert _leaks(audit, secrets) == []

    for table in ("teachers", "roster_entries"):
        stored = json.dumps([list(row) for row in db.execute(text(f"select * from {table}"))],
                            default=str, ensure_ascii=False)
        assert _leaks(stored, secrets) == [], table

    assert _leaks(caplog.text, secrets) == []
    assert all(_leaks(record.getMessage(), secrets) == [] for record in caplog.records)
