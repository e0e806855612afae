"""raise_flag: one flag per (rule, subject), the way escrow events raise theirs."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import create_app
from supervision.access.scope import SYSTEM
from supervision.compliance.flags import raise_flag
from supervision.db import transaction
from supervision.models import AuditLog, Base, Flag, FlagEvent, OutboxMessage

from ..support.databases import fresh_database
from ..support.factories import Factory

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def raise_deposit_flag(db: Session, at: dt.datetime = T0, amount: int = 100) -> Flag:
    return raise_flag(db, SYSTEM, rule="FUND_UNMATCHED_DEPOSIT", severity="critical",
                      institution_id=None, subject_type="deposit", subject_id="TXN-1",
                      summary=f"未匹配入账 {amount} 分", evidence={"amount_fen": amount}, at=at)


def events(db: Session, flag: Flag) -> list[tuple[str, str | None, str]]:
    rows = db.scalars(select(FlagEvent).where(FlagEvent.flag_id == flag.id)
                      .order_by(FlagEvent.id))
    return [(e.action, e.from_status, e.to_status) for e in rows]


def opened(db: Session) -> list[dict[str, object]]:
    return [m.payload for m in db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "flag.opened").order_by(OutboxMessage.id))]


def test_a_new_flag_is_open_with_history_audit_and_a_notification(db: Session) -> None:
    flag = raise_deposit_flag(db)
    assert (flag.status, flag.first_detected_at, flag.last_detected_at) == ("open", T0, T0)
    assert events(db, flag) == [("detected", None, "open")]
    assert db.scalars(select(AuditLog).where(AuditLog.entity == "flags",
                                             AuditLog.entity_id == str(flag.id))).one()
    [payload] = opened(db)
    assert payload["flag_id"] == flag.id and payload["severity"] == "critical"
    assert payload["title"] == "未匹配的入账（挂账）"


def test_detecting_the_same_thing_again_refreshes_the_one_flag(db: Session) -> None:
    first = raise_deposit_flag(db)
    again = raise_deposit_flag(db, at=T0 + dt.timedelta(hours=1), amount=200)
    assert again.id == first.id
    assert db.scalar(select(func.count()).select_from(Flag)) == 1
    assert again.first_detected_at == T0
    assert again.last_detected_at == T0 + dt.timedelta(hours=1)
    assert again.evidence == {"amount_fen": 200}
    assert len(opened(db)) == 1


def test_a_dismissed_flag_stays_dismissed_when_detected_again(db: Session) -> None:
    flag = raise_deposit_flag(db)
    flag.status = "dismissed"
    db.flush()
    raise_deposit_flag(db, at=T0 + dt.timedelta(days=1))
    assert flag.status == "dismissed"
    assert flag.last_detected_at == T0 + dt.timedelta(days=1)
    assert events(db, flag) == [("detected", None, "open")]
    assert len(opened(db)) == 1


@pytest.mark.parametrize("status", ["resolved", "cleared"])
def test_a_resolved_or_cleared_flag_reopens_when_detected_again(db: Session,
                                                                status: str) -> None:
    flag = raise_deposit_flag(db)
    flag.status = status
    db.flush()
    raise_deposit_flag(db, at=T0 + dt.timedelta(days=1))
    assert flag.status == "open"
    assert events(db, flag)[-1] == ("redetected", status, "open")
    assert [p["reopened"] for p in opened(db)] == [False, True]


@pytest.mark.parametrize("status", ["acknowledged", "rectification_ordered",
                                    "rectification_submitted"])
def test_a_flag_under_review_keeps_its_status_when_detected_again(db: Session,
                                                                  status: str) -> None:
    flag = raise_deposit_flag(db)
    flag.status = status
    db.flush()
    raise_deposit_flag(db, at=T0 + dt.timedelta(days=1))
    assert flag.status == status
    assert len(events(db, flag)) == 1


def test_the_same_subject_under_another_rule_is_another_flag(db: Session,
                                                             make: Factory) -> None:
    school = make.institution()
    a = raise_flag(db, SYSTEM, rule="STAFF_BLACKLISTED", severity="critical",
                   institution_id=school.id,
                   subject_type="teacher", subject_id=7, summary="x", evidence={})
    b = raise_flag(db, SYSTEM, rule="INSERVICE_TEACHER", severity="critical",
                   institution_id=school.id,
                   subject_type="teacher", subject_id="7", summary="y", evidence={})
    assert a.id != b.id and a.subject_id == b.subject_id == "7"


@pytest.mark.postgres
def test_two_writers_raising_the_same_flag_at_once_make_one_flag() -> None:
    base = os.environ.get("SUPERVISION_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("a concurrency property: PostgreSQL only")
    with fresh_database(base) as url:
        apps = [create_app({"DATABASE_URL": url}) for _ in range(8)]
        Base.metadata.create_all(apps[0].extensions["supervision.engine"])
        barrier = threading.Barrier(len(apps))
        errors: list[BaseException] = []

        def write(app: object) -> None:
            factory = app.extensions["supervision.sessionmaker"]  # type: ignore[attr-defined]
            settings = app.config["SUPERVISION"]  # type: ignore[attr-defined]
            try:
                with transaction(factory, settings=settings) as session:
                    session.execute(select(1))
                    barrier.wait(timeout=10)
                    raise_deposit_flag(session)
            except BaseException as exc:  # collected: a thread's failure must fail the test
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(app,)) for app in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        with transaction(apps[0].extensions["supervision.sessionmaker"],
                         settings=apps[0].config["SUPERVISION"]) as session:
            assert session.scalar(select(func.count()).select_from(Flag)) == 1
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        for app in apps:
            app.extensions["supervision.engine"].dispose()
