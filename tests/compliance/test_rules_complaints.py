"""RULES.md §10: COMPLAINT_UNANSWERED, COMPLAINT_OVERDUE and COMPLAINTS_SURGE fire on the
dates the deadlines set, read in Chinese with ids and dates as evidence, and clear when the
complaint is answered or closed or the surge passes. Fixed dates throughout."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision.access.scope import SYSTEM
from supervision.clock import SHANGHAI
from supervision.complaints import close_complaint, respond_to_complaint
from supervision.compliance.runs import run_compliance
from supervision.models import Flag

from ..support.complaints import THURSDAY, Town, complaint, town
from ..support.factories import Factory
from ..support.rules import run


def day(month: int, d: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, d, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def t(db: Session, make: Factory) -> Town:
    return town(db, make)


def flag_of(db: Session, code: str, subject_id: int) -> Flag | None:
    db.expire_all()
    return db.scalar(select(Flag).where(Flag.rule == code, Flag.subject_id == str(subject_id)))


def test_an_unanswered_complaint_is_flagged_the_day_after_respond_by(t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a, at=THURSDAY)  # respond_by Thursday 12-10
    assert run(t.db, "COMPLAINT_UNANSWERED", as_of=day(12, 10, 23)) == []
    found = run(t.db, "COMPLAINT_UNANSWERED", as_of=day(12, 11))
    assert [(f.subject_type, f.subject_id, f.institution_id, f.severity) for f in found] == [
        ("complaint", str(c.id), t.inst_a.id, "medium")]
    assert found[0].evidence == {"complaint_id": c.id, "category": "refund",
                                 "status": "submitted", "submitted_on": "2026-12-03",
                                 "respond_by": "2026-12-10", "due_on": "2026-12-24"}
    assert found[0].summary == ("投诉逾期未答复：甲培训中心，2026年12月3日受理的退费投诉"
                                f"（编号{c.id}）应于2026年12月10日前答复，机构至今未答复")


def test_an_answered_complaint_is_not_unanswered_but_still_overdue_until_closed(
        t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a, at=THURSDAY)  # due_on Thursday 12-24
    respond_to_complaint(t.db, t.staff_a.actor, c.id, text="已处理", as_of=day(12, 4))
    assert run(t.db, "COMPLAINT_UNANSWERED", as_of=day(12, 28)) == []
    assert run(t.db, "COMPLAINT_OVERDUE", as_of=day(12, 24, 23)) == []
    found = run(t.db, "COMPLAINT_OVERDUE", as_of=day(12, 25))
    assert [(f.subject_id, f.severity) for f in found] == [(str(c.id), "high")]
    assert "应于2026年12月24日前办结，至今仍机构已答复" in found[0].summary
    close_complaint(t.db, t.city.actor, c.id, outcome="rejected", as_of=day(12, 28))
    assert run(t.db, "COMPLAINT_OVERDUE", as_of=day(12, 29)) == []


def test_a_surge_is_five_complaints_about_one_institution_in_thirty_days(t: Town) -> None:
    # Four in November and one on 12-03: at 12-03 all five lie in the last 30 days.
    dates = [day(11, 4), day(11, 10), day(11, 20), day(11, 30), THURSDAY]
    made = [complaint(t.db, t.parent_a, t.inst_a, at=at) for at in dates]
    complaint(t.db, t.parent_a, t.inst_b, at=THURSDAY)  # another institution: not counted
    found = run(t.db, "COMPLAINTS_SURGE", as_of=day(12, 3, 12))
    assert [(f.subject_type, f.subject_id, f.severity) for f in found] == [
        ("institution", str(t.inst_a.id), "high")]
    evidence = found[0].evidence
    assert evidence["complaint_ids"] == [c.id for c in made]
    assert (evidence["count"], evidence["threshold"], evidence["from"], evidence["to"]) == (
        5, 5, "2026-11-04", "2026-12-03")
    assert "甲培训中心在2026年11月4日至2026年12月3日的30天内被投诉5次" in found[0].summary
    # A day later the complaint of 11-04 has left the window: four remain.
    assert run(t.db, "COMPLAINTS_SURGE", as_of=day(12, 4, 12)) == []


def test_the_surge_threshold_and_window_are_configuration(t: Town) -> None:
    for at in (day(11, 20), day(11, 30)):
        complaint(t.db, t.parent_a, t.inst_a, at=at)
    assert run(t.db, "COMPLAINTS_SURGE", as_of=day(12, 1)) == []
    settings = t.db.info["settings"]
    policy = {**settings.policy, "rules": {**settings.policy["rules"],
                                          "complaints_surge_count": 2,
                                          "complaints_surge_days": 12}}
    t.db.info["settings"] = dataclasses.replace(settings, policy=policy)
    assert [f.subject_id for f in run(t.db, "COMPLAINTS_SURGE", as_of=day(12, 1))] == [
        str(t.inst_a.id)]


def test_a_run_opens_the_complaint_flags_and_clears_them_once_the_complaint_is_handled(
        t: Town) -> None:
    c = complaint(t.db, t.parent_a, t.inst_a, at=THURSDAY)
    run_compliance(t.db, SYSTEM, as_of=day(12, 28))
    unanswered, overdue = (flag_of(t.db, "COMPLAINT_UNANSWERED", c.id),
                           flag_of(t.db, "COMPLAINT_OVERDUE", c.id))
    assert unanswered is not None and unanswered.status == "open"
    assert overdue is not None and overdue.status == "open"
    assert unanswered.institution_id == t.inst_a.id
    respond_to_complaint(t.db, t.staff_a.actor, c.id, text="已处理", as_of=day(12, 28, 10))
    run_compliance(t.db, SYSTEM, as_of=day(12, 28, 11))
    assert flag_of(t.db, "COMPLAINT_UNANSWERED", c.id).status == "cleared"  # type: ignore[union-attr]
    assert flag_of(t.db, "COMPLAINT_OVERDUE", c.id).status == "open"  # type: ignore[union-attr]
    close_complaint(t.db, t.city.actor, c.id, outcome="upheld", as_of=day(12, 28, 12))
    run_compliance(t.db, SYSTEM, as_of=day(12, 28, 13))
    assert flag_of(t.db, "COMPLAINT_OVERDUE", c.id).status == "cleared"  # type: ignore[union-attr]


def test_a_surge_flag_clears_when_the_complaints_age_out(t: Town) -> None:
    for at in (day(11, 4), day(11, 10), day(11, 20), day(11, 30), THURSDAY):
        c = complaint(t.db, t.parent_a, t.inst_a, at=at)
        close_complaint(t.db, t.city.actor, c.id, outcome="mediated", as_of=at)
    run_compliance(t.db, SYSTEM, as_of=day(12, 3, 12))
    assert flag_of(t.db, "COMPLAINTS_SURGE", t.inst_a.id).status == "open"  # type: ignore[union-attr]
    run_compliance(t.db, SYSTEM, as_of=day(12, 4, 12))
    assert flag_of(t.db, "COMPLAINTS_SURGE", t.inst_a.id).status == "cleared"  # type: ignore[union-attr]
