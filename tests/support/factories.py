"""Test data: valid, clearly fake records with sensible defaults, each overridable."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from sqlalchemy.orm import Session

from supervision.access.principals import create_principal
from supervision.access.scope import policy_of, settings_of
from supervision.clock import SHANGHAI
from supervision.identifiers import (
    fake_cert_no,
    fake_id_number,
    fake_uscc,
    hash_id_number,
    mask_id_number,
)
from supervision.models import ClassSession, Course, Institution, Teacher, Venue

from .parties import bearer


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rng = random.Random(20261129)
        self.seq = itertools.count(1)

    def _add(self, obj: Any) -> Any:
        self.session.add(obj)
        self.session.flush()
        return obj

    def institution(self, **kw: Any) -> Institution:
        n = next(self.seq)
        values: dict[str, Any] = dict(
            name=f"测试培训学校{n}", uscc=fake_uscc(self.rng), license_no=f"教民{n:06d}",
            license_valid_until=dt.date(2029, 12, 31), district_code="320213",
            category="subject", licensed_modes=["offline", "online"],
            nonprofit_registration_no=f"民非{n:06d}", escrow_mode="trust",
            supervised_account_no=f"GLXT-{n:08d}", address=f"梁溪区测试路{n}号",
            contact_phone="0510-80000000", status="active")
        values.update(kw)
        return self._add(Institution(**values))  # type: ignore[no-any-return]

    def venue(self, institution: Institution, **kw: Any) -> Venue:
        values: dict[str, Any] = dict(institution_id=institution.id, address="教学点1", capacity=30)
        values.update(kw)
        return self._add(Venue(**values))  # type: ignore[no-any-return]

    def id_number(self) -> str:
        return fake_id_number(self.rng)

    def teacher(self, institution: Institution, *, id_number: str | None = None,
                **kw: Any) -> Teacher:
        number = id_number or self.id_number()
        key = settings_of(self.session).id_hash_key

        values: dict[str, Any] = dict(
            institution_id=institution.id, name="王老师",
            id_number_hash=hash_id_number(number, key),
            id_number_masked=mask_id_number(number),
            qualification_cert_no=fake_cert_no(self.rng, type_digit="4"), cert_level="senior",
            cert_subject="math", is_inservice_school_teacher=False,
            background_check_status="clear", background_checked_on=dt.date(2026, 1, 5),
            employment="full_time", hired_on=dt.date(2026, 2, 1))
        values.update(kw)
        return self._add(Teacher(**values))  # type: ignore[no-any-return]

    def course(self, institution: Institution, **kw: Any) -> Course:
        values: dict[str, Any] = dict(
            institution_id=institution.id, name="初二数学提高班", subject="math",
            category="subject", grade_min=7, grade_max=8, mode="offline", class_size=20,
            minutes_per_class_hour=45, price_per_class_hour_fen=4000, venue_id=None)
        values.update(kw)
        return self._add(Course(**values))  # type: ignore[no-any-return]

    def session_of(self, course: Course, teacher: Teacher, *,
                   starts_at: dt.datetime | None = None, minutes: int = 90,
                   **kw: Any) -> ClassSession:
        starts = starts_at or dt.datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI)
        values: dict[str, Any] = dict(
            course_id=course.id, institution_id=course.institution_id, starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=minutes), teacher_id=teacher.id,
            venue_id=course.venue_id, status="scheduled")
        values.update(kw)
        return self._add(ClassSession(**values))  # type: ignore[no-any-return]

    def token(self, role: str, *, institution: Institution | None = None,
              district_code: str | None = None, name: str | None = None) -> str:
        _, token = create_principal(
            self.session, role=role, name=name or f"{role}-{next(self.seq)}",
            institution_id=institution.id if institution else None,
            district_code=district_code)
        return token

    def headers(self, role: str, **kw: Any) -> dict[str, str]:
        return bearer(self.token(role, **kw))

    def districts(self) -> list[str]:
        return list(policy_of(self.session)["districts"])
