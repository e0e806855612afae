"""A real server and a real headless Chromium for the console's browser tests.

The server runs the app in a thread (werkzeug's make_server on a free port) on an SQLite file
of its own with real commits, loaded with the demo data and one compliance run. Chromium is
Debian's (`apt-get install chromium chromium-driver`); without it the tests are skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from supervision import clock, create_app
from supervision.access.scope import SYSTEM
from supervision.db import transaction
from supervision.models import Base

CHROMIUM = os.environ.get("SUPERVISION_CHROMIUM") or shutil.which("chromium") \
    or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("SUPERVISION_CHROMEDRIVER") or shutil.which("chromedriver") \
    or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--window-size=1440,1000",
                  "--lang=zh-CN")


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install -y {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


def book_money(session: Any, families: int = 6) -> None:
    """Families enroll at the active institutions, pay the trustee and attend one class, through
    the escrow services: the institution and dashboard pages then have money to show."""
    from sqlalchemy import select

    from supervision.access.principals import actor_for, create_principal
    from supervision.escrow.consumption import record_attendance
    from supervision.escrow.deposits import apply_deposit
    from supervision.escrow.enrollments import create_enrollment
    from supervision.models import ClassSession, Course, Institution

    now = clock.now()
    courses = session.scalars(select(Course).join(Institution).where(
        Institution.status == "active", Course.grade_max > 0)).all()
    for n in range(families):
        parent, _ = create_principal(session, role="parent", name=f"演示家长{n}")
        for course in courses:
            enrollment = create_enrollment(session, actor_for(parent), course_id=course.id,
                                           student_name=f"学生{n}",
                                           student_grade=course.grade_max, class_hours=12)
            apply_deposit(session, SYSTEM, event_id=f"live-{enrollment.id}",
                          trustee_txn_id=f"live-{enrollment.id}",
                          payment_reference=enrollment.payment_reference,
                          amount_fen=enrollment.amount_fen,
                          # Before the demo's first class: money pays only for later classes.
                          received_at=now - dt.timedelta(days=8))
            # A class held since the money arrived (the demo's risk plant has older ones,
            # and cancelled ones).
            started = session.scalars(select(ClassSession.id).where(
                ClassSession.course_id == course.id, ClassSession.status == "scheduled",
                ClassSession.starts_at < now,
                ClassSession.starts_at > now - dt.timedelta(days=8))).first()
            if started is not None and n % 2 == 0:
                # The session's own length in class hours: more is HOURS_EXCEED_SESSION.
                record_attendance(session, SYSTEM, session_id=started,
                                  enrollment_ids=[enrollment.id],
                                  class_hours=None, as_of=now)


@dataclass
class Live:
    url: str
    app: Flask

    def session(self) -> Any:
        factory = self.app.extensions["supervision.sessionmaker"]
        return transaction(factory, settings=self.app.config["SUPERVISION"], actor=SYSTEM)


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    reason = _missing()
    if reason:
        pytest.skip(f"browser tests need Chromium and chromedriver: {reason}")
    from supervision.compliance.runs import run_compliance
    from supervision.devtools.demo import seed_demo

    folder = tempfile.TemporaryDirectory(prefix="console-browser-")
    app = create_app({"DATABASE_URL": f"sqlite:///{Path(folder.name) / 'live.sqlite3'}",
                      "TESTING": True})
    Base.metadata.create_all(app.extensions["supervision.engine"])
    live = Live("", app)
    with live.session() as session:
        seed_demo(session)
    with live.session() as session:
        book_money(session)
    with live.session() as session:
        run_compliance(session, SYSTEM, as_of=clock.local_now())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live.url = f"http://127.0.0.1:{server.server_port}"
    yield live
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["supervision.engine"].dispose()
    folder.cleanup()


@pytest.fixture(scope="session")
def driver(live: Live) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.TemporaryDirectory(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile.name}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths given: Selenium Manager (which would go online) is never asked for anything.
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()
    profile.cleanup()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
