"""Shared arrangements for the complaint, tip and review tests: two institutions in two
districts, their staff, parents and regulators, and complaints filed at fixed instants."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision.clock import SHANGHAI
from supervision.complaints import submit_complaint
from supervision.models import AuditLog, Complaint, ComplaintResponse, Institution, Review, Tip

from .factories import Factory
from .parties import Party, party

DISTRICT_A, DISTRICT_B = "320213", "320282"
# A Thursday with no holiday near it: tests never depend on today's date.
THURSDAY = dt.datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)


@dataclass
class Town:
    db: Session
    inst_a: Institution
    inst_b: Institution
    parent_a: Party
    parent_b: Party
    staff_a: Party
    staff_b: Party
    city: Party
    regulator_a: Party
    regulator_b: Party


def town(db: Session, make: Factory) -> Town:
    a = make.institution(name="甲培训中心", district_code=DISTRICT_A)
    b = make.institution(name="乙培训中心", district_code=DISTRICT_B)
    return Town(db=db, inst_a=a, inst_b=b, parent_a=party(db, "parent"),
                parent_b=party(db, "parent"), staff_a=party(db, "institution", institution=a),
                staff_b=party(db, "institution", institution=b), city=party(db, "regulator"),
                regulator_a=party(db, "regulator", district_code=DISTRICT_A),
                regulator_b=party(db, "regulator", district_code=DISTRICT_B))


def complaint(db: Session, parent: Party, institution: Institution, *,
              at: dt.datetime = THURSDAY, category: str = "refund",
              text: str = "退费迟迟不到账") -> Complaint:
    return submit_complaint(db, parent.actor, institution_id=institution.id, category=category,
                            text=text, as_of=at)


def counts(db: Session) -> tuple[int, ...]:
    """Rows of every table a complaint, tip or review writes, and the audit log."""
    db.expire_all()
    return tuple(int(db.scalar(select(func.count()).select_from(model)) or 0)
                 for model in (Complaint, ComplaintResponse, Tip, Review, AuditLog))


def error_of(resp: Any) -> dict[str, Any]:
    body = dict(resp.json)
    assert {"code", "status", "message", "errors"} <= set(body), body
    return body
