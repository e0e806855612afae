"""Money and dates as a Chinese reader reads them: ¥1,234.00, 2026年12月3日, 2026年12月3日 19:00.

One function each for every place a person reads an amount or a date (flag summaries written
by the compliance engine, the console's pages and evidence), so an officer never sees raw fen
beside yuan, nor one page's dates in another order than the next. Integer arithmetic only for
money: fen never pass through a float.
"""

from __future__ import annotations

import datetime as dt

from .clock import SHANGHAI

# The chinesecalendar package names its holidays in English; an officer reads them in Chinese.
HOLIDAY_ZH = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "中国人民抗日战争胜利70周年纪念日",
}


def yuan(fen: int | None) -> str:
    """Integer fen shown as yuan with thousands separators and two decimals ("—" for none)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def holiday_zh(name: str | None) -> str | None:
    """A holiday's name in Chinese (names a regulator entered are kept as they are)."""
    return HOLIDAY_ZH.get(name, name) if name else name


def zh_date(value: dt.date | dt.datetime | None) -> str:
    """A date as 2026年12月3日 (an aware datetime: its Shanghai date)."""
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = _local(value).date()
    return f"{value.year}年{value.month}月{value.day}日"


def zh_datetime(value: dt.datetime | None) -> str:
    """An instant as 2026年12月3日 19:00, Shanghai time."""
    if value is None:
        return "—"
    local = _local(value)
    return f"{zh_date(local.date())} {local:%H:%M}"


def _local(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:  # our columns are aware; a naive value here is taken as UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(SHANGHAI)
