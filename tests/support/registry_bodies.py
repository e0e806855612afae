"""Request bodies of the registries (institutions, teachers, courses, sessions) with valid fake
identifiers, and row counts to prove a refusal wrote nothing."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI
from supervision.identifiers import fake_cert_no, fake_id_number, fake_uscc
from supervision.models import AuditLog

_rng = random.Random(31337)
_seq = itertools.count(1)


def new_uscc(*, nonprofit: bool = True) -> str:
    return fake_uscc(_rng, nonprofit=nonprofit)


def new_id_number() -> str:
    return fake_id_number(_rng)


def new_cert_no(type_digit: str = "3") -> str:
    return fake_cert_no(_rng, type_digit=type_digit)


def institution_body(**kw: Any) -> dict[str, Any]:
    n = next(_seq)
    body: dict[str, Any] = {
        "name": f"锡山区测试培训中心{n}", "uscc": new_uscc(), "license_no": f"教民2026{n:05d}",
        "license_valid_until": "2029-06-30", "district_code": "320213", "category": "subject",
        "licensed_modes": ["offline"], "nonprofit_registration_no": f"民非{n:06d}",
        "escrow_mode": "trust", "supervised_account_no": f"GLXT-T{n:07d}",
        "address": f"梁溪区中山路{n}号", "contact_phone": "0510-82000000"}
    body.update(kw)
    return body


def teacher_body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "李老师", "id_number": new_id_number(), "qualification_cert_no": new_cert_no("3"),
        "cert_subject": "math", "is_inservice_school_teacher": False,
        "background_check_status": "clear", "background_checked_on": "2026-01-10",
        "employment": "full_time", "hired_on": "2026-02-01"}
    body.update(kw)
    return body


def course_body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "初一数学培优", "subject": "math", "category": "subject", "grade_min": 7,
        "grade_max": 7, "mode": "offline", "class_size": 20, "price_per_class_hour_fen": 4000}
    body.update(kw)
    return body


def session_items(teacher_id: int, count: int = 1, *, start: dt.datetime | None = None,
                  minutes: int = 90, **kw: Any) -> list[dict[str, Any]]:
    """`count` sessions a day apart, as the API takes them (ISO strings with +08:00)."""
    first = start or dt.datetime(2026, 12, 7, 18, 0, tzinfo=SHANGHAI)
    items = []
    for day in range(count):
        starts = first + dt.timedelta(days=day)
        item = {"starts_at": starts.isoformat(),
                "ends_at": (starts + dt.timedelta(minutes=minutes)).isoformat(),
                "teacher_id": teacher_id}
        item.update(kw)
        items.append(item)
    return items


def count(db: Session, model: Any, *where: Any) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def audit_count(db: Session) -> int:
    return count(db, AuditLog)
