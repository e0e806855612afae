"""Reconciliation: a stored statement's lines matched to the ledger in a few set-based
statements (never a query per line), the report, and the flags of RULES.md §5."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, text
from sqlalchemy.orm import Session

from ...access.scope import Actor
from ...clock import SHANGHAI
from ...compliance.flags import raise_flag
from ...db import is_postgres
from ...models import Institution
from ...models.escrow import Deposit, Instruction, LedgerAccount, LedgerEntry
from ...models.trustee import Statement, StatementLine
from ...wording import yuan, zh_date

# A statement with thousands of unexplained lines is one systemic failure, not thousands of
# cases for a person: past this many, one flag per statement stands for the rest.
FLAG_LIMIT = 100
# Lists in the report stop here; the counts beside them are complete.
REPORT_LIMIT = 1000


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)
    return start, start + dt.timedelta(days=1)


def _custody_entries(institution_ids: list[int]) -> Any:
    """The custody movements of one supervised account, each dated by the trustee's clock
    (the deposit's received_at, the instruction's executed_at) so that a movement booked just
    after midnight still belongs to the day of the trustee's statement."""
    e = LedgerEntry
    value_at = func.coalesce(Deposit.received_at, Instruction.executed_at, e.at)
    # The statement's point of view: money into the account is a credit, a custody debit.
    direction = case((e.direction == "debit", "credit"), else_="debit")
    signed = case((e.direction == "debit", e.amount_fen), else_=-e.amount_fen)
    return (select(e.id, e.trustee_txn_id, e.amount_fen, e.kind, direction.label("direction"),
                   signed.label("signed"), value_at.label("value_at"))
            .outerjoin(Deposit, and_(e.ref_type == "deposit", Deposit.id == e.ref_id))
            .outerjoin(Instruction, and_(e.ref_type == "instruction", Instruction.id == e.ref_id))
            .where(e.account_kind == "custody", e.institution_id.in_(institution_ids))
            .subquery("custody"))


def _line_matches(line: Any, institution_ids: list[int], strict: bool) -> Any:
    """EXISTS a ledger entry of this account (or an unidentified receipt, booked to the global
    suspense before anyone knew its account) for the line's transaction."""
    e = LedgerEntry
    cond = [e.trustee_txn_id == line.trustee_txn_id,
            or_(and_(e.account_kind == "custody", e.institution_id.in_(institution_ids)),
                e.account_kind == "custody_unidentified")]
    if strict:
        ledger_direction = case((line.direction == "credit", "debit"), else_="credit")
        cond += [e.amount_fen == line.amount_fen, e.direction == ledger_direction]
    return exists().where(*cond)


def reconcile(session: Session, actor: Actor, statement: Statement) -> dict[str, Any]:
    """Match the stored lines of `statement` to the ledger, raise the flags, return the report."""
    if statement.line_count > 10_000 and is_postgres(session):
        # Fresh statistics, or the planner takes 100,000 new lines for a handful.
        session.execute(text(f"ANALYZE {StatementLine.__tablename__}"))
    ids = list(session.scalars(select(Institution.id).where(
        Institution.supervised_account_no == statement.account_no)))
    unmatched = _unmatched_lines(session, statement, ids)
    missing = _missing_entries(session, statement, ids)
    custody = _custody_at_end_of(session, ids, statement.date)
    report = {
        "id": statement.id, "account_no": statement.account_no,
        "date": statement.date.isoformat(), "matched": statement.line_count - len(unmatched),
        "unmatched_statement_lines": unmatched[:REPORT_LIMIT],
        "unmatched_ledger_entries": missing[:REPORT_LIMIT],
        "unmatched_statement_line_count": len(unmatched),
        "unmatched_ledger_entry_count": len(missing),
        "ledger_custody_fen": custody,
        "statement_closing_fen": statement.closing_balance_fen,
        "difference_fen": statement.closing_balance_fen - custody,
    }
    _raise_flags(session, actor, statement, report, unmatched, missing)
    return report


def _unmatched_lines(session: Session, statement: Statement,
                     ids: list[int]) -> list[dict[str, Any]]:
    ln = StatementLine
    known_txn = _line_matches(ln, ids, False)
    rows = session.execute(
        select(ln.line_no, ln.trustee_txn_id, ln.direction, ln.amount_fen, ln.value_date,
               ln.reference, known_txn.label("known"))
        .where(ln.statement_id == statement.id, ~_line_matches(ln, ids, True))
        .order_by(ln.line_no))
    return [{"line_no": r.line_no, "trustee_txn_id": r.trustee_txn_id,
             "direction": r.direction, "amount_fen": r.amount_fen,
             "value_date": r.value_date.isoformat(), "reference": r.reference,
             "reason": ("the ledger booked this transaction with another amount or direction"
                        if r.known else "no ledger entry for this transaction")}
            for r in rows]


def _missing_entries(session: Session, statement: Statement,
                     ids: list[int]) -> list[dict[str, Any]]:
    """Custody movements of the day that no statement of the account shows (any day's: a
    movement the trustee dated the day before or after is not missing)."""
    start, end = _day_bounds(statement.date)
    c = _custody_entries(ids)
    shown = exists().where(StatementLine.account_no == statement.account_no,
                           StatementLine.trustee_txn_id == c.c.trustee_txn_id)
    rows = session.execute(
        select(c).where(c.c.value_at >= start, c.c.value_at < end,
                        c.c.trustee_txn_id.is_not(None), ~shown).order_by(c.c.id))
    return [{"entry_id": r.id, "trustee_txn_id": r.trustee_txn_id, "direction": r.direction,
             "amount_fen": r.amount_fen, "kind": r.kind,
             "at": _aware(r.value_at).astimezone(SHANGHAI).isoformat()} for r in rows]


def _aware(value: dt.datetime) -> dt.datetime:
    # Raw columns of a subquery skip the UTC type on SQLite: naive there means UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _custody_at_end_of(session: Session, ids: list[int], day: dt.date) -> int:
    """The ledger's custody balance of the account at the end of `day`: the stored balance
    less what moved after (one statement, so one snapshot of both)."""
    a = LedgerAccount
    _, end = _day_bounds(day)
    c = _custody_entries(ids)
    now = (select(func.coalesce(func.sum(a.balance), 0))
           .where(a.kind == "custody", a.institution_id.in_(ids)).scalar_subquery())
    later = (select(func.coalesce(func.sum(c.c.signed), 0)).where(c.c.value_at >= end)
             .scalar_subquery())
    return int(session.scalar(select(now - later)) or 0)


def _raise_flags(session: Session, actor: Actor, statement: Statement,
                 report: dict[str, Any], unmatched: list[dict[str, Any]],
                 missing: list[dict[str, Any]]) -> None:
    where = f"{statement.account_no}（{zh_date(statement.date)}）"
    credits = [line for line in unmatched if line["direction"] == "credit"]
    for line in credits[:FLAG_LIMIT]:
        _flag(session, actor, statement, "FUND_UNMATCHED_DEPOSIT", "critical", "statement_line",
              line["trustee_txn_id"], f"对账单{where}收款{yuan(line['amount_fen'])}在账上无记录",
              line)
    if len(credits) > FLAG_LIMIT:
        _flag(session, actor, statement, "FUND_UNMATCHED_DEPOSIT", "critical", "statement",
              statement.id, f"对账单{where}另有{len(credits) - FLAG_LIMIT}笔收款在账上无记录",
              {"count": len(credits) - FLAG_LIMIT})
    for entry in missing[:FLAG_LIMIT]:
        _flag(session, actor, statement, "FUND_MISSING_IN_STATEMENT", "high", "ledger_txn",
              entry["trustee_txn_id"],
              f"账上资金变动{yuan(entry['amount_fen'])}未见于受托方对账单{where}", entry)
    if len(missing) > FLAG_LIMIT:
        _flag(session, actor, statement, "FUND_MISSING_IN_STATEMENT", "high", "statement",
              statement.id, f"另有{len(missing) - FLAG_LIMIT}笔账上变动未见于对账单{where}",
              {"count": len(missing) - FLAG_LIMIT})
    if report["difference_fen"] < 0:
        _flag(session, actor, statement, "FUND_SHORTFALL", "critical", "statement", statement.id,
              f"监管账户{where}期末余额{yuan(statement.closing_balance_fen)}低于应存"
              f"{yuan(report['ledger_custody_fen'])}", {
                  k: report[k] for k in ("account_no", "date", "ledger_custody_fen",
                                         "statement_closing_fen", "difference_fen")})


def _flag(session: Session, actor: Actor, statement: Statement, rule: str, severity: str,
          subject_type: str, subject_id: str | int, summary: str,
          evidence: dict[str, Any]) -> None:
    raise_flag(session, actor, rule=rule, severity=severity,
               institution_id=statement.institution_id, subject_type=subject_type,
               subject_id=subject_id, summary=summary,
               evidence={"statement_id": statement.id, **evidence})
