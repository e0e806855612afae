"""The unit of work: the one place that commits or rolls back.

Every entrypoint call (a request, a CLI command, a scheduler job, each short transaction of a
worker) opens one, commits it once when the call succeeded and rolls it back when it raised.
Work that must follow the commit (sending an instruction to the trustee, which must never hear
of an instruction the database does not hold) is queued with `after_commit`: it runs after the
commit, and never when the transaction was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

AfterCommit = Callable[[], object]


class UnitOfWork:
    """One session, one transaction at a time, and the work queued to follow its commit."""

    def __init__(self, factory: sessionmaker[Session], **info: Any) -> None:
        self.session = factory()
        self.session.info.update(info)
        self._after_commit: list[AfterCommit] = []
        self._kept: BaseException | None = None

    def after_commit(self, fn: AfterCommit) -> None:
        """Run `fn` once this unit of work committed; dropped if it rolls back."""
        self._after_commit.append(fn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the work that may fail alone: on an exception its changes and the
        after-commit work it queued are undone, the rest of the transaction stays usable."""
        queued = len(self._after_commit)
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            del self._after_commit[queued:]
            raise

    def commit_despite(self, exc: BaseException) -> None:
        """Commit even though `exc` ends the call: a refusal that must be remembered (an
        Idempotency-Key's stored 4xx), its failed part already undone by a savepoint."""
        self._kept = exc

    def restart(self) -> None:
        """Throw away everything so far and begin again (a retry after a transient database
        conflict)."""
        self.session.rollback()
        self._after_commit.clear()
        self._kept = None

    def finish(self, exc: BaseException | None = None) -> None:
        """End the transaction: commit (then run the after-commit work) unless `exc` ended the
        call, in which case roll back, except for the refusal marked with `commit_despite`."""
        if exc is not None and exc is not self._kept:
            self.rollback()
            return
        self._kept = None
        self.session.commit()
        queued, self._after_commit = self._after_commit, []
        for fn in queued:
            try:
                fn()
            except Exception:
                # The transaction is committed and stays so; what did not follow it is left
                # for its retry job (pending instructions, due outbox rows).
                log.exception("after-commit work %s failed", getattr(fn, "__name__", fn))

    def rollback(self) -> None:
        self.session.rollback()
        self._after_commit.clear()
        self._kept = None

    def close(self) -> None:
        self._after_commit.clear()
        self.session.close()  # rolls back whatever was not committed


@contextmanager
def unit_of_work(factory: sessionmaker[Session], **info: Any) -> Iterator[UnitOfWork]:
    """`with unit_of_work(factory, settings=..., actor=...) as uow:` uses `uow.session`;
    commits once on success, rolls back on any exception, then runs `uow.after_commit` work."""
    uow = UnitOfWork(factory, **info)
    try:
        try:
            yield uow
        except BaseException as exc:
            uow.finish(exc)
            raise
        uow.finish()
    finally:
        uow.close()


@contextmanager
def trial(session: Session) -> Iterator[None]:
    """A savepoint always rolled back: writes made only to be looked at (compliance.preview
    writes a course to run the rules on it), the transaction left as it was and usable."""
    savepoint = session.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()
