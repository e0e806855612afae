"""Release runs, the trustee's answers to instructions, and GET /escrow/instructions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.errors import NotFound
from supervision.escrow import (
    confirm_consumption,
    instruction_executed,
    instruction_failed,
    record_attendance,
    verify_ledger,
)
from supervision.models.escrow import Enrollment, Instruction, LedgerHold

from ..support.escrow_world import World, entries_of, now, world
from ..support.factories import Factory
from ..support.parties import party
from ..support.trustee import accepting_trustee


@pytest.fixture
def settings_overrides(httpserver: HTTPServer) -> dict[str, Any]:
    return accepting_trustee(httpserver)


def confirmed(client: FlaskClient, w: World, *, hours: int = 10, consume: int = 2,
              student: str = "小明") -> dict[str, Any]:
    """A paid enrollment with `consume` class hours consumed and confirmed."""
    e = w.paid_enrollment(client, hours=hours, student=student)
    # A session long enough to hold `consume` class hours (HOURS_EXCEED_SESSION).
    cls = w.past_session(minutes=45 * max(2, consume))
    [c] = record_attendance(w.as_(w.staff), w.actor(w.staff), session_id=cls.id,
                            enrollment_ids=[e["id"]], class_hours=consume, as_of=now())
    confirm_consumption(w.as_(w.parent), w.actor(w.parent), c.id, as_of=now())
    w.db.flush()
    return e


def run(client: FlaskClient, w: World, headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/v1/escrow/release-runs", headers=headers or w.regulator.headers)


def test_a_release_run_instructs_each_institution_its_confirmed_money_once(
        client: FlaskClient, w: World, db: Session, make: Factory,
        httpserver: HTTPServer) -> None:
    a = confirmed(client, w, consume=2)
    confirmed(client, w, consume=3, student="小红")
    other = world(db, make)
    confirmed(client, other, consume=1)
    resp = run(client, w)
    assert resp.status_code == 201
    by_inst = {i["institution_id"]: i for i in resp.json["instructions"]}
    assert by_inst[w.institution.id]["amount_fen"] == 20000
    assert by_inst[other.institution.id]["amount_fen"] == 4000
    assert {i["status"] for i in by_inst.values()} == {"sent"}
    assert {i["kind"] for i in by_inst.values()} == {"release"}
    assert resp.json["total_fen"] == 24000
    delivered = sorted(json.loads(r.get_data())["amount_fen"] for r, _ in httpserver.log)
    assert delivered == [4000, 20000]
    # Instructed money is still confirmed (in custody) until the trustee pays it out.
    assert w.escrow(client, a["id"])["confirmed_fen"] == 8000
    again = run(client, w)
    assert again.status_code == 201 and again.json["instructions"] == []


def test_an_executed_release_moves_confirmed_to_released_and_out_of_custody(
        client: FlaskClient, w: World, db: Session) -> None:
    a = confirmed(client, w, consume=2)
    [instr] = run(client, w).json["instructions"]
    assert instruction_executed(w.system(), instr["id"], "TX-REL-1", now()) == "executed"
    status = w.escrow(client, a["id"])
    assert (status["confirmed_fen"], status["released_fen"], status["held_fen"]) == (
        0, 8000, 32000)
    assert status["movements"][-1]["kind"] == "release"
    assert status["movements"][-1]["trustee_txn_id"] == "TX-REL-1"
    summary = client.get(f"/api/v1/escrow/institutions/{w.institution.id}/summary",
                         headers=w.staff.headers).json
    assert (summary["custody_fen"], summary["released_fen"]) == (32000, 8000)
    assert len(entries_of(db, "instruction", instr["id"])) == 4
    instruction = db.get(Instruction, instr["id"])
    assert instruction is not None
    assert (instruction.status, instruction.trustee_txn_id) == ("executed", "TX-REL-1")
    assert verify_ledger(db) == []


def test_an_instruction_is_resolved_once_executed_or_failed_never_both(
        client: FlaskClient, w: World, db: Session) -> None:
    confirmed(client, w)
    [first] = run(client, w).json["instructions"]
    assert instruction_failed(w.system(), first["id"], "收款账户冻结") == "failed"
    assert instruction_failed(w.system(), first["id"], "again") == "already_failed"
    assert instruction_executed(w.system(), first["id"], "TX-LATE", now()) == "already_failed"
    held = db.scalars(select(LedgerHold).where(LedgerHold.instruction_id == first["id"])).all()
    assert [h.status for h in held] == ["voided"]
    assert entries_of(db, "instruction", first["id"]) == []
    with pytest.raises(NotFound):
        instruction_executed(w.system(), 987654321, "TX-X", now())


def test_failed_release_money_goes_back_and_the_next_run_instructs_it_again(
        client: FlaskClient, w: World) -> None:
    a = confirmed(client, w, consume=2)
    [first] = run(client, w).json["instructions"]
    instruction_failed(w.system(), first["id"], "timeout at bank")
    assert w.escrow(client, a["id"])["confirmed_fen"] == 8000
    [second] = run(client, w).json["instructions"]
    assert second["id"] != first["id"] and second["amount_fen"] == 8000
    instruction_executed(w.system(), second["id"], "TX-2", now())
    assert w.escrow(client, a["id"])["released_fen"] == 8000


def test_a_fully_consumed_and_released_enrollment_is_completed(
        client: FlaskClient, w: World, db: Session) -> None:
    a = confirmed(client, w, hours=2, consume=2)
    [instr] = run(client, w).json["instructions"]
    instruction_executed(w.system(), instr["id"], "TX-3", now())
    enrollment = db.get(Enrollment, a["id"])
    assert enrollment is not None
    db.refresh(enrollment)
    assert enrollment.status == "completed"


def test_unconfirmed_and_disputed_money_is_not_released(client: FlaskClient,
                                                        w: World) -> None:
    e = w.paid_enrollment(client)
    w.attend(client, [e["id"]])
    assert run(client, w).json["instructions"] == []


def test_a_suspended_institution_is_not_paid_until_reinstated(
        client: FlaskClient, w: World) -> None:
    confirmed(client, w)
    w.institution.status = "suspended"
    w.db.flush()
    assert run(client, w).json["instructions"] == []
    w.institution.status = "active"
    w.db.flush()
    assert len(run(client, w).json["instructions"]) == 1


def test_a_district_regulator_runs_releases_for_its_district_only(
        client: FlaskClient, w: World, db: Session, make: Factory) -> None:
    confirmed(client, w)  # 320213
    elsewhere = world(db, make, district_code="320205")
    confirmed(client, elsewhere)
    district = party(db, "regulator", district_code="320205")
    resp = run(client, w, district.headers)
    assert [i["institution_id"] for i in resp.json["instructions"]] == [
        elsewhere.institution.id]
    assert [i["institution_id"] for i in run(client, w).json["instructions"]] == [
        w.institution.id]


def test_only_regulators_run_releases(client: FlaskClient, w: World) -> None:
    assert run(client, w, w.staff.headers).status_code == 403
    assert run(client, w, w.parent.headers).status_code == 403


def test_instructions_are_listed_filtered_and_scoped(client: FlaskClient, w: World,
                                                     db: Session, make: Factory) -> None:
    confirmed(client, w)
    other = world(db, make)
    confirmed(client, other)
    ids = {i["institution_id"]: i["id"] for i in run(client, w).json["instructions"]}
    mine = client.get("/api/v1/escrow/instructions", headers=w.staff.headers).json
    assert [i["id"] for i in mine] == [ids[w.institution.id]]
    assert mine[0]["account_no"] == w.institution.supervised_account_no
    assert mine[0]["payee"] == w.institution.name
    every = client.get("/api/v1/escrow/instructions?kind=release&status=sent",
                       headers=w.regulator.headers).json
    assert set(ids.values()) <= {i["id"] for i in every}
    filtered = client.get(f"/api/v1/escrow/instructions?institution_id={other.institution.id}",
                          headers=w.regulator.headers).json
    assert [i["id"] for i in filtered] == [ids[other.institution.id]]
    assert client.get("/api/v1/escrow/instructions?status=done",
                      headers=w.regulator.headers).status_code == 422
    assert client.get("/api/v1/escrow/instructions",
                      headers=w.parent.headers).status_code == 403
