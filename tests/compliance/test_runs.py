"""run_compliance: findings become flags, set-based, with the lifecycle of API.md §5."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import calendar
from supervision.access.scope import SYSTEM
from supervision.compliance import runs
from supervision.compliance.flags import raise_flag
from supervision.compliance.model import Finding, Window
from supervision.models import AuditLog, Flag, FlagEvent, OutboxMessage

from ..support.factories import SHANGHAI, Factory

AS_OF = dt.datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)


class FakeRulebook:
    """Stands in for the rules package: yields whatever the test says is wrong now."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.windows: list[Window] = []

    def __call__(self, session: Session, window: Window) -> Iterator[Finding]:
        self.windows.append(window)
        return iter(list(self.findings))


@pytest.fixture
def rulebook(monkeypatch: pytest.MonkeyPatch) -> FakeRulebook:
    fake = FakeRulebook()
    monkeypatch.setattr(runs, "evaluate_all", fake)
    return fake


def registry_finding(subject_id: str = "11", rule: str = "LICENSE_EXPIRING",
                     institution_id: int | None = None) -> Finding:
    return Finding(rule=rule, severity="low", institution_id=institution_id,
                   subject_type="institution", subject_id=subject_id,
                   summary="办学许可证将于2027-01-15到期", evidence={"valid_until": "2027-01-15"})


def session_finding(session_id: int, institution_id: int | None = None) -> Finding:
    return Finding(rule="SUBJECT_ON_WEEKEND", severity="high", institution_id=institution_id,
                   subject_type="session", subject_id=str(session_id),
                   summary="周六开展学科类培训", evidence={"date": "2026-12-05"})


def run(db: Session, as_of: dt.datetime = AS_OF, **kw: int) -> runs.ComplianceRun:
    return runs.run_compliance(db, SYSTEM, as_of=as_of, **kw)


def flag(db: Session, rule: str, subject_id: str) -> Flag:
    return db.scalars(select(Flag).where(Flag.rule == rule,
                                         Flag.subject_id == subject_id)).one()


def history(db: Session, f: Flag) -> list[tuple[str, str | None, str]]:
    rows = db.scalars(select(FlagEvent).where(FlagEvent.flag_id == f.id).order_by(FlagEvent.id))
    return [(e.action, e.from_status, e.to_status) for e in rows]


def test_the_window_is_lookback_before_and_horizon_after_as_of(db: Session,
                                                              rulebook: FakeRulebook) -> None:
    r = run(db, horizon_days=2, lookback_days=0)
    assert rulebook.windows == [Window(AS_OF, AS_OF, AS_OF + dt.timedelta(days=2))]
    assert (r.window_start, r.window_end) == (AS_OF, AS_OF + dt.timedelta(days=2))
    run(db)
    assert rulebook.windows[1].start == AS_OF - dt.timedelta(days=7)
    assert rulebook.windows[1].end == AS_OF + dt.timedelta(days=30)


def test_two_runs_in_a_row_make_no_duplicate_flags(db: Session, make: Factory,
                                                   rulebook: FakeRulebook) -> None:
    school = make.institution()
    rulebook.findings = [registry_finding(institution_id=school.id), session_finding(5)]
    first = run(db)
    second = run(db, as_of=AS_OF + dt.timedelta(hours=1))
    assert (first.flags_opened, second.flags_opened) == (2, 0)
    assert (first.findings, second.findings) == (2, 2)
    assert db.scalar(select(func.count()).select_from(Flag)) == 2
    f = flag(db, "LICENSE_EXPIRING", "11")
    assert f.status == "open" and f.institution_id == school.id
    assert f.last_detected_at > f.first_detected_at
    assert history(db, f) == [("detected", None, "open")]
    assert second.flags_open == 2 and second.by_rule == {"LICENSE_EXPIRING": 1,
                                                         "SUBJECT_ON_WEEKEND": 1}


def test_a_new_flag_is_announced_audited_and_has_history(db: Session, make: Factory,
                                                         rulebook: FakeRulebook) -> None:
    school = make.institution()
    rulebook.findings = [registry_finding(institution_id=school.id)]
    run(db)
    f = flag(db, "LICENSE_EXPIRING", "11")
    [message] = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "flag.opened"))
    assert message.payload["flag_id"] == f.id and message.payload["reopened"] is False
    assert message.payload["institution_id"] == school.id
    assert message.payload["title"] == "办学许可证即将到期"
    audit = db.scalars(select(AuditLog).where(AuditLog.entity == "flags",
                                              AuditLog.entity_id == str(f.id))).one()
    assert audit.action == "create" and audit.changes["rule"] == "LICENSE_EXPIRING"
    assert audit.institution_id == school.id
    assert f.evidence == {"valid_until": "2027-01-15"}


def test_the_latest_wording_and_evidence_replace_the_old(db: Session,
                                                         rulebook: FakeRulebook) -> None:
    rulebook.findings = [registry_finding()]
    run(db)
    rulebook.findings = [Finding("LICENSE_EXPIRING", "low", None, "institution", "11",
                                 "办学许可证将于2027-01-10到期", {"valid_until": "2027-01-10"})]
    run(db)
    f = flag(db, "LICENSE_EXPIRING", "11")
    assert f.summary == "办学许可证将于2027-01-10到期"
    assert f.evidence == {"valid_until": "2027-01-10"}


def test_a_fixed_violation_is_cleared(db: Session, rulebook: FakeRulebook) -> None:
    rulebook.findings = [registry_finding()]
    run(db)
    rulebook.findings = []
    r = run(db)
    f = flag(db, "LICENSE_EXPIRING", "11")
    assert f.status == "cleared" and r.flags_cleared == 1 and r.flags_open == 0
    assert history(db, f)[-1] == ("cleared", "open", "cleared")
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "flag.cleared")).one()
    assert audit.changes == {"status": ["open", "cleared"]}


def test_an_acknowledged_flag_clears_but_one_under_rectification_waits(
        db: Session, rulebook: FakeRulebook) -> None:
    rulebook.findings = [registry_finding("1"), registry_finding("2")]
    run(db)
    flag(db, "LICENSE_EXPIRING", "1").status = "acknowledged"
    flag(db, "LICENSE_EXPIRING", "2").status = "rectification_ordered"
    db.flush()
    rulebook.findings = []
    assert run(db).flags_cleared == 1
    assert flag(db, "LICENSE_EXPIRING", "1").status == "cleared"
    assert flag(db, "LICENSE_EXPIRING", "2").status == "rectification_ordered"


def test_a_session_flag_is_cleared_only_if_its_session_was_judged(
        db: Session, make: Factory, rulebook: FakeRulebook) -> None:
    school = make.institution()
    course, teacher = make.course(school), make.teacher(school)
    inside = make.session_of(course, teacher, starts_at=AS_OF + dt.timedelta(days=3))
    outside = make.session_of(course, teacher, starts_at=AS_OF + dt.timedelta(days=60))
    rulebook.findings = [session_finding(inside.id, school.id),
                         session_finding(outside.id, school.id)]
    run(db, horizon_days=90)
    rulebook.findings = []
    r = run(db)  # 30 days ahead: the second session is not judged
    assert r.flags_cleared == 1
    assert flag(db, "SUBJECT_ON_WEEKEND", str(inside.id)).status == "cleared"
    assert flag(db, "SUBJECT_ON_WEEKEND", str(outside.id)).status == "open"


def test_a_cancelled_session_in_the_window_clears_its_flag(db: Session, make: Factory,
                                                           rulebook: FakeRulebook) -> None:
    school = make.institution()
    s = make.session_of(make.course(school), make.teacher(school),
                        starts_at=AS_OF + dt.timedelta(days=1))
    rulebook.findings = [session_finding(s.id, school.id)]
    run(db)
    s.status = "cancelled"
    db.flush()
    rulebook.findings = []
    assert run(db).flags_cleared == 1


def test_a_dismissed_flag_stays_dismissed_when_found_again(db: Session,
                                                          rulebook: FakeRulebook) -> None:
    rulebook.findings = [registry_finding()]
    run(db)
    f = flag(db, "LICENSE_EXPIRING", "11")
    f.status = "dismissed"
    db.flush()
    r = run(db)
    f = flag(db, "LICENSE_EXPIRING", "11")
    assert f.status == "dismissed" and r.flags_opened == 0
    assert history(db, f) == [("detected", None, "open")]


@pytest.mark.parametrize("status", ["resolved", "cleared"])
def test_a_resolved_or_cleared_flag_reopens_when_found_again(db: Session,
                                                             rulebook: FakeRulebook,
                                                             status: str) -> None:
    rulebook.findings = [registry_finding()]
    run(db)
    flag(db, "LICENSE_EXPIRING", "11").status = status
    db.flush()
    r = run(db)
    f = flag(db, "LICENSE_EXPIRING", "11")
    assert f.status == "open"
    assert (r.flags_opened, r.flags_reopened) == (1, 1)
    assert history(db, f)[-1] == ("redetected", status, "open")
    payloads = [m.payload for m in db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "flag.opened").order_by(OutboxMessage.id))]
    assert [p["reopened"] for p in payloads] == [False, True]
    assert payloads[1]["status"] == "open"


def test_flags_raised_by_escrow_events_are_never_cleared_by_a_run(
        db: Session, make: Factory, rulebook: FakeRulebook) -> None:
    school = make.institution()
    shortfall = raise_flag(db, SYSTEM, rule="FUND_SHORTFALL", severity="critical",
                           institution_id=school.id, subject_type="account",
                           subject_id="GLXT-1:2026-12-01", summary="余额不足", evidence={})
    assert run(db).flags_cleared == 0
    db.refresh(shortfall)
    assert shortfall.status == "open"


def test_a_calendar_flag_clears_when_the_data_arrives_not_when_sessions_go(
        db: Session, rulebook: FakeRulebook) -> None:
    rulebook.findings = [Finding("CALENDAR_DATA_MISSING", "low", None, "calendar", "2027",
                                 "2027年法定节假日数据缺失", {"missing": "statutory_holidays"})]
    run(db)
    rulebook.findings = []
    assert run(db).flags_cleared == 0
    assert flag(db, "CALENDAR_DATA_MISSING", "2027").status == "open"
    calendar.put_override(db, SYSTEM, dt.date(2027, 1, 1), kind="holiday", name="元旦")
    assert run(db).flags_cleared == 1
    assert flag(db, "CALENDAR_DATA_MISSING", "2027").status == "cleared"


def test_sessions_scanned_counts_scheduled_sessions_starting_in_the_window(
        db: Session, make: Factory, rulebook: FakeRulebook) -> None:
    school = make.institution()
    course, teacher = make.course(school), make.teacher(school)
    for days in (-8, -7, 0, 30, 31):
        make.session_of(course, teacher, starts_at=AS_OF + dt.timedelta(days=days))
    make.session_of(course, teacher, starts_at=AS_OF, status="cancelled")
    assert run(db).sessions_scanned == 3


def test_thousands_of_findings_are_handled_in_batches(db: Session,
                                                     rulebook: FakeRulebook) -> None:
    rulebook.findings = [registry_finding(str(i)) for i in range(12_000)]
    rulebook.findings.append(registry_finding("0"))  # a duplicate finding: still one flag
    assert run(db).flags_opened == 12_000
    assert run(db).flags_opened == 0
    assert db.scalar(select(func.count()).select_from(Flag)) == 12_000
    assert db.scalar(select(func.count()).select_from(FlagEvent)) == 12_000
    rulebook.findings = rulebook.findings[:5000]
    assert run(db).flags_cleared == 7_000


def test_a_failing_rulebook_leaves_nothing_behind(db: Session, make: Factory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: Session, window: Window) -> Iterator[Finding]:
        yield registry_finding()
        raise RuntimeError("rule failed")

    monkeypatch.setattr(runs, "evaluate_all", broken)
    savepoint = db.begin_nested()
    with pytest.raises(RuntimeError):
        run(db)
    savepoint.rollback()
    assert db.scalar(select(func.count()).select_from(Flag)) == 0
    fine = FakeRulebook()
    monkeypatch.setattr(runs, "evaluate_all", fine)
    assert run(db).flags_opened == 0  # and the staging table can be made again


def test_the_summary_reads_in_chinese_with_rule_titles(db: Session,
                                                       rulebook: FakeRulebook) -> None:
    rulebook.findings = [registry_finding(), session_finding(3)]
    lines = runs.summary_lines(run(db))
    assert "as_of 2026-12-02T09:00:00+08:00" in lines[0]
    assert "新开 flags_opened=2" in lines[1]
    assert any("周末开展学科类培训" in line for line in lines[2:])
