"""What an officer reads in a flag: Chinese only, money in yuan, dates in Chinese. Checked on
the demo's own compliance run, which plants one violation of nearly every rule."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.compliance.runs import run_compliance
from supervision.devtools.demo import seed_demo
from supervision.models import Flag
from supervision.wording import yuan, zh_date, zh_datetime

SH = dt.timezone(dt.timedelta(hours=8))
AS_OF = dt.datetime(2026, 12, 3, 19, 0, tzinfo=SH)
# Latin letters a reader may meet in a summary: the X check character of a masked resident ID
# number, and the letters of a USCC or a licence number (identifiers, not words).
IDENTIFIER = re.compile(r"[0-9*]{6,}[0-9X*]*|[0-9A-Z]{18}|[A-Z0-9-]*\d[A-Z0-9-]*")
WORD = re.compile(r"[A-Za-z]+")


def _seed(db: Session) -> None:
    # The demo is seeded at a fixed moment, whichever way seed_demo takes it (it moves from a
    # date to an instant), so the run never depends on today's date.
    params = inspect.signature(seed_demo).parameters
    kwargs: dict[str, Any] = {"now": AS_OF} if "now" in params else {"today": AS_OF.date()}
    seed_demo(db, **kwargs)


def english_in(text: str) -> list[str]:
    return WORD.findall(IDENTIFIER.sub("", text))


def test_every_summary_of_the_demo_run_is_chinese_with_money_in_yuan(db: Session) -> None:
    _seed(db)
    run_compliance(db, SYSTEM, as_of=AS_OF)
    db.flush()
    flags = list(db.scalars(select(Flag)))
    assert len({f.rule for f in flags}) >= 15
    wrong = [(f.rule, f.summary) for f in flags
             if english_in(f.summary) or f.rule in f.summary
             or re.search(r"\d\s*分(?!钟)", f.summary)  # fen, not minutes (分钟)
             or re.search(r"\d{4}-\d{2}-\d{2}", f.summary)]
    assert wrong == [], "\n".join(f"{r}: {s}" for r, s in wrong)


def test_the_wording_check_catches_english_and_raw_codes() -> None:
    assert english_in("背景查询结果为pending") == ["pending"]
    assert english_in("收款 8000 分无法入账（unknown payment reference）") == [
        "unknown", "payment", "reference"]
    assert english_in("张三（320213********123X），背景查询结果为待查") == []
    assert english_in("统一社会信用代码52320213MJ1234567X不以52开头") == []


def test_yuan_shows_fen_as_yuan_with_separators_and_two_decimals() -> None:
    assert yuan(0) == "¥0.00"
    assert yuan(1) == "¥0.01"
    assert yuan(100) == "¥1.00"
    assert yuan(123456789) == "¥1,234,567.89"
    assert yuan(-1) == "-¥0.01"
    assert yuan(-123456) == "-¥1,234.56"
    assert yuan(None) == "—"


def test_dates_and_times_read_in_chinese_in_shanghai_time() -> None:
    assert zh_date(dt.date(2026, 12, 3)) == "2026年12月3日"
    assert zh_date(dt.date(2027, 1, 10)) == "2027年1月10日"
    # 11:00 UTC is 19:00 in Shanghai; 18:30 UTC is already the next day there.
    assert zh_datetime(dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)) == "2026年12月3日 19:00"
    assert zh_date(dt.datetime(2026, 12, 3, 18, 30, tzinfo=dt.UTC)) == "2026年12月4日"
    assert zh_date(None) == "—" and zh_datetime(None) == "—"
