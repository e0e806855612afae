"""The daily statement pull: yesterday's statement of every account with custody activity,
fetched from the trustee outside any transaction and imported each in its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import quote

import requests
from sqlalchemy.orm import Session, sessionmaker

from .. import clock, outbound
from ..access.scope import SYSTEM
from ..config import Settings
from ..errors import DomainError, Invalid
from ..escrow.statements import (
    StatementIn,
    accounts_with_custody,
    import_statement,
    statement_from_json,
)
from ..unit_of_work import unit_of_work

log = logging.getLogger(__name__)


def pull_statements(session_factory: sessionmaker[Session], settings: Settings,
                    day: dt.date | None = None) -> int:
    """The scheduler's daily job: fetch `day`'s (default yesterday's) statement of every
    account with custody activity and reconcile it, each in its own transaction. Safe to run
    twice: a statement already imported is recognised. Returns how many were new."""
    url = settings.trustee_api_url.rstrip("/")
    if not url:
        log.warning("TRUSTEE_API_URL is not set: no statements pulled")
        return 0
    day = day or clock.today() - dt.timedelta(days=1)
    with unit_of_work(session_factory, settings=settings, actor=SYSTEM) as uow:
        accounts = accounts_with_custody(uow.session)
    http = outbound.make_session(retries=settings.trustee_retries,
                                 backoff=settings.trustee_backoff_seconds)
    imported = 0
    try:
        for account_no in accounts:
            statement = _fetch(http, settings, url, account_no, day)
            if statement is None:
                continue
            try:
                with unit_of_work(session_factory, settings=settings, actor=SYSTEM) as uow:
                    imported += import_statement(uow.session, SYSTEM, statement,
                                                 source="pull")[1]
            except DomainError as exc:
                log.error("statement %s %s refused: %s %s", account_no, day, exc.message,
                          exc.errors)
    finally:
        http.close()
    return imported


def _fetch(http: requests.Session, settings: Settings, url: str, account_no: str,
           day: dt.date) -> StatementIn | None:
    try:
        resp = outbound.signed_request(
            http, "GET", f"{url}/statements/{quote(account_no, safe='')}?date={day.isoformat()}",
            secret=settings.trustee_secret,
            timeout=settings.trustee_timeout_seconds)
    except requests.RequestException as exc:
        log.error("statement %s %s not fetched: %s", account_no, day, exc)
        return None
    if resp.status_code != 200:
        log.error("statement %s %s not fetched: HTTP %s", account_no, day, resp.status_code)
        return None
    try:
        statement = statement_from_json(resp.json())
    except (ValueError, Invalid) as exc:
        log.error("statement %s %s unreadable: %s", account_no, day, exc)
        return None
    if (statement.account_no, statement.date) != (account_no, day):
        log.error("statement %s %s: the trustee sent %s %s", account_no, day,
                  statement.account_no, statement.date)
        return None
    return statement
