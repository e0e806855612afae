"""The one clock and the one local time zone.

Every "now" and "today" in the code comes from here, never from `datetime.now()` or
`date.today()` directly, so a test (or CI's second pass with the clock moved a year ahead,
through time-machine) changes the time for the whole program at once.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# Business rules are evaluated in Shanghai time (API.md §1).
SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    """The current instant, timezone-aware (UTC)."""
    return dt.datetime.now(dt.UTC)


def local_now() -> dt.datetime:
    """The current instant in Shanghai time."""
    return now().astimezone(SHANGHAI)


def today() -> dt.date:
    """Today's date in Shanghai."""
    return local_now().date()
