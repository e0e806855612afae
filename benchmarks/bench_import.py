"""Time the spreadsheet import (API.md §3; issue 12: 5,000 rows in one file within 10 s).

    python -m benchmarks.bench_import [DATABASE_URL ...]

Without a URL: a throw-away SQLite file and a throw-away PostgreSQL database (127.0.0.1,
user postgres). For each database: a 5,000-row sessions .xlsx and a 5,000-row teachers .csv
through `import_rows` (read, check, insert, commit: one unit of work each), then the same
sessions file again through the HTTP API (multipart POST). One line per figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select

from supervision import create_app
from supervision.access import audit
from supervision.access.principals import actor_for, create_principal
from supervision.access.scope import SYSTEM
from supervision.db import make_engine, make_sessionmaker, transaction
from supervision.identifiers import fake_cert_no, fake_id_number
from supervision.models import Base, ClassSession, Course, Institution, Teacher, Venue
from supervision.registry.imports import COLUMNS, MAX_ROWS, import_rows

from ._common import temporary_database

LIMIT_S = 10.0
FIRST = dt.datetime(2027, 3, 1, 18, 0)  # Shanghai wall clock, as a clerk types it


def sessions_xlsx(course_id: int, teacher_ids: list[int], venue_id: int, rows: int) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append([c.label for c in COLUMNS["sessions"]])
    for n in range(rows):
        # 20 teachers, 10 classes an evening slot apart, a week apart: no two rows alike.
        starts = FIRST + dt.timedelta(days=7 * (n // 200), minutes=15 * (n % 200 // 20))
        sheet.append([course_id, starts, starts + dt.timedelta(minutes=90),
                      teacher_ids[n % len(teacher_ids)], venue_id])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def teachers_csv(rows: int, rng: random.Random) -> bytes:
    lines = [",".join(c.field for c in COLUMNS["teachers"])]
    for n in range(rows):
        lines.append(",".join([
            f"教师{n}", fake_id_number(rng), fake_cert_no(rng, type_digit="3"), "junior",
            "数学", "否", "clear", "2026-08-20", "full_time", "2026-09-01"]))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def timed(label: str, work: Callable[[], int]) -> None:
    started = time.perf_counter()
    created = work()
    elapsed = time.perf_counter() - started
    verdict = "ok" if elapsed <= LIMIT_S else "OVER THE LIMIT"
    print(f"  {label}: {created} rows in {elapsed:.2f} s (limit {LIMIT_S:.0f} s: {verdict})")


def bench(url: str, rows: int) -> None:
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    app = create_app({"DATABASE_URL": url})
    settings = app.config["SUPERVISION"]
    factory = make_sessionmaker(engine)
    audit.install(factory)  # as the app's own sessions: every new row is audited
    rng = random.Random(2026)
    with transaction(factory, settings=settings, actor=SYSTEM) as session:
        inst = Institution(
            name="基准培训学校", uscc="52320200MJ5812345D", license_no="教民000001",
            license_valid_until=dt.date(2029, 12, 31), district_code="320213",
            category="subject", licensed_modes=["offline"], nonprofit_registration_no="民非1",
            escrow_mode="trust", supervised_account_no="GLXT-BENCH-1", address="梁溪区基准路1号",
            contact_phone="0510-80000000", status="active")
        session.add(inst)
        session.flush()
        venue = Venue(institution_id=inst.id, address="教学点1", capacity=30)
        course = Course(institution_id=inst.id, name="初二数学", subject="math",
                        category="subject", grade_min=8, grade_max=8, mode="offline",
                        class_size=20, minutes_per_class_hour=45, price_per_class_hour_fen=4000)
        session.add_all([venue, course])
        session.flush()
        teachers = [Teacher(institution_id=inst.id, name=f"老师{i}", id_number_hash=f"h{i}",
                            id_number_masked="3202**********123X", background_check_status="clear",
                            employment="full_time", hired_on=dt.date(2026, 9, 1))
                    for i in range(20)]
        session.add_all(teachers)
        principal, token = create_principal(session, role="institution", name="基准前台",
                                            institution_id=inst.id)
        actor = actor_for(principal)
        ids = (course.id, [t.id for t in teachers], venue.id)
    xlsx_data = sessions_xlsx(*ids, rows)
    csv_data = teachers_csv(rows, rng)
    print(f"{engine.dialect.name}: sessions .xlsx {len(xlsx_data) // 1024} KiB, "
          f"teachers .csv {len(csv_data) // 1024} KiB")

    def through_service(kind: str, filename: str, data: bytes) -> Callable[[], int]:
        def work() -> int:
            with transaction(factory, settings=settings, actor=actor) as session:
                return import_rows(session, actor, kind, filename, data).created
        return work

    timed(f"{rows} sessions from .xlsx (service)",
          through_service("sessions", "term.xlsx", xlsx_data))
    timed(f"{rows} teachers from .csv (service)",
          through_service("teachers", "staff.csv", csv_data))

    def through_http() -> int:
        resp = app.test_client().post(
            "/api/v1/imports/sessions", headers={"Authorization": f"Bearer {token}"},
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(xlsx_data), "term.xlsx")})
        if resp.status_code != 201:
            sys.exit(f"HTTP import failed: {resp.status_code} {resp.get_data(as_text=True)}")
        return int((resp.json or {})["created"])

    timed(f"{rows} sessions from .xlsx (HTTP POST)", through_http)
    with factory() as session:
        made = session.scalar(select(func.count()).select_from(ClassSession))
        staff = session.scalar(select(func.count()).select_from(Teacher))
    print(f"  in the database: {made} sessions, {staff} teachers")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="*")
    parser.add_argument("--rows", type=int, default=MAX_ROWS)
    args = parser.parse_args()
    with ExitStack() as stack:
        urls = list(args.urls)
        if not urls:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            urls = [f"sqlite:///{folder / 'bench_import.sqlite3'}",
                    stack.enter_context(temporary_database("bench_import"))]
        for url in urls:
            bench(url, args.rows)


if __name__ == "__main__":
    main()
