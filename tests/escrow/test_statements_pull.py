"""The daily pull of trustee statements (the scheduler's job), and the statement parser."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import clock, outbound
from supervision.config import Settings
from supervision.devtools.trustee_sandbox import SandboxState
from supervision.errors import Invalid
from supervision.escrow import statements
from supervision.models import Flag, Institution
from supervision.models.trustee import Statement
from supervision.workers.statements import pull_statements

from ..support.factories import Factory
from ..support.servers import free_port
from ..support.settings import changed
from ..support.trustee import SECRET, enrollment, pay

DAY = dt.date(2026, 12, 1)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1")
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


def settings(app: Flask, url: str) -> Settings:
    return changed(app.config["SUPERVISION"], TRUSTEE_API_URL=url, TRUSTEE_RETRIES=0,
                   TRUSTEE_TIMEOUT_SECONDS=2.0)


def pull(app: Flask, url: str, day: dt.date = DAY) -> int:
    return pull_statements(app.extensions["supervision.sessionmaker"],
                                      settings(app, url), day)


def statement_json(inst: Institution, txn: str, amount: int) -> dict[str, Any]:
    return {"account_no": inst.supervised_account_no, "date": DAY.isoformat(),
            "opening_balance_fen": 0, "closing_balance_fen": amount,
            "lines": [{"trustee_txn_id": txn, "direction": "credit", "amount_fen": amount,
                       "value_date": DAY.isoformat(), "reference": "学费"}]}


@pytest.fixture
def paid(db: Session, make: Factory) -> tuple[Institution, str, int]:
    inst = make.institution()
    e = enrollment(db, make, inst)
    txn = pay(db, e)
    db.commit()
    return inst, txn, e.amount_fen


def test_the_pull_fetches_each_active_account_signed_and_reconciles_it_once(
        app: Flask, db: Session, make: Factory, server: HTTPServer,
        paid: tuple[Institution, str, int]) -> None:
    inst, txn, amount = paid
    make.institution()  # no custody activity: not asked for
    server.expect_request(f"/statements/{inst.supervised_account_no}",
                          query_string={"date": "2026-12-01"}).respond_with_json(
        statement_json(inst, txn, amount))
    assert pull(app, server.url_for("/")) == 1
    assert pull(app, server.url_for("/")) == 0  # the same statement again: nothing new
    requests_seen = [req for req, _ in server.log]
    assert len(requests_seen) == 2
    req = requests_seen[0]
    assert outbound.verify(SECRET, req.headers["X-Supervision-Timestamp"],
                           req.headers["X-Supervision-Signature"], b"", window_seconds=300)
    stored = db.scalars(select(Statement)).one()
    assert stored.source == "pull" and stored.report["matched"] == 1
    assert stored.report["difference_fen"] == 0


@pytest.mark.parametrize("respond", ["404", "500", "not json", "wrong day", "bad sum",
                                     "unknown field"])
def test_a_statement_that_cannot_be_had_or_read_is_skipped_and_logged(
        app: Flask, db: Session, server: HTTPServer, paid: tuple[Institution, str, int],
        respond: str) -> None:
    inst, txn, amount = paid
    handler = server.expect_request(f"/statements/{inst.supervised_account_no}")
    good = statement_json(inst, txn, amount)
    if respond in ("404", "500"):
        handler.respond_with_json({"error": "x"}, status=int(respond))
    elif respond == "not json":
        handler.respond_with_data("<html>maintenance</html>")
    elif respond == "wrong day":
        handler.respond_with_json({**good, "date": "2026-11-30"})
    elif respond == "bad sum":
        handler.respond_with_json({**good, "closing_balance_fen": amount + 1})
    else:
        handler.respond_with_json({**good, "balance": 1})
    assert pull(app, server.url_for("/")) == 0
    assert db.scalar(select(func.count()).select_from(Statement)) == 0


def test_the_trustee_down_means_no_statement_and_no_crash(
        app: Flask, db: Session, paid: tuple[Institution, str, int]) -> None:
    assert pull(app, f"http://127.0.0.1:{free_port()}") == 0
    assert db.scalar(select(func.count()).select_from(Statement)) == 0


def test_a_pulled_statement_that_disagrees_raises_the_flags(
        app: Flask, db: Session, server: HTTPServer,
        paid: tuple[Institution, str, int]) -> None:
    inst, _, amount = paid
    server.expect_request(f"/statements/{inst.supervised_account_no}").respond_with_json(
        {**statement_json(inst, "SOMEONE-ELSES", amount - 100)})
    assert pull(app, server.url_for("/")) == 1
    rules = sorted(f.rule for f in db.scalars(select(Flag)))
    assert rules == ["FUND_MISSING_IN_STATEMENT", "FUND_SHORTFALL", "FUND_UNMATCHED_DEPOSIT"]


def test_the_sandbox_serves_statements_that_parse_and_sum() -> None:
    state = SandboxState(secret=SECRET, callback_url="http://127.0.0.1:1/")
    state.book("GLXT-9", "credit", 40000, "SVREF")
    state.book("GLXT-9", "debit", 8000, "release 1")
    today = clock.today()
    parsed = statements.statement_from_json(state.statement("GLXT-9", today))
    statements.check_statement(parsed)
    assert [ln.direction for ln in parsed.lines] == ["credit", "debit"]
    assert parsed.closing_balance_fen == 32000
    tomorrow = statements.statement_from_json(
        state.statement("GLXT-9", today + dt.timedelta(days=1)))
    assert tomorrow.opening_balance_fen == 32000 and tomorrow.lines == ()


def test_the_cli_pulls_for_a_given_date(runner: FlaskCliRunner, app: Flask,
                                        server: HTTPServer,
                                        paid: tuple[Institution, str, int]) -> None:
    inst, txn, amount = paid
    server.expect_request(f"/statements/{inst.supervised_account_no}").respond_with_json(
        statement_json(inst, txn, amount))
    app.config["SUPERVISION"] = changed(app.config["SUPERVISION"],
                                        TRUSTEE_API_URL=server.url_for("/"))


    result = runner.invoke(args=["trustee", "pull-statements", "--date", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "1 statement(s) imported" in result.output


def test_without_a_trustee_url_nothing_is_pulled(app: Flask) -> None:
    assert pull(app, "") == 0


# --- the parser of the trustee's JSON (pure) ----------------------------------------------------

GOOD: dict[str, Any] = {
    "account_no": "GLXT-1", "date": "2026-12-01", "opening_balance_fen": 100,
    "closing_balance_fen": 50, "lines": [
        {"trustee_txn_id": "T1", "direction": "debit", "amount_fen": 50,
         "value_date": "2026-12-01", "reference": None}]}


def test_a_well_formed_statement_parses_to_values() -> None:
    parsed = statements.statement_from_json(GOOD)
    assert parsed.date == DAY and parsed.lines[0].amount_fen == 50
    assert parsed.lines[0].reference is None
    statements.check_statement(parsed)


@pytest.mark.parametrize("change, field", [
    ({"extra": 1}, "extra"),
    ({"date": "2026-12-1"}, "date"),
    ({"date": "2026-02-30"}, "date"),
    ({"opening_balance_fen": True}, "opening_balance_fen"),
    ({"opening_balance_fen": 1.0}, "opening_balance_fen"),
    ({"closing_balance_fen": -1}, "closing_balance_fen"),
    ({"account_no": "  "}, "account_no"),
    ({"account_no": "A\x00"}, "account_no"),
    ({"lines": {}}, "lines"),
    ({"lines": [{**GOOD["lines"][0], "direction": "up"}]}, "lines.0.direction"),
    ({"lines": [{**GOOD["lines"][0], "amount_fen": "50"}]}, "lines.0.amount_fen"),
    ({"lines": [{**GOOD["lines"][0], "value_date": 20261201}]}, "lines.0.value_date"),
    ({"lines": [{k: v for k, v in GOOD["lines"][0].items() if k != "trustee_txn_id"}]},
     "lines.0.trustee_txn_id"),
    ({"lines": [GOOD["lines"][0], "x"]}, "lines.1"),
])
def test_a_malformed_statement_is_refused_naming_the_field(change: dict[str, Any],
                                                           field: str) -> None:
    with pytest.raises(Invalid) as caught:
        statements.statement_from_json({**GOOD, **change})
    assert field in caught.value.errors


def test_lines_that_do_not_sum_or_repeat_a_transaction_are_refused() -> None:
    parsed = statements.statement_from_json({**GOOD, "closing_balance_fen": 150})
    with pytest.raises(Invalid, match="do not sum"):
        statements.check_statement(parsed)
    twice = statements.statement_from_json({**GOOD, "closing_balance_fen": 0, "lines": [
        GOOD["lines"][0], GOOD["lines"][0]]})
    with pytest.raises(Invalid, match="repeated"):
        statements.check_statement(twice)


def test_the_digest_ignores_serialisation_but_not_content() -> None:
    a = statements.statement_from_json(GOOD)
    b = statements.statement_from_json(dict(reversed(list(GOOD.items()))))
    c = statements.statement_from_json({**GOOD, "lines": [
        {**GOOD["lines"][0], "reference": "x"}]})
    assert a.digest() == b.digest() != c.digest()
