"""Generate the compliance benchmark's data set (QUALITY.md): 10,000 institutions, 50,000
teachers, ~100,000 courses and 1,000,000 sessions inside one run's window, plus venues,
rosters, parents, enrollments with their held-money accounts, refunds and ~50,000 complaints,
with a few percent of every kind of violation planted. Deterministic for a seed.

    python -m benchmarks.gen_compliance [DATABASE_URL] [--scale 1.0] [--seed 2026] [--reset]

DATABASE_URL defaults to SUPERVISION_DATABASE_URL. The schema is made with
Base.metadata.create_all; rows go in with COPY on PostgreSQL and big executemany batches on
SQLite, then the tables are analysed (as autovacuum / `PRAGMA optimize` would).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Engine, Table, text
from stdnum.cn import uscc as stdnum_uscc

from supervision.db import make_engine
from supervision.models import Base

SH = dt.timezone(dt.timedelta(hours=8))
AS_OF = dt.datetime(2026, 12, 1, 9, 0, tzinfo=SH)
LOOKBACK_DAYS, HORIZON_DAYS = 7, 30
DISTRICTS = ["320205", "320206", "320211", "320213", "320214", "320281", "320282"]
SUBJECT_SUBJECTS = ["math", "chinese", "english", "physics", "chemistry", "biology", "history"]
OTHER_SUBJECTS = ["art", "music", "pe", "stem", "it", "labor", "other"]
CREATED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BATCH = 50_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
OFFLINE_STARTS = [(17, 0), (18, 0), (18, 30)]
ONLINE_STARTS = [(19, 0), (19, 45), (20, 15)]


def _hash(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _uscc(i: int, nonprofit: bool) -> str:
    body = ("52" if nonprofit else "91") + "320200" + f"{i:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


class Generator:
    """Rows per table as tuples in a fixed column order; ids are assigned here (1..n)."""

    def __init__(self, seed: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.n_inst = max(10, int(10_000 * scale))
        self.teachers_per, self.courses_per, self.sessions_per = 5, 10, 10
        self.inst: list[dict[str, Any]] = []
        self.venue_of: dict[int, int] = {}
        self.courses: list[dict[str, Any]] = []

    # -- institutions, venues --------------------------------------------------------------
    def institutions(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        cols = ["id", "name", "uscc", "license_no", "license_valid_until", "district_code",
                "category", "licensed_modes", "nonprofit_registration_no", "escrow_mode",
                "supervised_account_no", "address", "contact_phone", "status", "status_reason",
                "created_at", "updated_at"]

        def rows() -> Iterator[tuple[Any, ...]]:
            r = self.rng
            for i in range(1, self.n_inst + 1):
                category = "subject" if r.random() < 0.7 else "non_subject"
                nonprofit = category == "subject" and r.random() > 0.01
                p = r.random()
                valid = (AS_OF.date() - dt.timedelta(days=r.randrange(1, 30)) if p < 0.003 else
                         AS_OF.date() + dt.timedelta(days=r.randrange(0, 60)) if p < 0.03 else
                         dt.date(2028, 12, 31))
                modes = (["offline"] if r.random() < 0.15 else
                         ["online"] if r.random() < 0.03 else ["offline", "online"])
                status = "suspended" if r.random() < 0.003 else \
                    "revoked" if r.random() < 0.001 else "active"
                self.inst.append({"id": i, "category": category, "modes": modes})
                yield (i, f"无锡基准培训学校{i}", _uscc(i, nonprofit), f"教民{i:07d}", valid,
                       r.choice(DISTRICTS), category, modes,
                       f"民非{i:07d}" if nonprofit else None, "trust", f"GLXT-{i:08d}",
                       f"无锡市测试路{i}号", None, status,
                       "基准数据：停业整顿" if status != "active" else None, CREATED, CREATED)
        return cols, rows()

    def venues(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        def rows() -> Iterator[tuple[Any, ...]]:
            for inst in self.inst:
                self.venue_of[inst["id"]] = inst["id"]
                yield inst["id"], inst["id"], f"教学点{inst['id']}", \
                    self.rng.choice([20, 40, 60, 120]), CREATED
        return ["id", "institution_id", "address", "capacity", "created_at"], rows()

    # -- teachers and rosters --------------------------------------------------------------
    def teachers(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        cols = ["id", "institution_id", "name", "id_number_hash", "id_number_masked",
                "qualification_cert_no", "cert_level", "cert_subject",
                "is_inservice_school_teacher", "background_check_status",
                "background_checked_on", "employment", "hired_on", "created_at", "updated_at"]
        levels = {"2": "primary", "3": "junior", "4": "senior"}

        def rows() -> Iterator[tuple[Any, ...]]:
            r = self.rng
            for inst in self.inst:
                for k in range(self.teachers_per):
                    tid = (inst["id"] - 1) * self.teachers_per + k + 1
                    p = r.random()
                    digit = "4" if p < 0.94 else "3" if p < 0.99 else "2"
                    cert = None if r.random() < 0.01 else \
                        f"2015320{r.randrange(100):02d}{digit}1{tid % 10**6:06d}"
                    hired = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(0, 300))
                    checked = hired - dt.timedelta(days=r.randrange(1, 30))
                    if r.random() < 0.02:
                        checked = AS_OF.date() - dt.timedelta(days=400)
                    yield (tid, inst["id"], f"{r.choice(SURNAMES)}老师{tid}", _hash("teacher", tid),
                           "3202**********000X", cert, levels[digit] if cert else None, "math",
                           r.random() < 0.005, "clear" if r.random() > 0.005 else "pending",
                           checked, "full_time", hired, CREATED, CREATED)
        return cols, rows()

    def rosters(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        n_teachers = self.n_inst * self.teachers_per

        def rows() -> Iterator[tuple[Any, ...]]:
            r, rid = self.rng, 0
            for kind, hits, others in (("inservice", 0.004, 20_000), ("blacklist", 0.001, 2_000)):
                chosen = {r.randrange(1, n_teachers + 1) for _ in range(int(n_teachers * hits))}
                for tid in sorted(chosen):
                    rid += 1
                    yield rid, kind, _hash("teacher", tid), None, CREATED
                for k in range(int(others * self.n_inst / 10_000)):
                    rid += 1
                    yield rid, kind, _hash("roster", kind, k), None, CREATED
        return ["id", "kind", "id_number_hash", "reason", "created_at"], rows()

    # -- courses and sessions --------------------------------------------------------------
    def courses_rows(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        cols = ["id", "institution_id", "name", "subject", "category", "grade_min",
                "grade_max", "mode", "class_size", "minutes_per_class_hour",
                "price_per_class_hour_fen", "venue_id", "created_at", "updated_at"]

        def rows() -> Iterator[tuple[Any, ...]]:
            r, cid = self.rng, 0
            for inst in self.inst:
                for _ in range(self.courses_per):
                    cid += 1
                    subject_type = inst["category"] == "subject" and r.random() < 0.9
                    subject = r.choice(SUBJECT_SUBJECTS if subject_type else OTHER_SUBJECTS)
                    if not subject_type and r.random() < 0.01:
                        subject = "math"  # disguised
                    mode = "offline" if "offline" in inst["modes"] and (
                        "online" not in inst["modes"] or r.random() < 0.8) else "online"
                    if r.random() < 0.005:
                        mode = "online" if mode == "offline" else "offline"  # outside licence
                    low = r.choice([1, 3, 5, 7, 8, 10]) if r.random() < 0.98 else 0
                    minutes = 30 if mode == "online" else 45
                    size = 1 if mode == "online" else r.choice([8, 15, 20, 30, 40])
                    ceiling = 1650 if mode == "online" else \
                        6300 if size <= 10 else 2625 if size >= 35 else 4200
                    price = ceiling - r.randrange(0, 500) if r.random() > 0.01 else ceiling + 100
                    venue = self.venue_of[inst["id"]] if mode == "offline" and \
                        r.random() > 0.005 else None
                    self.courses.append({"id": cid, "inst": inst["id"], "mode": mode,
                                         "subject_type": subject_type, "venue": venue})
                    name = ("奥数思维" if r.random() < 0.01 else "课程") + str(cid)
                    yield (cid, inst["id"], name, subject,
                           "subject" if subject_type else "non_subject", low,
                           min(12, low + r.choice([0, 1, 2])), mode, size, minutes, price,
                           venue, CREATED, CREATED)
        return cols, rows()

    def sessions(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        cols = ["id", "course_id", "institution_id", "starts_at", "ends_at", "teacher_id",
                "venue_id", "status", "created_at"]
        first_day = (AS_OF - dt.timedelta(days=LOOKBACK_DAYS)).date() + dt.timedelta(days=1)
        span = LOOKBACK_DAYS + HORIZON_DAYS - 2

        def rows() -> Iterator[tuple[Any, ...]]:
            r, sid = self.rng, 0
            for course in self.courses:
                teacher = (course["inst"] - 1) * self.teachers_per + r.randrange(
                    self.teachers_per) + 1
                for _ in range(self.sessions_per):
                    sid += 1
                    day = first_day + dt.timedelta(days=r.randrange(span))
                    if course["subject_type"] and day.weekday() >= 5 and r.random() < 0.9:
                        day -= dt.timedelta(days=2)  # most subject courses keep to weekdays
                    online = course["mode"] == "online"
                    hour, minute = r.choice(ONLINE_STARTS if online else OFFLINE_STARTS)
                    length = 30 if online else 90
                    if r.random() < 0.01:
                        length += 40  # late, or too long online
                    starts = dt.datetime.combine(day, dt.time(hour, minute), SH)
                    yield (sid, course["id"], course["inst"], starts,
                           starts + dt.timedelta(minutes=length), teacher, course["venue"],
                           "cancelled" if r.random() < 0.02 else "scheduled", CREATED)
        return cols, rows()

    # -- parents, enrollments, held money, refunds -----------------------------------------
    def principals(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        self.n_parents = max(10, self.n_inst * 5)

        def rows() -> Iterator[tuple[Any, ...]]:
            for pid in range(1, self.n_parents + 1):
                yield (pid, "parent", f"家长{pid}", _hash("token", pid), None, None, CREATED)
        return ["id", "role", "name", "token_hash", "institution_id", "district_code",
                "created_at"], rows()

    def enrollments(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        cols = ["id", "parent_id", "institution_id", "course_id", "student_name",
                "student_grade", "class_hours", "consumed_hours", "price_per_class_hour_fen",
                "amount_fen", "payment_reference", "status", "created_at", "paid_at",
                "closed_at"]
        self.held: list[tuple[int, int, int]] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            r = self.rng
            for eid in range(1, len(self.courses) + 1):
                course = self.courses[r.randrange(len(self.courses))]
                hours = r.choice([10, 20, 30, 40]) if r.random() > 0.002 else 80
                price = 4000
                consumed = r.randrange(0, hours // 2)
                paid = dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(
                    hours=r.randrange(0, 700))
                self.held.append((eid, course["inst"], (hours - consumed) * price))
                yield (eid, r.randrange(1, self.n_parents + 1), course["inst"], course["id"],
                       f"学生{eid}", 7, hours, consumed, price, hours * price, f"SVB{eid:013d}",
                       "active", paid, paid, None)
        return cols, rows()

    def held_accounts(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        def rows() -> Iterator[tuple[Any, ...]]:
            for eid, inst, amount in self.held:
                yield (eid, f"enr:{eid}:held", "held", "credit", eid, inst, 0, amount, 0, 0)
        return ["id", "code", "kind", "normal", "enrollment_id", "institution_id",
                "debits_posted", "credits_posted", "debits_pending", "credits_pending"], rows()

    def refunds(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        cols = ["id", "enrollment_id", "institution_id", "parent_id", "amount_fen", "reason",
                "status", "requested_at", "auto_approve_at", "decided_at", "completed_at"]

        def rows() -> Iterator[tuple[Any, ...]]:
            r = self.rng
            for rid, (eid, inst, amount) in enumerate(
                    r.sample(self.held, max(1, len(self.held) // 50)), start=1):
                asked = AS_OF - dt.timedelta(hours=r.randrange(1, 24 * 20))
                status = r.choice(["requested", "instructed", "completed"])
                decided = asked + dt.timedelta(days=1) if status != "requested" else None
                yield (rid, eid, inst, 1, max(1, amount // 2), "基准", status, asked,
                       asked + dt.timedelta(days=7), decided,
                       decided if status == "completed" else None)
        return cols, rows()

    # -- complaints (RULES.md §10) ------------------------------------------------------------
    def complaints(self) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """About five complaints per institution over the last 90 days, most answered and
        closed in time; a few percent unanswered past their respond_by or open past their
        due_on; and 1% of institutions with a surge (8 complaints in the last ten days)."""
        cols = ["id", "institution_id", "enrollment_id", "parent_id", "category", "text",
                "status", "respond_by", "due_on", "created_at", "outcome", "note",
                "closed_at", "closed_by"]
        categories = ["refund", "fees", "teaching", "safety", "other"]

        def complaint(cid: int, inst: int, age_hours: int) -> tuple[Any, ...]:
            r = self.rng
            created = AS_OF - dt.timedelta(hours=age_hours)
            day = created.astimezone(SH).date()
            # Calendar days standing in for the policy's 5 and 15 working days.
            respond_by, due_on = day + dt.timedelta(days=7), day + dt.timedelta(days=21)
            late = r.random() < 0.05  # left unanswered or open past its date
            if due_on < AS_OF.date() and not late:
                status = "closed"
            elif respond_by < AS_OF.date():
                status = "submitted" if late and r.random() < 0.5 else (
                    "responded" if late else r.choice(["responded", "closed"]))
            else:
                status = r.choice(["submitted", "responded"])
            closed = created + dt.timedelta(days=r.randint(3, 20)) if status == "closed" \
                else None
            if closed is not None and closed > AS_OF:
                closed = AS_OF - dt.timedelta(hours=1)
            return (cid, inst, None, r.randrange(1, self.n_parents + 1), r.choice(categories),
                    "基准投诉", status, respond_by, due_on, created,
                    r.choice(["upheld", "rejected", "mediated"]) if closed else None, None,
                    closed, None)

        def rows() -> Iterator[tuple[Any, ...]]:
            r, cid = self.rng, 0
            for inst in range(1, self.n_inst + 1):
                surge = r.random() < 0.01
                for _ in range(r.randint(2, 8)):
                    cid += 1
                    yield complaint(cid, inst, r.randrange(1, 24 * 90))
                for _ in range(8 if surge else 0):
                    cid += 1
                    yield complaint(cid, inst, r.randrange(1, 24 * 10))
        return cols, rows()

    def plan(self) -> Iterator[tuple[str, tuple[list[str], Iterator[tuple[Any, ...]]]]]:
        # Order matters: later tables read what earlier ones recorded.
        yield "institutions", self.institutions()
        yield "venues", self.venues()
        yield "teachers", self.teachers()
        yield "roster_entries", self.rosters()
        yield "courses", self.courses_rows()
        yield "sessions", self.sessions()
        yield "principals", self.principals()
        yield "enrollments", self.enrollments()
        yield "ledger_accounts", self.held_accounts()
        yield "refunds", self.refunds()
        yield "complaints", self.complaints()


# -- loading -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def _sqlite_moment(value: dt.datetime) -> str:
    # The text SQLAlchemy's SQLite DateTime stores (naive UTC): the rules compare against it.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_converter(value: Any) -> Any:
    """How a column's values go to SQLite, judged from one value (None: as they are)."""
    if isinstance(value, dt.datetime):
        return _sqlite_moment
    if isinstance(value, dt.date):
        return dt.date.isoformat
    if isinstance(value, list):
        return functools.partial(json.dumps, ensure_ascii=False)
    return None


def _sqlite_rows(batch: list[tuple[Any, ...]], columns: int) -> list[tuple[Any, ...]]:
    # Columns may be None in the first row: judge each from its first non-None value.
    converters = [next((_sqlite_converter(row[i]) for row in batch if row[i] is not None), None)
                  for i in range(columns)]
    active = [(i, conv) for i, conv in enumerate(converters) if conv is not None]
    if not active:
        return batch
    out = []
    for row in batch:
        values = list(row)
        for i, conv in active:
            if values[i] is not None:
                values[i] = conv(values[i])
        out.append(tuple(values))
    return out


def _pg_value(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_columns(table: Table, columns: list[str]) -> None:
    """Fail loudly if the models grew a required column this generator does not fill."""
    missing = [c.name for c in table.columns if c.name not in columns and not c.nullable
               and c.default is None and c.server_default is None and not c.primary_key]
    if missing:
        raise SystemExit(f"{table.name}: the generator does not fill {missing}")


def load(engine: Engine, table: Table, columns: list[str],
         rows: Iterable[tuple[Any, ...]]) -> int:
    _check_columns(table, columns)
    count = 0
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([_pg_value(v) for v in row])
                    count += 1
            last = count
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"GREATEST({last}, 1))")
        else:
            cur.execute("PRAGMA foreign_keys=OFF")  # the generator keeps references right
            cur.execute("BEGIN")
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
            for batch in _batches(rows):
                cur.executemany(sql, _sqlite_rows(batch, len(columns)))
                count += len(batch)
            cur.execute("COMMIT")
            cur.execute("PRAGMA foreign_keys=ON")
        raw.commit()
    finally:
        raw.close()
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("SUPERVISION_DATABASE_URL"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reset", action="store_true", help="drop every table first")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give a database URL or set SUPERVISION_DATABASE_URL")
    engine = make_engine(args.url)
    if args.reset:
        Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    gen, started = Generator(args.seed, args.scale), time.perf_counter()
    for name, (columns, rows) in gen.plan():
        t0 = time.perf_counter()
        n = load(engine, Base.metadata.tables[name], columns, rows)
        print(f"gen_compliance {name}: {n} rows in {time.perf_counter() - t0:.1f} s",
              flush=True)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print(f"gen_compliance total: {time.perf_counter() - started:.1f} s "
          f"(as_of {AS_OF.isoformat()}, seed {args.seed}, scale {args.scale})")
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
