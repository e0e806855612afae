"""The console's pages with the demo data, the flag actions through the state machine, the
calendar forms, and the institution's money."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supervision import clock
from supervision.access.scope import SYSTEM
from supervision.compliance.catalogue import CATALOGUE
from supervision.compliance.flags import OUTSTANDING, raise_flag
from supervision.models import Flag, FlagEvent, Institution

from ..support.console import (
    WUXI,
    Browser,
    flag_in_district,
    flags,
    institution_named,
    load_demo,
    now_local,
)
from ..support.factories import Factory


@pytest.fixture
def browser(client: FlaskClient, db: Session) -> Browser:
    load_demo(db)
    b = Browser(client)
    assert b.sign_in(WUXI).status_code == 302
    return b


def text(resp: object) -> str:
    return resp.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


# --- every page renders with the demo data ----------------------------------------------------

def test_every_flag_page_of_the_demo_run_renders(browser: Browser, db: Session) -> None:
    found = flags(db)
    assert len(found) >= 20  # the demo plants one of nearly every rule
    for flag in found:
        resp = browser.get(f"/console/flags/{flag.id}")
        assert resp.status_code == 200, (flag.rule, text(resp)[:500])
        expired = flag.rule == "LICENSE_EXPIRING" and flag.evidence["days_left"] < 0
        title = "办学许可证已过期" if expired else CATALOGUE[flag.rule].title_zh
        assert f'<h1 id="flag-title">{title} ' in text(resp), flag.rule


def test_every_institution_page_of_the_demo_renders(browser: Browser, db: Session) -> None:
    for inst in db.scalars(select(Institution)):
        resp = browser.get(f"/console/institutions/{inst.id}")
        assert resp.status_code == 200, inst.name
        assert inst.name in text(resp)


@pytest.mark.parametrize("url", [
    "/console/", "/console/flags", "/console/flags?status=all&sort=newest",
    "/console/flags?sort=oldest&severity=critical", "/console/flags?sort=due&overdue=y",
    "/console/flags?status=nonsense&severity=nonsense&rule=NOPE&district=999999&page=abc",
    "/console/institutions", "/console/institutions?q=学堂&status=active&district=320213",
    "/console/dashboard", "/console/calendar", "/console/calendar?month=2027-02",
    "/console/calendar?month=garbage", "/console/static/console.css",
])
def test_each_page_renders_for_a_city_regulator(browser: Browser, url: str) -> None:
    resp = browser.get(url, follow_redirects=True)
    assert resp.status_code == 200, text(resp)[:500]


def test_the_pages_load_nothing_from_another_site(browser: Browser, db: Session) -> None:
    flag = flags(db)[0]
    for url in ("/console/flags", f"/console/flags/{flag.id}", "/console/dashboard",
                "/console/institutions/1", "/console/calendar"):
        page = text(browser.get(url))
        assert not re.search(r'(src|href)="(https?:)?//', page), url
        assert "kozea.github.io" not in page  # pygal's default tooltip script
        assert "<script" not in page  # the console's CSP refuses inline scripts


# --- the dashboard --------------------------------------------------------------------------

def test_the_dashboard_counts_flags_without_an_institution_under_their_own_row(
        browser: Browser, db: Session) -> None:
    for n in range(2):
        raise_flag(db, SYSTEM, rule="FUND_UNMATCHED_DEPOSIT", severity="critical",
                   institution_id=None,
                   subject_type="deposit", subject_id=f"TXN-H6-{n}",
                   summary="收款¥80.00无法入账（付款参考号无对应报名），已记入待查账户",
                   evidence={"amount_fen": 8000})
    db.flush()
    page = text(browser.get("/console/dashboard"))
    for severity, label in (("critical", "严重"), ("low", "低")):
        n = db.scalar(select(func.count()).select_from(Flag).where(
            Flag.severity == severity, Flag.status.in_(OUTSTANDING)))
        assert f'<span class="count-n">{n}</span><span class="count-label">{label}' in page
    table = page.split('id="district-table"')[1].split("</tbody>")[0]
    system_row = re.search(r'data-district=""><td>系统/未关联机构</td><td class="num">—</td>'
                           r'<td class="num flags">(\d+)</td>', table)
    assert system_row is not None, table
    unattached = db.scalar(select(func.count()).select_from(Flag).where(
        Flag.institution_id.is_(None), Flag.status.in_(OUTSTANDING)))
    assert int(system_row.group(1)) == unattached >= 2
    listed = sum(int(n) for n in re.findall(r'<td class="num flags">(\d+)</td>', table))
    assert listed == db.scalar(select(func.count()).select_from(Flag).where(
        Flag.status.in_(OUTSTANDING)))


# --- the queue ------------------------------------------------------------------------------

def test_the_queue_counts_outstanding_flags_by_severity(browser: Browser, db: Session) -> None:
    page = text(browser.get("/console/flags"))
    for severity, label in (("critical", "严重"), ("high", "高"), ("medium", "中"), ("low", "低")):
        n = db.scalar(select(func.count()).select_from(Flag).where(
            Flag.severity == severity, Flag.status.in_(OUTSTANDING)))
        assert f'<span class="count-n">{n}</span>\n      <span class="count-label">{label}' in page


def test_filtering_the_queue_by_severity_rule_and_district(browser: Browser,
                                                           db: Session) -> None:
    def listed(query: str) -> set[int]:
        page = text(browser.get("/console/flags?" + query)).split('id="flag-table"')[1]
        return {int(n) for n in re.findall(r'class="flag-link">#(\d+)<', page)}

    everything = {f.id for f in flags(db) if f.status in OUTSTANDING}
    assert listed("") == everything
    assert listed("severity=critical") == {f.id for f in flags(db, severity="critical")}
    assert listed("rule=TEACHER_UNQUALIFIED") == {
        f.id for f in flags(db, rule="TEACHER_UNQUALIFIED")}
    xinwu = institution_named(db, "新吴英才培训学校")
    assert listed("district=320214") == {f.id for f in flags(db, institution_id=xinwu.id)}
    assert listed("district=320214&severity=low") == set()


def test_the_queue_hides_finished_flags_unless_asked(browser: Browser, db: Session) -> None:
    flag = flag_in_district(db, "320213")
    flag.status = "dismissed"
    db.flush()
    default = text(browser.get("/console/flags"))
    assert f'href="/console/flags/{flag.id}"' not in default
    assert f'href="/console/flags/{flag.id}"' in text(browser.get("/console/flags?status=all"))
    assert f'href="/console/flags/{flag.id}"' in text(
        browser.get("/console/flags?status=dismissed"))


def test_the_queue_pages_through_many_flags(browser: Browser, db: Session,
                                            make: Factory) -> None:
    inst = make.institution(name="分页测试机构")
    for n in range(60):
        raise_flag(db, SYSTEM, rule="LICENSE_EXPIRING", severity="low", institution_id=inst.id,
                   subject_type="teacher", subject_id=f"paging-{n}", summary=f"分页 {n}",
                   evidence={})
    total = db.scalar(select(func.count()).select_from(Flag).where(
        Flag.status.in_(OUTSTANDING))) or 0
    first = text(browser.get("/console/flags"))
    assert first.count('class="flag-link"') == 50
    assert f"共 {total} 条" in first
    second = text(browser.get("/console/flags?page=2"))
    assert second.count('class="flag-link"') == min(total - 50, 50)
    assert 'rel="prev"' in second


def test_sorting_the_queue_by_newest_puts_the_latest_detection_first(
        browser: Browser, db: Session) -> None:
    latest = flags(db)[3]
    latest.last_detected_at = clock.now() + dt.timedelta(hours=1)
    db.flush()
    page = text(browser.get("/console/flags?sort=newest")).split('id="flag-table"')[1]
    first = re.search(r'class="flag-link">#(\d+)<', page)
    assert first is not None and int(first.group(1)) == latest.id


# --- the flag page and its actions ----------------------------------------------------------

def test_a_session_flag_tells_the_day_time_teacher_and_legal_basis(browser: Browser,
                                                                   db: Session) -> None:
    flag = flags(db, rule="LATE_END_OFFLINE")[0]
    page = text(browser.get(f"/console/flags/{flag.id}"))
    ev = flag.evidence
    day = dt.date.fromisoformat(ev["date"])
    shown = f"{day.year}年{day.month}月{day.day}日"
    assert f'<div class="session-date">{shown} <span>{ev["weekday"]}</span>' in page
    assert f'{ev["starts_at_local"]} – {ev["ends_at_local"]}' in page
    assert f'授课人员：{ev["teacher_name"]}' in page
    assert CATALOGUE["LATE_END_OFFLINE"].legal_basis in page
    assert "线下培训最晚结束时间" in page and "20:30" in page  # the parameter it broke


def test_only_the_actions_the_state_machine_allows_are_offered(browser: Browser,
                                                               db: Session) -> None:
    flag = flag_in_district(db, "320213")
    page = text(browser.get(f"/console/flags/{flag.id}"))
    offered = set(re.findall(r'id="form-([a-z_]+)"', page))
    assert offered == {"acknowledge", "order_rectification", "dismiss"}
    flag.status = "resolved"
    db.flush()
    page = text(browser.get(f"/console/flags/{flag.id}"))
    assert set(re.findall(r'id="form-([a-z_]+)"', page)) == {"reopen"}


def test_acknowledging_a_flag_moves_it_and_grows_its_history(browser: Browser,
                                                             db: Session) -> None:
    flag = flag_in_district(db, "320213")
    resp = browser.act(flag.id, "acknowledge", note="已电话联系机构负责人")
    assert resp.status_code == 302
    assert resp.location == f"/console/flags/{flag.id}"
    db.expire_all()
    assert db.get(Flag, flag.id).status == "acknowledged"  # type: ignore[union-attr]
    page = text(browser.get(resp.location))
    assert "已受理" in page
    assert "已电话联系机构负责人" in page
    assert "无锡市教育局（演示）" in page.split('id="history"')[1]


def test_ordering_rectification_needs_a_due_date_not_in_the_past(browser: Browser,
                                                                 db: Session) -> None:
    flag = flag_in_district(db, "320213")
    resp = browser.act(flag.id, "order_rectification")
    assert resp.status_code == 422
    assert "责令整改须填写整改期限" in text(resp)
    yesterday = now_local().date() - dt.timedelta(days=1)
    resp = browser.act(flag.id, "order_rectification", due_on=yesterday.isoformat())
    assert resp.status_code == 422
    assert "整改期限不能早于今天" in text(resp)
    db.expire_all()
    assert db.get(Flag, flag.id).status == "open"  # type: ignore[union-attr]
    due = now_local().date() + dt.timedelta(days=15)
    resp = browser.act(flag.id, "order_rectification", due_on=due.isoformat(), note="限期整改")
    assert resp.status_code == 302
    db.expire_all()
    changed = db.get(Flag, flag.id)
    assert changed is not None
    assert (changed.status, changed.due_on) == ("rectification_ordered", due)
    shown = f"{due.year}年{due.month}月{due.day}日"
    assert f"整改期限 <strong>{shown}</strong>" in text(browser.get(resp.location))


def test_an_action_the_state_machine_forbids_is_409_and_changes_nothing(
        browser: Browser, db: Session) -> None:
    flag = flag_in_district(db, "320213")
    events = db.scalar(select(func.count()).select_from(FlagEvent)
                       .where(FlagEvent.flag_id == flag.id))
    for action in ("resolve", "reopen"):
        resp = browser.act(flag.id, action)
        assert resp.status_code == 409, action
        assert "状态已变化" in text(resp)
    db.expire_all()
    assert db.get(Flag, flag.id).status == "open"  # type: ignore[union-attr]
    assert db.scalar(select(func.count()).select_from(FlagEvent)
                     .where(FlagEvent.flag_id == flag.id)) == events


def test_dismissing_needs_a_reason_and_a_dismissed_flag_can_be_reopened(
        browser: Browser, db: Session) -> None:
    flag = flag_in_district(db, "320213")
    resp = browser.act(flag.id, "dismiss", note="")
    assert resp.status_code == 422
    assert "排除须填写理由" in text(resp)
    assert browser.act(flag.id, "dismiss", note="经核实系数据录入错误").status_code == 302
    db.expire_all()
    assert db.get(Flag, flag.id).status == "dismissed"  # type: ignore[union-attr]
    assert browser.act(flag.id, "reopen").status_code == 302
    db.expire_all()
    assert db.get(Flag, flag.id).status == "open"  # type: ignore[union-attr]
    history = [e.action for e in db.scalars(select(FlagEvent).where(
        FlagEvent.flag_id == flag.id).order_by(FlagEvent.id))]
    assert history[-2:] == ["dismiss", "reopen"]


def test_a_note_with_control_characters_is_refused(browser: Browser, db: Session) -> None:
    flag = flag_in_district(db, "320213")
    resp = browser.act(flag.id, "dismiss", note="bad\x00note")
    assert resp.status_code == 422
    db.expire_all()
    assert db.get(Flag, flag.id).status == "open"  # type: ignore[union-attr]


def test_resolving_after_the_institution_responded(browser: Browser, db: Session) -> None:
    flag = flag_in_district(db, "320213")
    flag.status = "rectification_submitted"
    db.flush()
    assert browser.act(flag.id, "resolve", note="整改到位").status_code == 302
    db.expire_all()
    assert db.get(Flag, flag.id).status == "resolved"  # type: ignore[union-attr]


# --- the institution page ----------------------------------------------------------------

def test_the_institution_page_shows_masked_id_numbers_only(browser: Browser, db: Session,
                                                           make: Factory) -> None:
    inst = institution_named(db, "锡心学堂培训中心")
    number = make.id_number()
    make.teacher(inst, id_number=number, name="测试老师")
    page = text(browser.get(f"/console/institutions/{inst.id}"))
    assert "测试老师" in page
    assert number[:4] + "**********" + number[-4:] in page
    assert number not in page
    assert number[4:14] not in page


def test_the_institution_page_lists_open_flags_and_next_sessions(browser: Browser,
                                                                 db: Session) -> None:
    inst = institution_named(db, "锡心学堂培训中心")
    page = text(browser.get(f"/console/institutions/{inst.id}"))
    open_ids = [f.id for f in flags(db, institution_id=inst.id) if f.status in OUTSTANDING]
    section = page.split('id="open-flags"')[1].split('id="teachers"')[0]
    assert all(f'/console/flags/{i}"' in section for i in open_ids)
    sessions = page.split('id="next-sessions"')[1]
    assert "五年级数学同步提高班" in sessions or "初一英语阅读" in sessions


def test_the_queue_narrows_to_one_institution_from_its_page(browser: Browser,
                                                            db: Session) -> None:
    inst = institution_named(db, "湖畔思维教育")
    page = text(browser.get(f"/console/institutions/{inst.id}"))
    assert f"/console/flags?institution={inst.id}&amp;status=all" in page
    queue = text(browser.get(f"/console/flags?institution={inst.id}&status=all"))
    assert "机构：湖畔思维教育" in queue
    listed = {int(n) for n in re.findall(r'class="flag-link">#(\d+)<', queue)}
    assert listed == {f.id for f in flags(db, institution_id=inst.id)}
    assert browser.get("/console/flags?institution=abc").status_code == 404
    assert browser.get("/console/flags?institution=99999999").status_code == 404


def test_a_console_action_is_audited_under_the_officers_name(browser: Browser,
                                                             db: Session) -> None:
    from supervision.models import AuditLog

    flag = flag_in_district(db, "320213")
    assert browser.act(flag.id, "acknowledge").status_code == 302
    row = db.scalars(select(AuditLog).where(AuditLog.entity == "flags",
                                            AuditLog.entity_id == str(flag.id))
                     .order_by(AuditLog.id.desc())).first()
    assert row is not None
    assert row.action == "flag.acknowledge"
    assert row.actor.startswith("regulator:无锡市教育局（演示）")
    assert row.changes["status"] == ["open", "acknowledged"]


# --- how money, dates and flags read ---------------------------------------------------------

def test_console_pages_show_money_in_yuan_and_dates_in_chinese(browser: Browser,
                                                               db: Session) -> None:
    price = next(f for f in flags(db) if f.rule == "PRICE_ABOVE_GUIDE")
    for url in ("/console/flags", f"/console/flags/{price.id}", "/console/dashboard",
                f"/console/institutions/{price.institution_id}", "/console/calendar"):
        page = text(browser.get(url))
        assert not re.search(r"\d\s*分(?!钟)", page), url  # fen are never shown raw
        assert not re.search(r">\s*\d{4}-\d{2}-\d{2}", page), url  # dates read 2026年12月3日
    page = text(browser.get(f"/console/flags/{price.id}"))
    assert "¥" in page and re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", page)


def test_date_fields_are_text_in_year_month_day_order_not_the_browsers_locale(
        browser: Browser, db: Session) -> None:
    flag = flags(db, status="open")[0]
    for url in (f"/console/flags/{flag.id}", "/console/calendar"):
        page = text(browser.get(url))
        assert 'type="date"' not in page, url
        assert 'placeholder="年-月-日"' in page and 'pattern="\\d{4}-\\d{2}-\\d{2}"' in page
    assert '<html lang="zh-CN">' in page


def test_an_unlicensed_institutions_flag_lists_its_sessions_and_an_expired_licence_reads_so(
        browser: Browser, db: Session, make: Factory) -> None:
    inst = make.institution(name="过期许可测试学校", license_valid_until=dt.date(2026, 11, 1))
    expired = raise_flag(db, SYSTEM, rule="LICENSE_EXPIRING", severity="low",
                         institution_id=inst.id,
               subject_type="institution", subject_id=inst.id,
               summary="办学许可证已过期：过期许可测试学校，办学许可证已于2026年11月1日到期（过期32天）",
               evidence={"institution_id": inst.id, "days_left": -32,
                         "license_valid_until": "2026-11-01"})
    sessions = [{"session_id": 900 + n, "date": f"2026-12-0{n}", "starts_at_local": "18:00",
                 "ends_at_local": "19:30", "course_id": 1, "course_name": "初二数学"}
                for n in (1, 2)]
    unlicensed = raise_flag(
        db, SYSTEM, rule="UNLICENSED_OPERATION", severity="critical", institution_id=inst.id,
        subject_type="institution", subject_id=inst.id,
        summary="办学许可证过期仍在开课：过期许可测试学校，共2节课",
        evidence={"institution_id": inst.id, "license_valid_until": "2026-11-01",
                  "session_count": 2, "sessions_shown": 2, "sessions": sessions})
    db.flush()
    page = text(browser.get(f"/console/flags/{unlicensed.id}"))
    assert "2026年12月1日 18:00–19:30 初二数学（课次#901）" in page
    assert "<th>涉及课次数</th><td>2</td>" in page
    assert "session_id" not in page
    queue = text(browser.get("/console/flags?rule=LICENSE_EXPIRING"))
    assert f'/console/flags/{expired.id}"><strong>办学许可证已过期</strong>' in queue
    page = text(browser.get(f"/console/flags/{expired.id}"))
    assert '<h1 id="flag-title">办学许可证已过期 ' in page
