"""The regulator's rosters: in-service school teachers and the blacklist, as keyed hashes."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import registry
from supervision.errors import Invalid
from supervision.identifiers import hash_id_number
from supervision.models import RosterEntry

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import audit_count, count, new_id_number

API = "/api/v1"


def _entries(db: Session, kind: str) -> list[RosterEntry]:
    db.expire_all()
    return list(db.scalars(select(RosterEntry).where(RosterEntry.kind == kind)))


# --- services ------------------------------------------------------------------------------

def test_only_numbers_not_yet_on_the_roster_count_as_added(db: Session) -> None:
    a, b, c = new_id_number(), new_id_number(), new_id_number()
    with acting_as(db, "regulator") as actor:
        assert registry.add_to_roster(db, actor, "inservice", [a, b, a]) == 2
        assert registry.add_to_roster(db, actor, "inservice", [b, c, c.lower()]) == 1
    assert len(_entries(db, "inservice")) == 3


def test_the_roster_stores_keyed_hashes_only(db: Session) -> None:
    number = new_id_number()
    with acting_as(db, "regulator") as actor:
        registry.add_to_roster(db, actor, "blacklist", [number], reason="性侵害违法犯罪记录")
    [entry] = _entries(db, "blacklist")
    assert entry.id_number_hash == hash_id_number(number, db.info["settings"].id_hash_key)
    assert number not in entry.id_number_hash and entry.reason == "性侵害违法犯罪记录"


def test_the_two_rosters_are_separate(db: Session) -> None:
    number = new_id_number()
    with acting_as(db, "regulator") as actor:
        assert registry.add_to_roster(db, actor, "inservice", [number]) == 1
        assert registry.add_to_roster(db, actor, "blacklist", [number], reason="x") == 1


def test_every_bad_number_is_named_by_its_position_and_nothing_is_added(db: Session) -> None:
    good = new_id_number()
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    with acting_as(db, "regulator") as actor, pytest.raises(Invalid) as caught:
        registry.add_to_roster(db, actor, "inservice", [good, bad_check, "12345"])
    assert set(caught.value.errors) == {"id_numbers.1", "id_numbers.2"}
    assert _entries(db, "inservice") == []


def test_the_blacklist_needs_a_reason(db: Session) -> None:
    with acting_as(db, "regulator") as actor, pytest.raises(Invalid) as caught:
        registry.add_to_roster(db, actor, "blacklist", [new_id_number()], reason=None)
    assert "reason" in caught.value.errors


def test_more_than_ten_thousand_numbers_at_once_are_refused(db: Session) -> None:
    numbers = [new_id_number()] * (registry.MAX_ROSTER_NUMBERS + 1)
    with acting_as(db, "regulator") as actor, pytest.raises(Invalid) as caught:
        registry.add_to_roster(db, actor, "inservice", numbers)
    assert "id_numbers" in caught.value.errors


def test_ten_thousand_numbers_are_taken_in_one_call(db: Session) -> None:
    numbers = list(dict.fromkeys(new_id_number() for _ in range(registry.MAX_ROSTER_NUMBERS)))
    with acting_as(db, "regulator") as actor:
        added = registry.add_to_roster(db, actor, "inservice", numbers)
    assert added == len(numbers) == count(db, RosterEntry, RosterEntry.kind == "inservice")


# --- HTTP ----------------------------------------------------------------------------------

def test_post_inservice_roster_answers_200_with_the_count_added(client: FlaskClient,
                                                                make: Factory) -> None:
    headers = make.headers("regulator")
    a, b = new_id_number(), new_id_number()
    first = client.post(f"{API}/rosters/inservice-teachers", json={"id_numbers": [a, b]},
                        headers=headers)
    assert first.status_code == 200 and first.json == {"added": 2}
    again = client.post(f"{API}/rosters/inservice-teachers", json={"id_numbers": [b]},
                        headers=headers)
    assert again.json == {"added": 0}


def test_post_blacklist_answers_200_and_needs_a_reason(client: FlaskClient, make: Factory,
                                                       db: Session) -> None:
    headers = make.headers("regulator")
    number = new_id_number()
    before = (count(db, RosterEntry), audit_count(db))
    missing = client.post(f"{API}/rosters/blacklist", json={"id_numbers": [number]},
                          headers=headers)
    assert missing.status_code == 422 and "reason" in missing.json["errors"]
    assert (count(db, RosterEntry), audit_count(db)) == before
    ok = client.post(f"{API}/rosters/blacklist",
                     json={"id_numbers": [number], "reason": "吊销教师资格"}, headers=headers)
    assert ok.status_code == 200 and ok.json == {"added": 1}


@pytest.mark.parametrize("body, field", [
    ({"id_numbers": []}, "id_numbers"),
    ({"id_numbers": "320213198503041234"}, "id_numbers"),
    ({"id_numbers": [320213198503041234]}, "id_numbers.0"),
    ({}, "id_numbers"),
    ({"id_numbers": ["ok", "x" * 19]}, "id_numbers.1"),
])
def test_malformed_roster_bodies_are_422(client: FlaskClient, make: Factory, db: Session,
                                         body: dict[str, object], field: str) -> None:
    headers = make.headers("regulator")
    before = count(db, RosterEntry)
    resp = client.post(f"{API}/rosters/inservice-teachers", json=body, headers=headers)
    assert resp.status_code == 422
    assert field in resp.json["errors"]
    assert count(db, RosterEntry) == before


def test_an_invalid_number_is_named_by_position_over_http(client: FlaskClient,
                                                          make: Factory, db: Session) -> None:
    headers = make.headers("regulator")
    good = new_id_number()
    before = (count(db, RosterEntry), audit_count(db))
    resp = client.post(f"{API}/rosters/inservice-teachers",
                       json={"id_numbers": [good, good[:17] + "Y"]}, headers=headers)
    assert resp.status_code == 422
    assert list(resp.json["errors"]) == ["id_numbers.1"]
    assert (count(db, RosterEntry), audit_count(db)) == before


def test_rosters_take_real_numbers_with_any_check_character_over_http(
        client: FlaskClient, make: Factory, db: Session) -> None:
    # Typed from GB 11643-1999 (its examples end in X and 4) and a 梁溪区 number born in 1980
    # whose check character was worked out by hand from the standard's weights.
    headers = make.headers("regulator")
    real = ["11010519491231002X", "440524188001010014", "320213198001011232"]
    inservice = client.post(f"{API}/rosters/inservice-teachers",
                            json={"id_numbers": real}, headers=headers)
    assert inservice.status_code == 200, inservice.json
    assert inservice.json == {"added": 3}
    blacklist = client.post(f"{API}/rosters/blacklist", headers=headers,
                            json={"id_numbers": ["11010519491231002x"], "reason": "吊销"})
    assert blacklist.status_code == 200 and blacklist.json == {"added": 1}
    key = db.info["settings"].id_hash_key
    assert {e.id_number_hash for e in _entries(db, "inservice")} == {
        hash_id_number(n, key) for n in real}
    # The lower-case x is stored as the same person as the upper-case one.
    assert [e.id_number_hash for e in _entries(db, "blacklist")] == [
        hash_id_number("11010519491231002X", key)]


def test_rosters_refuse_a_real_number_with_a_wrong_check_character_over_http(
        client: FlaskClient, make: Factory, db: Session) -> None:
    headers = make.headers("regulator")
    before = (count(db, RosterEntry), audit_count(db))
    resp = client.post(f"{API}/rosters/inservice-teachers", headers=headers,
                       json={"id_numbers": ["11010519491231002X", "110105194912310029"]})
    assert resp.status_code == 422
    assert resp.json["errors"] == {"id_numbers.1": ["the check character is wrong"]}
    assert (count(db, RosterEntry), audit_count(db)) == before


def test_ten_thousand_and_one_numbers_are_422(client: FlaskClient, make: Factory) -> None:
    numbers = [new_id_number()] * (registry.MAX_ROSTER_NUMBERS + 1)
    resp = client.post(f"{API}/rosters/inservice-teachers", json={"id_numbers": numbers},
                       headers=make.headers("regulator"))
    assert resp.status_code == 422 and "id_numbers" in resp.json["errors"]


@pytest.mark.parametrize("path", ["/rosters/inservice-teachers", "/rosters/blacklist"])
@pytest.mark.parametrize("role", ["institution", "parent"])
def test_rosters_are_for_regulators_only(client: FlaskClient, make: Factory, db: Session,
                                         path: str, role: str) -> None:
    inst = make.institution()
    headers = make.headers(role, institution=inst if role == "institution" else None)
    resp = client.post(f"{API}{path}", json={"id_numbers": [new_id_number()], "reason": "x"},
                       headers=headers)
    assert resp.status_code == 403
    assert count(db, RosterEntry) == 0
