"""The auto-confirm date of attendance comes from the calendar's per-process memory
(calendar.add_working_days_cached): the same date as the calendar's, an override put in this
process seen at once, and nothing remembered that an override took part in."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from supervision import calendar, clock
from supervision.models.compliance import CalendarOverride

from ..support.escrow_world import World

DAYS = 15


def first_workday_after(db: Session, day: dt.date) -> dt.date:
    return next(info.date for info in calendar.calendar_days(db, day + dt.timedelta(days=1),
                                                             day + dt.timedelta(days=20))
                if info.kind == "workday")


def test_the_remembered_date_is_the_calendar_s_date(db: Session) -> None:
    calendar.forget_working_days()
    today = clock.today()
    for start in (today, today + dt.timedelta(days=3), dt.date(2026, 9, 28)):
        assert calendar.add_working_days_cached(db, start, DAYS) == calendar.add_working_days(
            db, start, DAYS)
        # Asked again, from memory: still the same.
        assert calendar.add_working_days_cached(db, start, DAYS) == calendar.add_working_days(
            db, start, DAYS)


def test_an_override_put_in_this_process_is_seen_at_once(db: Session, w: World) -> None:
    today = clock.today()
    before = calendar.add_working_days_cached(db, today, DAYS)
    calendar.put_override(db, w.actor(w.regulator), first_workday_after(db, today),
                          kind="holiday", name="春节")
    after = calendar.add_working_days_cached(db, today, DAYS)
    assert after > before
    assert after == calendar.add_working_days(db, today, DAYS)


def test_a_date_an_override_took_part_in_is_not_remembered(db: Session, w: World) -> None:
    """As when the override's transaction rolls back, or another process deletes it: the next
    question reads the calendar again."""
    today = clock.today()
    plain = calendar.add_working_days(db, today, DAYS)
    calendar.put_override(db, w.actor(w.regulator), first_workday_after(db, today),
                          kind="holiday", name="春节")
    assert calendar.add_working_days_cached(db, today, DAYS) > plain
    db.execute(delete(CalendarOverride))  # behind the calendar's back: no forget_working_days
    assert calendar.add_working_days_cached(db, today, DAYS) == plain


def test_attendance_after_an_override_confirms_by_the_overridden_calendar(
        client: FlaskClient, w: World, db: Session) -> None:
    a = w.paid_enrollment(client)
    w.attend(client, [a["id"]])  # remembers today's date
    calendar.put_override(db, w.actor(w.regulator), first_workday_after(db, clock.today()),
                          kind="holiday", name="春节")
    db.flush()
    b = w.paid_enrollment(client, student="小红")
    before = clock.local_now()
    row = w.attend(client, [b["id"]]).json["consumptions"][0]
    at = dt.datetime.fromisoformat(row["auto_confirm_at"])
    # Unless the day turned between the two readings of the clock.
    assert at.date() == calendar.add_working_days(db, before.date(), DAYS) or (
        at.date() == calendar.add_working_days(db, clock.local_now().date(), DAYS))
