"""Benchmark (QUALITY.md): reconciliation of a 100,000-line trustee statement, target ≤ 20 s.

    python -m benchmarks.bench_statements [DATABASE_URL] [--lines 100000] [--seed 2026]

DATABASE_URL defaults to SUPERVISION_DATABASE_URL; the database should be empty or
disposable (the schema is dropped and created). The data set: one institution whose custody
account received `lines` deposits (ledger entries, deposits and the balance rows written
directly), and the trustee's statement of that day showing all but 0.1% of them plus 0.1%
lines the ledger never saw. Prints one line per figure:
- the import and reconciliation in the service (what the daily pull runs);
- the same statement through POST /api/v1/escrow/statements (JSON parsing and validation
  included), on a second account with the same data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from supervision import create_app
from supervision.access.principals import create_principal
from supervision.access.scope import SYSTEM
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.escrow.statements import LineIn, StatementIn, import_statement
from supervision.models import Base, Institution
from supervision.models.escrow import Deposit, LedgerAccount, LedgerEntry

SH = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 12, 1)


def institution(session: Session, n: int) -> Institution:
    inst = Institution(name=f"基准培训学校{n}", uscc=f"52320200MJ{n:07d}X"[:18],
                       license_no=f"BENCH{n}", license_valid_until=dt.date(2030, 1, 1),
                       district_code="320213", category="subject",
                       licensed_modes=["offline"], nonprofit_registration_no=f"NP{n}",
                       escrow_mode="trust", supervised_account_no=f"BENCH-{n:06d}",
                       address="梁溪区", status="active")
    session.add(inst)
    session.flush()
    return inst


def ledger_for(session: Session, inst: Institution, amounts: list[int], prefix: str) -> None:
    """`amounts` deposits into the institution's custody, booked against its suspense."""
    custody = LedgerAccount(code=f"inst:{inst.id}:custody", kind="custody", normal="debit",
                            institution_id=inst.id, debits_posted=sum(amounts),
                            credits_posted=0, debits_pending=0, credits_pending=0)
    suspense = LedgerAccount(code=f"inst:{inst.id}:suspense", kind="suspense", normal="credit",
                             institution_id=inst.id, debits_posted=0,
                             credits_posted=sum(amounts), debits_pending=0, credits_pending=0)
    session.add_all([custody, suspense])
    session.flush()
    received = dt.datetime.combine(DAY, dt.time(10), tzinfo=SH)
    deposits, entries = [], []
    for i, amount in enumerate(amounts, start=1):
        txn = f"{prefix}{i:07d}"
        deposits.append({"id": i + (0 if prefix.startswith("A") else 10**7),
                         "event_id": f"evt-{txn}", "trustee_txn_id": txn,
                         "payment_reference": f"REF{txn}", "amount_fen": amount,
                         "received_at": received, "institution_id": inst.id,
                         "outcome": "suspense", "reason": "bench", "booked_at": received})
    bulk(session, Deposit.__tablename__, deposits)
    for d in deposits:
        for account, direction in ((custody, "debit"), (suspense, "credit")):
            entries.append({"txn_id": f"t{d['trustee_txn_id']}", "account_id": account.id,
                            "account_kind": account.kind, "direction": direction,
                            "amount_fen": d["amount_fen"], "kind": "suspense",
                            "institution_id": inst.id, "ref_type": "deposit", "ref_id": d["id"],
                            "trustee_txn_id": d["trustee_txn_id"], "at": received})
    bulk(session, LedgerEntry.__tablename__, entries)


def bulk(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL, executemany in batches on SQLite."""
    columns = list(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        raw: Any = session.connection().connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        return
    model = {Deposit.__tablename__: Deposit, LedgerEntry.__tablename__: LedgerEntry}[table]
    for start in range(0, len(rows), 20_000):
        session.execute(insert(model), rows[start:start + 20_000])


def statement_of(inst: Institution, amounts: list[int], prefix: str,
                 rng: random.Random) -> StatementIn:
    skip = set(rng.sample(range(1, len(amounts) + 1), max(1, len(amounts) // 1000)))
    lines = [LineIn(f"{prefix}{i:07d}", "credit", a, DAY, f"REF{prefix}{i:07d}")
             for i, a in enumerate(amounts, start=1) if i not in skip]
    lines += [LineIn(f"{prefix}X{i:06d}", "credit", 100, DAY, "unknown")
              for i in range(len(skip))]
    closing = sum(ln.amount_fen for ln in lines)
    return StatementIn(inst.supervised_account_no, DAY, 0, closing, tuple(lines))


def as_json(statement: StatementIn) -> dict[str, Any]:
    return {"account_no": statement.account_no, "date": statement.date.isoformat(),
            "opening_balance_fen": 0, "closing_balance_fen": statement.closing_balance_fen,
            "lines": [{"trustee_txn_id": ln.trustee_txn_id, "direction": ln.direction,
                       "amount_fen": ln.amount_fen, "value_date": ln.value_date.isoformat(),
                       "reference": ln.reference} for ln in statement.lines]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default=os.environ.get("SUPERVISION_DATABASE_URL"))
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if not args.url:
        sys.exit("give a DATABASE_URL or set SUPERVISION_DATABASE_URL")
    rng = random.Random(args.seed)
    engine = make_engine(args.url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    app = create_app({"DATABASE_URL": args.url})
    settings = app.config["SUPERVISION"]
    factory = make_sessionmaker(engine)
    amounts = [rng.randrange(1000, 500_000) for _ in range(args.lines)]

    started = time.perf_counter()
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        a, b = institution(session, 1), institution(session, 2)
        ledger_for(session, a, amounts, "A")
        ledger_for(session, b, amounts, "B")
        _, token = create_principal(session, role="regulator", name="基准监管员")
    print(f"data set: 2 accounts x {args.lines} ledger deposits in "
          f"{time.perf_counter() - started:.1f} s")

    statement = statement_of(a, amounts, "A", rng)
    started = time.perf_counter()
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        row, _ = import_statement(session, SYSTEM, statement, source="pull")
        report = row.report
    print(f"reconcile {len(statement.lines)} lines (service): "
          f"{time.perf_counter() - started:.2f} s; matched {report['matched']}, unmatched "
          f"{report['unmatched_statement_line_count']} lines / "
          f"{report['unmatched_ledger_entry_count']} entries (target <= 20 s)")

    body = as_json(statement_of(b, amounts, "B", random.Random(args.seed)))
    client = app.test_client()
    started = time.perf_counter()
    resp = client.post("/api/v1/escrow/statements", json=body,
                       headers={"Authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    print(f"reconcile {len(body['lines'])} lines (HTTP POST): {elapsed:.2f} s; "
          f"status {resp.status_code}, matched {(resp.json or {}).get('matched')} (target <= 20 s)")
    engine.dispose()
    app.extensions["supervision.engine"].dispose()


if __name__ == "__main__":
    main()
