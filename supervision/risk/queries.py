"""Reading the scores: the ranked list (regulators) and one institution's score with its
history (regulators in scope, the institution itself). Parents have no business here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..access.policy import require_role
from ..access.scope import Actor, get_in_scope, policy_of, scope_clause
from ..models import Institution
from ..models.risk import RiskScore
from .scoring import RiskPolicy


@dataclass
class RiskView:
    """API.md §12's object: the latest score of one institution, named."""

    institution_id: int
    name: str
    score: int
    level: str
    factors: list[dict[str, Any]]
    computed_at: dt.datetime
    day: dt.date
    history: list[dict[str, Any]] = field(default_factory=list)


def _latest_day() -> Any:
    return select(func.max(RiskScore.day)).scalar_subquery()


def ranked_query(actor: Actor, *, district_code: str | None = None,
                 level: str | None = None) -> Select[Any]:
    """The latest day's scores in the caller's scope, highest first (ties by institution id,
    so pages are stable). A regulator's list: other roles are refused."""
    require_role(actor, "regulator")
    stmt = (select(RiskScore)
            .join(Institution, Institution.id == RiskScore.institution_id)
            .where(RiskScore.day == _latest_day(), scope_clause(actor, Institution))
            .order_by(RiskScore.score.desc(), RiskScore.institution_id))
    if district_code:
        stmt = stmt.where(Institution.district_code == district_code)
    if level:
        stmt = stmt.where(RiskScore.level == level)
    return stmt


def score_view(session: Session, rows: list[RiskScore]) -> list[RiskView]:
    """Name a page of scores with one query for all their institutions."""
    ids = {row.institution_id for row in rows}
    names = {i: name for i, name in session.execute(
        select(Institution.id, Institution.name).where(Institution.id.in_(ids)))}
    return [_view(row, names.get(row.institution_id, "")) for row in rows]


def _view(row: RiskScore, name: str) -> RiskView:
    return RiskView(institution_id=row.institution_id, name=name, score=row.score,
                    level=row.level, factors=list(row.factors), computed_at=row.computed_at,
                    day=row.day)


def institution_risk(session: Session, actor: Actor, institution_id: int) -> RiskView | None:
    """One institution's latest score with its history (the last `history_days` days up to
    that score, oldest first); None when it has never been scored (no money in custody).
    Out of scope is not found, as everywhere."""
    require_role(actor, "regulator", "institution")
    institution = get_in_scope(session, actor, Institution, institution_id)
    policy = RiskPolicy.from_policy(policy_of(session))
    latest = session.scalars(select(RiskScore).where(RiskScore.institution_id == institution.id)
                             .order_by(RiskScore.day.desc()).limit(1)).first()
    if latest is None:
        return None
    since = latest.day - dt.timedelta(days=policy.history_days - 1)
    history = session.execute(
        select(RiskScore.day, RiskScore.score, RiskScore.level)
        .where(RiskScore.institution_id == institution.id, RiskScore.day >= since)
        .order_by(RiskScore.day))
    view = _view(latest, institution.name)
    view.history = [{"date": day, "score": score, "level": level}
                    for day, score, level in history]
    return view
