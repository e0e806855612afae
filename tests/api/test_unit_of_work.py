"""The unit of work: one commit per entrypoint call, its after-commit queue, and no commit or
rollback anywhere else in supervision/."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from supervision.access.scope import SYSTEM
from supervision.config import PROJECT_DIR
from supervision.models import OutboxMessage
from supervision.notify import enqueue
from supervision.unit_of_work import unit_of_work

PACKAGE = PROJECT_DIR / "supervision"
UNIT_OF_WORK = PACKAGE / "unit_of_work.py"


def factory_of(app: Flask) -> sessionmaker[Session]:
    return app.extensions["supervision.sessionmaker"]


def outbox_kinds(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def test_after_commit_work_runs_once_the_work_is_committed_and_sees_it(
        app: Flask, db: Session) -> None:
    seen: list[tuple[bool, list[str]]] = []
    with unit_of_work(factory_of(app), settings=app.config["SUPERVISION"], actor=SYSTEM) as uow:
        enqueue(uow.session, "uow.test", {})
        uow.after_commit(lambda: seen.append((uow.session.in_transaction(), outbox_kinds(db))))
        assert seen == []  # queued, not run
    assert seen == [(False, ["uow.test"])]  # the transaction was over: committed


def test_after_commit_work_never_runs_when_the_work_raised_and_nothing_is_written(
        app: Flask, db: Session) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), unit_of_work(factory_of(app), actor=SYSTEM) as uow:
        enqueue(uow.session, "uow.test", {})
        uow.session.flush()
        uow.after_commit(lambda: ran.append("sent"))
        raise RuntimeError("the work failed")
    assert ran == []
    assert outbox_kinds(db) == []


def test_a_failing_after_commit_callback_keeps_the_commit_is_logged_and_the_next_still_runs(
        app: Flask, db: Session, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def trustee_down() -> None:
        raise ConnectionError("trustee down")

    with (caplog.at_level(logging.ERROR, logger="supervision.unit_of_work"),
          unit_of_work(factory_of(app), actor=SYSTEM) as uow):
        enqueue(uow.session, "uow.test", {})
        uow.after_commit(trustee_down)
        uow.after_commit(lambda: ran.append("second"))
    assert outbox_kinds(db) == ["uow.test"]
    assert ran == ["second"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert "trustee_down" in record.getMessage() and "trustee down" in caplog.text


def test_a_failed_savepoint_undoes_its_changes_and_the_work_it_queued_only(
        app: Flask, db: Session) -> None:
    ran: list[str] = []
    with unit_of_work(factory_of(app), actor=SYSTEM) as uow:
        enqueue(uow.session, "kept", {})
        uow.after_commit(lambda: ran.append("kept"))
        with pytest.raises(ValueError), uow.savepoint():
            enqueue(uow.session, "undone", {})
            uow.after_commit(lambda: ran.append("undone"))
            raise ValueError("refused")
    assert outbox_kinds(db) == ["kept"]
    assert ran == ["kept"]


def test_a_refusal_marked_to_be_kept_is_committed_while_it_still_ends_the_call(
        app: Flask, db: Session) -> None:
    refusal = ValueError("remembered refusal")
    with pytest.raises(ValueError), unit_of_work(factory_of(app), actor=SYSTEM) as uow:
        enqueue(uow.session, "refusal", {})
        uow.commit_despite(refusal)
        raise refusal
    assert outbox_kinds(db) == ["refusal"]
    with pytest.raises(ValueError), unit_of_work(factory_of(app), actor=SYSTEM) as uow:
        enqueue(uow.session, "other", {})
        uow.commit_despite(refusal)
        raise ValueError("another error")  # not the one marked: rolled back
    assert outbox_kinds(db) == ["refusal"]


@pytest.mark.fresh_app  # adds a route
def test_a_request_commits_once_after_the_view_and_rolls_back_when_it_raised(
        app: Flask, db: Session) -> None:
    from supervision.web.request import after_commit, db_session

    seen: list[int] = []

    @app.post("/_uow_test/<int:fail>")
    def view(fail: int) -> str:
        enqueue(db_session(), "request", {"fail": fail})
        after_commit(lambda: seen.append(db.scalar(
            select(func.count()).select_from(OutboxMessage)) or 0))
        if fail:
            raise RuntimeError("the view failed")
        return "ok"

    client = app.test_client()
    assert client.post("/_uow_test/0").status_code == 200
    assert seen == [1]  # ran after the commit, before the response
    assert client.post("/_uow_test/1").status_code == 500
    assert seen == [1]
    assert outbox_kinds(db) == ["request"]


COMMIT_OR_ROLLBACK = re.compile(r"\.(commit|rollback)\(\)")


def test_only_the_unit_of_work_commits_or_rolls_back() -> None:
    found = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path != UNIT_OF_WORK
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if COMMIT_OR_ROLLBACK.search(line)]
    assert found == []
    assert COMMIT_OR_ROLLBACK.search(UNIT_OF_WORK.read_text(encoding="utf-8"))

