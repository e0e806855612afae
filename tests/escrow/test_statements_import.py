"""POST /api/v1/escrow/statements: import, reconciliation against the ledger, flags (§4, §5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.escrow import statements
from supervision.escrow.trustee import TRUSTEE, handle_event
from supervision.models import Flag, Institution
from supervision.models.escrow import Enrollment
from supervision.models.trustee import Statement, StatementLine

from ..support.factories import Factory
from ..support.parties import acting
from ..support.trustee import deposit_event, enrollment, executed_event, pay, release_instruction

URL = "/api/v1/escrow/statements"


def line(txn: str, amount: int, direction: str = "credit", day: str = "2026-12-01",
         reference: str | None = "学费") -> dict[str, Any]:
    return {"trustee_txn_id": txn, "direction": direction, "amount_fen": amount,
            "value_date": day, "reference": reference}


def body(inst: Institution, lines: list[dict[str, Any]], *, opening: int = 0,
         day: str = "2026-12-01") -> dict[str, Any]:
    closing = opening + sum(ln["amount_fen"] if ln["direction"] == "credit"
                            else -ln["amount_fen"] for ln in lines)
    return {"account_no": inst.supervised_account_no, "date": day,
            "opening_balance_fen": opening, "closing_balance_fen": closing, "lines": lines}


def flags(db: Session, rule: str | None = None) -> list[Flag]:
    stmt = select(Flag).order_by(Flag.id)
    return list(db.scalars(stmt.where(Flag.rule == rule) if rule else stmt))


@pytest.fixture
def regulator(make: Factory) -> dict[str, str]:
    return make.headers("regulator")


@pytest.fixture
def paid(db: Session, make: Factory) -> tuple[Institution, Enrollment, str]:
    """An institution whose custody received one deposit of 40000 fen on 2026-12-01."""
    inst = make.institution()
    e = enrollment(db, make, inst)
    txn = pay(db, e, txn="DEP-1")
    return inst, e, txn


def test_a_statement_that_agrees_with_the_ledger_matches_and_raises_nothing(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    resp = client.post(URL, json=body(inst, [line(txn, e.amount_fen)]), headers=regulator)
    assert resp.status_code == 201
    report = resp.json
    assert report["matched"] == 1
    assert report["unmatched_statement_lines"] == [] == report["unmatched_ledger_entries"]
    assert report["ledger_custody_fen"] == 40000 == report["statement_closing_fen"]
    assert report["difference_fen"] == 0
    assert isinstance(report["id"], int)
    assert flags(db, "FUND_UNMATCHED_DEPOSIT") == flags(db, "FUND_SHORTFALL") == []
    assert flags(db, "FUND_MISSING_IN_STATEMENT") == []


def test_a_credit_the_ledger_never_saw_is_flagged_as_an_unmatched_deposit(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    lines = [line(txn, e.amount_fen), line("GHOST-1", 5000), line("FEE-1", 300, "debit")]
    report = client.post(URL, json=body(inst, lines), headers=regulator).json
    assert report["matched"] == 1
    assert [(u["trustee_txn_id"], u["direction"]) for u in report["unmatched_statement_lines"]
            ] == [("GHOST-1", "credit"), ("FEE-1", "debit")]
    assert report["unmatched_statement_lines"][0]["reason"].startswith("no ledger entry")
    (flag,) = flags(db, "FUND_UNMATCHED_DEPOSIT")
    assert flag.severity == "critical" and flag.institution_id == inst.id
    assert (flag.subject_type, flag.subject_id) == ("statement_line", "GHOST-1")
    assert flag.evidence["amount_fen"] == 5000
    # closing 44700 ≥ custody 40000: more money than owed is no shortfall.
    assert report["difference_fen"] == 4700 and flags(db, "FUND_SHORTFALL") == []


def test_a_ledger_movement_missing_from_the_statement_is_flagged_with_the_shortfall(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, _, txn = paid
    report = client.post(URL, json=body(inst, []), headers=regulator).json
    (missing,) = report["unmatched_ledger_entries"]
    assert missing["trustee_txn_id"] == txn and missing["amount_fen"] == 40000
    assert missing["direction"] == "credit"  # as the statement would have shown it
    assert missing["at"].startswith("2026-12-01T10:00:00+08:00")
    (flag,) = flags(db, "FUND_MISSING_IN_STATEMENT")
    assert flag.severity == "high" and (flag.subject_type, flag.subject_id) == ("ledger_txn", txn)
    (shortfall,) = flags(db, "FUND_SHORTFALL")
    assert shortfall.severity == "critical" and shortfall.evidence["difference_fen"] == -40000
    assert report["difference_fen"] == -40000


def test_a_closing_balance_below_custody_is_a_shortfall(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    lines = [line(txn, e.amount_fen), line("WITHDRAWN-1", 1000, "debit")]
    report = client.post(URL, json=body(inst, lines), headers=regulator).json
    assert report["ledger_custody_fen"] == 40000 and report["statement_closing_fen"] == 39000
    assert report["difference_fen"] == -1000
    (flag,) = flags(db, "FUND_SHORTFALL")
    assert (flag.subject_type, flag.subject_id) == ("statement", str(report["id"]))
    assert flags(db, "FUND_UNMATCHED_DEPOSIT") == []  # a debit is no deposit


def test_a_line_whose_amount_differs_from_the_ledger_is_unmatched_with_the_reason(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    report = client.post(URL, json=body(inst, [line(txn, e.amount_fen + 1)]),
                         headers=regulator).json
    assert report["matched"] == 0
    assert "another amount" in report["unmatched_statement_lines"][0]["reason"]


def test_payouts_are_matched_on_the_day_the_trustee_executed_them(
        client: FlaskClient, db: Session, make: Factory, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, _ = paid
    instruction = release_instruction(db, make, inst, e, hours=2)
    event = executed_event(instruction.id, txn="PAY-1", at="2026-12-03T09:30:00+08:00")
    with acting(db, TRUSTEE):
        handle_event(db, TRUSTEE, {**event, "executed_at": dt.datetime.fromisoformat(
            event["executed_at"])}, payload=event)
    day = body(inst, [line("PAY-1", 8000, "debit", "2026-12-03")], opening=40000,
               day="2026-12-03")
    report = client.post(URL, json=day, headers=regulator).json
    assert report["matched"] == 1 and report["unmatched_ledger_entries"] == []
    assert report["ledger_custody_fen"] == 32000 == report["statement_closing_fen"]
    # The day before, the payout had not happened yet: custody was still 40000.
    before = client.post(URL, json=body(inst, [], opening=40000, day="2026-12-02"),
                         headers=regulator).json
    assert before["ledger_custody_fen"] == 40000 and before["difference_fen"] == 0
    assert flags(db) == []


def test_a_receipt_nobody_could_identify_is_known_to_the_ledger(
        client: FlaskClient, db: Session, regulator: dict[str, str], make: Factory) -> None:
    inst = make.institution()
    event = deposit_event("SV-UNKNOWN", 12345, txn="ANON-1")
    with acting(db, TRUSTEE):
        handle_event(db, TRUSTEE, {**event, "received_at": dt.datetime.fromisoformat(
            event["received_at"])}, payload=event)
    report = client.post(URL, json=body(inst, [line("ANON-1", 12345)]), headers=regulator).json
    # Booked to the global suspense (and flagged as a deposit then): not unknown money here.
    assert report["matched"] == 1
    assert [f.subject_type for f in flags(db, "FUND_UNMATCHED_DEPOSIT")] == ["deposit"]


def test_the_same_statement_again_is_200_with_the_first_report_and_nothing_new(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    statement = body(inst, [line(txn, e.amount_fen), line("GHOST-2", 700)])
    first = client.post(URL, json=statement, headers=regulator)
    seen = flags(db)[0].last_detected_at
    again = client.post(URL, json={**statement, "lines": [
        dict(reversed(ln.items())) for ln in statement["lines"]]}, headers=regulator)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json == first.json
    assert db.scalar(select(func.count()).select_from(Statement)) == 1
    assert db.scalar(select(func.count()).select_from(StatementLine)) == 2
    db.expire_all()
    assert len(flags(db)) == 1 and flags(db)[0].last_detected_at == seen


def test_another_statement_for_the_same_account_and_day_is_a_conflict(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    client.post(URL, json=body(inst, [line(txn, e.amount_fen)]), headers=regulator)
    resp = client.post(URL, json=body(inst, [line(txn, e.amount_fen, reference="改过")]),
                       headers=regulator)
    assert resp.status_code == 409
    assert db.scalar(select(func.count()).select_from(Statement)) == 1


def test_lines_that_do_not_sum_from_opening_to_closing_are_422_and_nothing_is_stored(
        client: FlaskClient, db: Session, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    statement = body(inst, [line(txn, e.amount_fen), line("FEE", 5, "debit")])
    statement["closing_balance_fen"] += 10  # a debit added instead of subtracted, say
    resp = client.post(URL, json=statement, headers=regulator)
    assert resp.status_code == 422 and "closing_balance_fen" in resp.json["errors"]
    assert db.scalar(select(func.count()).select_from(Statement)) == 0
    assert flags(db) == []


@pytest.mark.parametrize("change, field", [
    ({"account_no": "NOT-A-SUPERVISED-ACCOUNT"}, "account_no"),
    ({"date": "2026-12-1"}, "date"),
    ({"opening_balance_fen": -1}, "opening_balance_fen"),
    ({"closing_balance_fen": 1.5}, "closing_balance_fen"),
    ({"lines": [line("A", 1), line("A", 1)]}, "lines"),
    ({"lines": [{**line("A", 1), "direction": "sideways"}]}, "lines.0.direction"),
    ({"lines": [{**line("A", 1), "balance_fen": 1}]}, "lines.0.balance_fen"),
    ({"status": "reconciled"}, "status"),
])
def test_a_malformed_statement_is_422_naming_the_field(
        client: FlaskClient, regulator: dict[str, str], make: Factory,
        change: dict[str, Any], field: str) -> None:
    statement = {**body(make.institution(), []), **change}
    if "lines" in change:
        statement["closing_balance_fen"] = 2 if field == "lines" else 1
    resp = client.post(URL, json=statement, headers=regulator)
    assert resp.status_code == 422
    assert field in resp.json["errors"]


def test_only_a_regulator_imports_and_only_within_its_district(
        client: FlaskClient, make: Factory, paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    statement = body(inst, [line(txn, e.amount_fen)])
    for role in ("institution", "parent"):
        kw: dict[str, Any] = {"institution": inst} if role == "institution" else {}
        assert client.post(URL, json=statement, headers=make.headers(role, **kw)
                           ).status_code == 403
    other_district = make.headers("regulator", district_code="320205")
    resp = client.post(URL, json=statement, headers=other_district)
    assert resp.status_code == 422 and "account_no" in resp.json["errors"]
    own = make.headers("regulator", district_code=inst.district_code)
    assert client.post(URL, json=statement, headers=own).status_code == 201


def test_past_the_flag_limit_one_flag_stands_for_the_rest(
        client: FlaskClient, db: Session, regulator: dict[str, str], make: Factory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("supervision.escrow.statements.matching.FLAG_LIMIT", 2)
    inst = make.institution()
    report = client.post(URL, json=body(inst, [line(f"G{i}", 100) for i in range(5)]),
                         headers=regulator).json
    assert report["unmatched_statement_line_count"] == 5
    subjects = sorted((f.subject_type, f.subject_id) for f in flags(db, "FUND_UNMATCHED_DEPOSIT"))
    assert subjects == [("statement", str(report["id"])), ("statement_line", "G0"),
                        ("statement_line", "G1")]


def test_thousands_of_lines_are_matched_in_sets(
        client: FlaskClient, db: Session, regulator: dict[str, str], make: Factory) -> None:
    inst = make.institution()
    e = enrollment(db, make, inst, hours=1, price=100)
    txn = pay(db, e)
    lines = [line(txn, 100)] + [line(f"X{i:05d}", 1) for i in range(3000)]
    report = client.post(URL, json=body(inst, lines), headers=regulator).json
    assert report["matched"] == 1
    assert report["unmatched_statement_line_count"] == 3000
    assert len(report["unmatched_statement_lines"]) == statements.REPORT_LIMIT


def test_imported_statements_are_listed_and_read_back_within_scope(
        client: FlaskClient, db: Session, make: Factory, regulator: dict[str, str],
        paid: tuple[Institution, Enrollment, str]) -> None:
    inst, e, txn = paid
    elsewhere = make.institution(district_code="320205")
    mine = client.post(URL, json=body(inst, [line(txn, e.amount_fen)]), headers=regulator).json
    theirs = client.post(URL, json=body(elsewhere, []), headers=regulator).json
    listed = client.get(URL, headers=regulator)
    assert listed.status_code == 200
    assert {s["id"] for s in listed.json} == {mine["id"], theirs["id"]}
    assert "total" in listed.headers["X-Pagination"]
    one = client.get(f"{URL}?account_no={inst.supervised_account_no}&date=2026-12-01",
                     headers=regulator).json
    assert [(s["id"], s["matched"], s["difference_fen"]) for s in one] == [(mine["id"], 1, 0)]
    assert client.get(f"{URL}/{mine['id']}", headers=regulator).json == mine
    district = make.headers("regulator", district_code=inst.district_code)
    assert [s["id"] for s in client.get(URL, headers=district).json] == [mine["id"]]
    assert client.get(f"{URL}/{theirs['id']}", headers=district).status_code == 404
    assert client.get(f"{URL}/{mine['id']}",
                      headers=make.headers("institution", institution=inst)).status_code == 403
