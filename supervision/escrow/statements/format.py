"""A trustee statement as values: parsed strictly from the trustee's JSON, checked to sum."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ...errors import Invalid

DIRECTIONS = ("credit", "debit")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class LineIn:
    trustee_txn_id: str
    direction: str
    amount_fen: int
    value_date: dt.date
    reference: str | None


@dataclass(frozen=True)
class StatementIn:
    account_no: str
    date: dt.date
    opening_balance_fen: int
    closing_balance_fen: int
    lines: tuple[LineIn, ...]

    def digest(self) -> str:
        """The same statement hashes alike whether uploaded or pulled, however serialised."""
        canonical = [self.account_no, self.date.isoformat(), self.opening_balance_fen,
                     self.closing_balance_fen,
                     [[ln.trustee_txn_id, ln.direction, ln.amount_fen, ln.value_date.isoformat(),
                       ln.reference] for ln in self.lines]]
        text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def check_statement(statement: StatementIn) -> None:
    """422 unless the lines sum from opening to closing and name each transaction once."""
    total = statement.opening_balance_fen
    seen: set[str] = set()
    duplicates: list[str] = []
    for line in statement.lines:
        total += line.amount_fen if line.direction == "credit" else -line.amount_fen
        if line.trustee_txn_id in seen:
            duplicates.append(line.trustee_txn_id)
        seen.add(line.trustee_txn_id)
    if duplicates:
        raise Invalid.field("lines", "trustee_txn_id repeated: " + ", ".join(duplicates[:10]))
    if total != statement.closing_balance_fen:
        raise Invalid.field(
            "closing_balance_fen",
            f"the lines do not sum from opening to closing: opening "
            f"{statement.opening_balance_fen} + credits - debits = {total}, "
            f"closing {statement.closing_balance_fen}")


def statement_from_json(data: Any) -> StatementIn:
    """Parse a statement body strictly (unknown fields, wrong types → Invalid)."""
    fields = {"account_no", "date", "opening_balance_fen", "closing_balance_fen", "lines"}
    obj = _object(data, fields, "")
    return StatementIn(account_no=_text(obj, "account_no", "", 64), date=_date(obj, "date", ""),
                       opening_balance_fen=_amount(obj, "opening_balance_fen", ""),
                       closing_balance_fen=_amount(obj, "closing_balance_fen", ""),
                       lines=lines_from_json(obj["lines"]))


_LINE_FIELDS = frozenset({"trustee_txn_id", "direction", "amount_fen", "value_date",
                          "reference"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def lines_from_json(items: Any) -> tuple[LineIn, ...]:
    """Statement lines, checked field by field: written for 100,000 lines a request (a
    generic schema library takes ten times as long), errors named lines.<i>.<field>."""
    if not isinstance(items, list):
        raise Invalid.field("lines", "must be a list")
    dates: dict[Any, dt.date] = {}  # a statement has one or two distinct value dates
    parsed = []
    for i, item in enumerate(items):
        prefix = f"lines.{i}."
        ln = _object(item, _LINE_FIELDS, prefix, optional={"reference"})
        direction = ln["direction"]
        if direction not in DIRECTIONS:
            raise Invalid.field(prefix + "direction", "must be credit or debit")
        value_date = dates.get(ln["value_date"]) if isinstance(ln["value_date"], str) else None
        if value_date is None:
            value_date = dates[ln["value_date"]] = _date(ln, "value_date", prefix)
        reference = ln.get("reference")
        parsed.append(LineIn(
            trustee_txn_id=_text(ln, "trustee_txn_id", prefix, 64), direction=direction,
            amount_fen=_amount(ln, "amount_fen", prefix), value_date=value_date,
            reference=None if reference is None else _text(ln, "reference", prefix, 200)))
    return tuple(parsed)


def _object(data: Any, fields: set[str] | frozenset[str], prefix: str,
            optional: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid.field(prefix.rstrip(".") or "_schema", "must be an object")
    if data.keys() == fields:
        return data
    unknown = set(data) - fields
    if unknown:
        raise Invalid.field(prefix + sorted(unknown)[0], "unknown field")
    missing = fields - optional - set(data)
    if missing:
        raise Invalid.field(prefix + sorted(missing)[0], "missing")
    return data


def _text(obj: dict[str, Any], key: str, prefix: str, size: int) -> str:
    value = obj[key]
    if not isinstance(value, str) or len(value) > size or not value.strip():
        raise Invalid.field(prefix + key, f"must be a non-blank string of at most {size}")
    if _CONTROL.search(value):
        raise Invalid.field(prefix + key, "control characters are not allowed")
    return value.strip()


def _amount(obj: dict[str, Any], key: str, prefix: str) -> int:
    value = obj[key]
    if type(value) is not int or not 0 <= value <= 10**13:
        raise Invalid.field(prefix + key, "must be an integer number of fen, 0 to 10^13")
    return value


def _date(obj: dict[str, Any], key: str, prefix: str) -> dt.date:
    value = obj[key]
    try:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid.field(prefix + key, "must be a date YYYY-MM-DD") from None
