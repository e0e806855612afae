"""Scoring every institution with money in custody once (API.md §12, RULES.md §11)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..access.policy import require_citywide_regulator
from ..access.scope import Actor, policy_of
from ..clock import SHANGHAI
from ..compliance import flag_sets
from ..compliance.catalogue import CATALOGUE
from ..compliance.flags import raise_flag
from ..db import advisory_lock, is_postgres
from ..models.base import utcnow
from ..models.compliance import Flag
from ..models.risk import RiskRun, RiskScore
from ..vocab import CLEARABLE_FLAG_STATUSES
from ..wording import yuan
from .factors import RISK_RULE, Readings, read_all
from .scoring import RiskPolicy, factor

BATCH = 2_000


def score_institutions(session: Session, actor: Actor, *, as_of: dt.datetime) -> RiskRun:
    """Score every institution with money in custody as of `as_of` (aware), store one row per
    institution for as_of's Shanghai day (a second run that day overwrites it), open RISK_HIGH
    for each `high` and clear it for the rest, and prune scores older than the keep period.

    City-wide only: a district regulator's run would rescore (and flag) other districts too.
    """
    require_citywide_regulator(actor, "run the risk score")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    policy = RiskPolicy.from_policy(policy_of(session))
    advisory_lock(session, "risk.run")
    session.flush()
    now = utcnow()
    day = as_of.astimezone(SHANGHAI).date()
    readings = read_all(session, as_of, day)
    rows = [score_row(readings, institution_id, policy, day, now)
            for institution_id in sorted(readings.custody)]
    _upsert(session, rows)
    high = [row for row in rows if row["level"] == "high"]
    for row in high:
        _raise(session, actor, row, now)
    _clear(session, actor, day, now)
    session.execute(delete(RiskScore).where(RiskScore.day < day - dt.timedelta(
        days=policy.keep_days)))
    # The bulk statements went around the ORM: forget what it thought scores and flags were.
    session.expire_all()
    run = RiskRun(computed_at=now, institutions_scored=len(rows), actor=actor.label)
    session.add(run)
    session.flush()
    return run


def score_row(r: Readings, institution_id: int, policy: RiskPolicy, day: dt.date,
              now: dt.datetime) -> dict[str, Any]:
    factors = compute_factors(r, institution_id, policy)
    score = sum(f["contribution"] for f in factors)
    return {"institution_id": institution_id, "day": day, "score": score,
            "level": policy.level(score), "factors": factors, "computed_at": now}


def compute_factors(r: Readings, i: int, policy: RiskPolicy) -> list[dict[str, Any]]:
    """The factors of one institution from the readings, in RULES.md §11's order."""
    spec = policy.factors
    out = []

    recent, before = r.refunds.get(i, (0, 0))
    baseline = max(1.0, before * 14 / 90)
    surge = recent / baseline
    out.append(factor("refund_surge", surge, spec["refund_surge"],
                      f"近14天退费申请 {recent} 笔，为其90天平均水平的 {surge:.1f} 倍"))

    held = r.held.get(i, 0)
    consumed, count, disputed = r.consumptions.get(i, (0, 0, 0))
    if held <= 0:
        out.append(factor("prepaid_runway", 0.0, spec["prepaid_runway"], "无未消课预收款"))
    elif consumed <= 0:
        out.append(factor("prepaid_runway", None, spec["prepaid_runway"],
                          f"未消课预收款 {yuan(held)}，近30天无任何课消", maximal=True))
    else:
        months = held / consumed
        out.append(factor("prepaid_runway", months, spec["prepaid_runway"],
                          f"未消课预收款 {yuan(held)}，按近30天课消 {yuan(consumed)} "
                          f"约需 {months:.1f} 个月消完"))

    custody = r.custody.get(i, 0)
    statement = r.statements.get(i)
    if statement is None:
        out.append(factor("custody_coverage", None, spec["custody_coverage"],
                          "尚无托管方对账单，本项不计分"))
    else:
        on, closing = statement
        coverage = closing / custody if custody > 0 else 1.0
        out.append(factor("custody_coverage", coverage, spec["custody_coverage"],
                          f"托管方 {on.isoformat()} 对账单余额 {yuan(closing)}，"
                          f"为账面托管余额 {yuan(custody)} 的 {coverage:.0%}"))

    rate = disputed / count if count else 0.0
    out.append(factor("dispute_rate", rate, spec["dispute_rate"],
                      f"近30天课消 {count} 笔，家长异议 {disputed} 笔（{rate:.0%}）"))

    planned, cancelled = r.sessions.get(i, (0, 0))
    ratio = cancelled / planned if planned else 0.0
    out.append(factor("cancellations", ratio, spec["cancellations"],
                      f"近30天排课 {planned} 节，取消 {cancelled} 节（{ratio:.0%}）"))

    complaints = r.complaints.get(i, 0)
    out.append(factor("complaints", complaints, spec["complaints"],
                      f"近30天收到投诉 {complaints} 件"))

    staff, gone = r.teachers.get(i, (0, 0))
    share = gone / staff if staff else 0.0
    out.append(factor("teachers_left", share, spec["teachers_left"],
                      f"近30天在职的 {staff} 名教师中 {gone} 名已离职"))

    flags = r.critical_flags.get(i, 0)
    out.append(factor("critical_flags", flags, spec["critical_flags"],
                      f"未结的严重合规预警 {flags} 条"))
    return out


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    module: Any = postgresql if is_postgres(session) else sqlite
    for start in range(0, len(rows), BATCH):
        stmt = module.insert(RiskScore)
        stmt = stmt.on_conflict_do_update(
            index_elements=["institution_id", "day"],
            set_={name: stmt.excluded[name]
                  for name in ("score", "level", "factors", "computed_at")})
        session.execute(stmt, rows[start:start + BATCH])


def _raise(session: Session, actor: Actor, row: dict[str, Any], now: dt.datetime) -> None:
    spec = CATALOGUE[RISK_RULE]
    top = sorted((f for f in row["factors"] if f["contribution"] > 0),
                 key=lambda f: -f["contribution"])
    summary = f"风险评分 {row['score']}（高）：" + "；".join(f["explanation"] for f in top[:3])
    raise_flag(session, actor, rule=RISK_RULE, severity=spec.severity,
               institution_id=row["institution_id"], subject_type="institution",
               subject_id=row["institution_id"], summary=summary[:500],
               evidence={"score": row["score"], "level": row["level"],
                         "day": row["day"].isoformat(), "factors": row["factors"]}, at=now)


def _clear(session: Session, actor: Actor, day: dt.date, now: dt.datetime) -> int:
    """Clear RISK_HIGH where the institution is no longer high today (or no longer holds
    money: then there is nothing left to lose). One statement over the set."""
    still_high = select(RiskScore.institution_id).where(RiskScore.day == day,
                                                       RiskScore.level == "high")
    session.flush()
    flag_sets.begin(session)
    cleared = flag_sets.move(session, actor, and_(
        Flag.rule == RISK_RULE, Flag.status.in_(CLEARABLE_FLAG_STATUSES),
        Flag.institution_id.not_in(still_high)), "cleared", "cleared", now)
    flag_sets.end(session)
    return cleared
