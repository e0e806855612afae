"""The escrow status read (API.md §4, issue 14): the newest movements a page at a time with a
cursor to the older ones, the enrollment, balances and sums in a fixed number of statements
however long the history, and the parents' page turning the same pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from supervision.escrow.queries import MOVEMENTS_PAGE

from ..support.escrow_world import BUCKETS, World
from ..support.parties import party

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def escrow(client: FlaskClient, w: World, enrollment_id: int, **query: Any) -> dict[str, Any]:
    resp = client.get(f"/api/v1/enrollments/{enrollment_id}/escrow", headers=w.parent.headers,
                      query_string=query)
    assert resp.status_code == 200, resp.json
    status = dict(resp.json or {})
    assert status["paid_fen"] == sum(status[k] for k in BUCKETS)
    return status


def history(client: FlaskClient, w: World, *, consumptions: int, confirmed: int = 0,
            hours: int = 0) -> dict[str, Any]:
    """A paid enrollment with a deposit, `consumptions` billed classes and the first
    `confirmed` of them confirmed: 1 + consumptions + confirmed transfers."""
    e = w.paid_enrollment(client, hours=max(consumptions, hours, 1))
    billed = [w.attend(client, [e["id"]], cls=w.past_session(hours_ago=20 - i * 0.5),
                       class_hours=1).json["consumptions"][0] for i in range(consumptions)]
    for c in billed[:confirmed]:
        assert client.post(f"/api/v1/consumptions/{c['id']}/confirm",
                           headers=w.parent.headers).status_code == 200
    return e


def signature(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["kind"], line["from"], line["to"], line["ref_type"], line["ref_id"])


@contextmanager
def statements_sent(db: Session) -> Iterator[list[str]]:
    """The statements sent meanwhile, less the savepoints of the test's transaction and the
    bearer token's lookup (every API call makes it)."""
    sent: list[str] = []
    engine = db.get_bind()

    def count(*args: Any) -> None:
        sent.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)
        sent[:] = [s for s in sent if "SAVEPOINT" not in s and "FROM principals" not in s]


def test_pages_of_movements_run_newest_to_oldest_each_listed_oldest_first(
        client: FlaskClient, w: World) -> None:
    e = history(client, w, consumptions=3, confirmed=1)  # 5 transfers
    whole = escrow(client, w, e["id"], movements_limit=200)
    assert [m["kind"] for m in whole["movements"]] == [
        "deposit", "consumption", "consumption", "consumption", "confirmation"]
    assert whole["movements_next"] is None

    newest = escrow(client, w, e["id"], movements_limit=2)
    assert [signature(m) for m in newest["movements"]] == [
        signature(m) for m in whole["movements"][3:]]
    assert newest["movements_next"] is not None
    middle = escrow(client, w, e["id"], movements_limit=2,
                    movements_before=newest["movements_next"])
    assert [signature(m) for m in middle["movements"]] == [
        signature(m) for m in whole["movements"][1:3]]
    oldest = escrow(client, w, e["id"], movements_limit=2,
                    movements_before=middle["movements_next"])
    assert [m["kind"] for m in oldest["movements"]] == ["deposit"]
    assert oldest["movements"][0]["from"] == "custody"
    assert oldest["movements_next"] is None
    # Turning pages changes only the movements: the balances are the enrollment's.
    for page in (newest, middle, oldest):
        assert {k: page[k] for k in BUCKETS} == {k: whole[k] for k in BUCKETS}


def test_a_page_exactly_as_long_as_the_history_has_no_next(
        client: FlaskClient, w: World) -> None:
    e = history(client, w, consumptions=2)  # 3 transfers
    exact = escrow(client, w, e["id"], movements_limit=3)
    assert len(exact["movements"]) == 3 and exact["movements_next"] is None
    short = escrow(client, w, e["id"], movements_limit=2)
    assert len(short["movements"]) == 2 and short["movements_next"] is not None
    last = escrow(client, w, e["id"], movements_limit=2, movements_before=short["movements_next"])
    assert [m["kind"] for m in last["movements"]] == ["deposit"]
    assert last["movements_next"] is None


def test_a_page_never_splits_a_transfer_into_half_lines(client: FlaskClient, w: World) -> None:
    e = history(client, w, consumptions=2, confirmed=2)
    cursor: int | None = None
    lines: list[dict[str, Any]] = []
    while True:
        page = escrow(client, w, e["id"], movements_limit=1,
                      **({} if cursor is None else {"movements_before": cursor}))
        assert len(page["movements"]) == 1
        lines = page["movements"] + lines
        cursor = page["movements_next"]
        if cursor is None:
            break
    assert [m["kind"] for m in lines] == [
        "deposit", "consumption", "consumption", "confirmation", "confirmation"]
    assert all(m["from"] and m["to"] for m in lines)
    assert [m["session"]["course_name"] for m in lines[1:]] == [w.course.name] * 4


def test_by_default_the_newest_fifty_movements_come_with_a_cursor(
        client: FlaskClient, w: World) -> None:
    e = history(client, w, consumptions=30, confirmed=21)  # 52 transfers
    first = escrow(client, w, e["id"])
    assert MOVEMENTS_PAGE == 50 and len(first["movements"]) == 50
    assert first["movements"][-1]["kind"] == "confirmation"
    assert first["movements"][0]["kind"] == "consumption"
    rest = escrow(client, w, e["id"], movements_before=first["movements_next"])
    assert [m["kind"] for m in rest["movements"]] == ["deposit", "consumption"]
    assert rest["movements_next"] is None


@pytest.mark.parametrize("query", [
    {"movements_before": "abc"}, {"movements_before": 0}, {"movements_before": -5},
    {"movements_before": 2**63}, {"movements_before": "1.5"}, {"movements_limit": 0},
    {"movements_limit": 201}, {"movements_limit": "all"},
])
def test_a_bad_cursor_or_page_size_is_a_422(client: FlaskClient, w: World,
                                             query: dict[str, Any]) -> None:
    e = history(client, w, consumptions=1)
    resp = client.get(f"/api/v1/enrollments/{e['id']}/escrow", headers=w.parent.headers,
                      query_string=query)
    assert resp.status_code == 422, resp.json


def test_a_cursor_does_not_open_another_familys_enrollment(
        client: FlaskClient, w: World, db: Session) -> None:
    e = history(client, w, consumptions=2)
    cursor = escrow(client, w, e["id"], movements_limit=1)["movements_next"]
    stranger = party(db, "parent")
    resp = client.get(f"/api/v1/enrollments/{e['id']}/escrow", headers=stranger.headers,
                      query_string={"movements_limit": 1, "movements_before": cursor})
    assert resp.status_code == 404


def test_the_read_sends_the_same_few_statements_however_long_the_history(
        client: FlaskClient, w: World, db: Session) -> None:
    short, long = history(client, w, consumptions=1), history(client, w, consumptions=12,
                                                              confirmed=12, hours=14)
    counts = []
    for e in (short, long):
        with statements_sent(db) as sent:
            escrow(client, w, e["id"])
        counts.append(len(sent))
    # The enrollment with its buckets and sums; one page of movements.
    assert counts == [2, 2], sent
    assert client.post(f"/api/v1/enrollments/{long['id']}/refunds", headers=w.parent.headers,
                       json={"reason": "搬家了", "amount_fen": 4000}).status_code == 201
    with statements_sent(db) as sent:
        status = escrow(client, w, long["id"])
    assert len(sent) == 3, sent  # and its refunds, now that it has one
    assert status["refund_requested_fen"] == 4000
    assert [r["amount_fen"] for r in status["refunds"]] == [4000]


def parent_page(client: FlaskClient, w: World, url: str) -> tuple[int, str]:
    signin = client.get("/parent/signin").get_data(as_text=True)
    match = CSRF.search(signin)
    assert match
    token = w.parent.headers["Authorization"].removeprefix("Bearer ")
    client.post("/parent/signin", data={"csrf_token": match.group(1), "token": token,
                                        "next": ""})
    resp = client.get(url)
    return resp.status_code, resp.get_data(as_text=True)


def timeline_of(page: str) -> str:
    return page[page.index('id="timeline"'):]


def test_the_parents_page_turns_to_older_movements_and_back(
        client: FlaskClient, w: World) -> None:
    e = history(client, w, consumptions=30, confirmed=21)  # 52 transfers
    url = f"/parent/enrollments/{e['id']}"
    status, page = parent_page(client, w, url)
    assert status == 200
    newest = timeline_of(page)
    assert newest.count("<li>") == 50
    assert 'id="timeline-newest"' not in newest
    older = re.search(r'href="([^"]+)#timeline" id="timeline-older"', newest)
    assert older and "movements_before=" in older.group(1)

    status, page = parent_page(client, w, older.group(1))
    assert status == 200
    rest = timeline_of(page)
    assert rest.count("<li>") == 2
    assert 'id="timeline-older"' not in rest and 'id="timeline-newest"' in rest
    assert "付款到账" in rest[rest.rindex("<li>"):]  # the deposit, newest first: at the end


@pytest.mark.parametrize("cursor", ["abc", "0", "-1", str(2**63)])
def test_a_hand_edited_cursor_on_the_parents_page_is_a_404(
        client: FlaskClient, w: World, cursor: str) -> None:
    e = history(client, w, consumptions=1)
    status, _ = parent_page(client, w, f"/parent/enrollments/{e['id']}?movements_before={cursor}")
    assert status == 404
