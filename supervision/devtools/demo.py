"""The Wuxi demo data set (RULES.md §8): clearly fake, deterministic, idempotent.

Institutions of both categories in several districts, their teachers, courses and a month of
sessions around the day it is loaded, with one planted instance of each rule the registries can
express, so that the first compliance run has something to find.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..access.principals import DEMO_PRINCIPALS, actor_for, hash_token
from ..access.scope import SYSTEM, Actor, settings_of
from ..clock import SHANGHAI
from ..identifiers import fake_cert_no, fake_id_number, fake_uscc, hash_id_number, mask_id_number
from ..models import ClassSession, Course, Institution, Principal, RosterEntry, Teacher, Venue

MARKER_USCC_SEED = 20211124  # the day Wuxi's trust model went live; seeds the generator



@dataclass
class DemoResult:
    created: bool
    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # (role, name, token)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class InstitutionSpec:
    name: str
    district: str
    category: str
    modes: tuple[str, ...]
    nonprofit: bool = True
    licence_days: int = 900
    status: str = "active"


INSTITUTIONS = [
    InstitutionSpec("锡心学堂培训中心", "320213", "subject", ("offline", "online")),
    InstitutionSpec("湖畔思维教育", "320211", "non_subject", ("offline",)),
    InstitutionSpec("新吴英才培训学校", "320214", "subject", ("offline",), nonprofit=False),
    InstitutionSpec("惠山启明教育", "320206", "subject", ("offline",), licence_days=-20),
    InstitutionSpec("锡山博雅艺术", "320205", "non_subject", ("offline",), licence_days=40),
    InstitutionSpec("江阴澄江学堂", "320281", "subject", ("offline",), status="suspended"),
    InstitutionSpec("宜兴紫砂书院", "320282", "non_subject", ("offline",)),
]


def _local(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def _institution(session: Session, rng: random.Random, spec: InstitutionSpec, n: int,
                 today: dt.date) -> Institution:
    inst = Institution(
        name=spec.name, uscc=fake_uscc(rng, nonprofit=spec.nonprofit),
        license_no=f"教民320200{n:04d}号", district_code=spec.district,
        license_valid_until=today + dt.timedelta(days=spec.licence_days),
        category=spec.category, licensed_modes=list(spec.modes),
        nonprofit_registration_no=f"锡民证字第{n:06d}号" if spec.nonprofit else None,
        escrow_mode="trust", supervised_account_no=f"GLXT-3202-{n:06d}",
        address=f"无锡市演示路{n}号", contact_phone=f"0510-8{n:07d}", status=spec.status,
        status_reason="演示：停业整顿" if spec.status != "active" else None)
    session.add(inst)
    session.flush()
    return inst


def _teacher(session: Session, rng: random.Random, inst: Institution, name: str, *,
             cert_type: str | None = "4", inservice: bool = False,
             background: str = "clear") -> tuple[Teacher, str]:
    number = fake_id_number(rng)
    key = settings_of(session).id_hash_key
    cert = fake_cert_no(rng, type_digit=cert_type) if cert_type else None
    levels = {"1": "kindergarten", "2": "primary", "3": "junior", "4": "senior"}
    teacher = Teacher(
        institution_id=inst.id, name=name, id_number_hash=hash_id_number(number, key),
        id_number_masked=mask_id_number(number), qualification_cert_no=cert,
        cert_level=levels.get(cert_type or ""), cert_subject="math" if cert else None,
        is_inservice_school_teacher=inservice, background_check_status=background,
        background_checked_on=dt.date(2026, 3, 1) if background == "clear" else None,
        employment="full_time", hired_on=dt.date(2026, 3, 15))
    session.add(teacher)
    return teacher, number


def _course(session: Session, inst: Institution, venue: Venue | None, **kw: Any) -> Course:
    mode = kw.get("mode", "offline")
    values: dict[str, Any] = dict(
        institution_id=inst.id, category=inst.category, grade_min=4, grade_max=6, mode=mode,
        class_size=20, minutes_per_class_hour=45 if mode == "offline" else 30,
        price_per_class_hour_fen=4000 if mode == "offline" else 1500,
        venue_id=venue.id if venue and mode == "offline" else None)
    values.update(kw)
    course = Course(**values)
    session.add(course)
    session.flush()
    return course


def _sessions(session: Session, course: Course, teacher: Teacher, days: list[dt.date],
              start: tuple[int, int], minutes: int) -> int:
    for day in days:
        begins = _local(day, *start)
        session.add(ClassSession(
            course_id=course.id, institution_id=course.institution_id, starts_at=begins,
            ends_at=begins + dt.timedelta(minutes=minutes), teacher_id=teacher.id,
            venue_id=course.venue_id, status="scheduled"))
    return len(days)


def seed_registries(session: Session, today: dt.date) -> dict[str, int]:
    rng = random.Random(MARKER_USCC_SEED)
    institutions = [_institution(session, rng, spec, n, today)
                    for n, spec in enumerate(INSTITUTIONS, start=1)]
    xixin, hupan, xinwu, qiming, boya, chengjiang, zisha = institutions
    venues = {inst.id: Venue(institution_id=inst.id, address=f"{inst.name}教学点", capacity=30)
              for inst in institutions}
    session.add_all(venues.values())
    session.flush()

    t_wang, _ = _teacher(session, rng, xixin, "王老师")
    t_chen, _ = _teacher(session, rng, xixin, "陈老师", cert_type="2")  # primary only
    t_zhou, _ = _teacher(session, rng, xixin, "周老师", cert_type=None)  # no certificate
    t_liu, _ = _teacher(session, rng, hupan, "刘老师", cert_type=None)
    t_sun, _ = _teacher(session, rng, xinwu, "孙老师", inservice=True)  # declared in service
    t_zhao, _ = _teacher(session, rng, qiming, "赵老师", background="pending")
    t_qian, qian_id = _teacher(session, rng, boya, "钱老师", cert_type=None)
    t_wu, _ = _teacher(session, rng, chengjiang, "吴老师")
    t_zheng, _ = _teacher(session, rng, zisha, "郑老师", cert_type=None)
    key = settings_of(session).id_hash_key
    session.add(RosterEntry(kind="blacklist", id_number_hash=hash_id_number(qian_id, key),
                            reason="演示：曾受行政处罚"))
    inservice_extra = fake_id_number(rng)
    session.add(RosterEntry(kind="inservice", id_number_hash=hash_id_number(inservice_extra, key),
                            reason=None))
    session.flush()

    # A month of weekday-evening classes from a week ago, plus planted violations.
    first = today - dt.timedelta(days=6)
    month = [first + dt.timedelta(days=i) for i in range(30)]
    weekdays = [d for d in month if d.weekday() < 5]
    tue_thu = [d for d in weekdays if d.weekday() in (1, 3)]
    saturdays = [d for d in month if d.weekday() == 5]
    v = venues
    n = 0
    math = _course(session, xixin, v[xixin.id], name="五年级数学同步提高班", subject="math")
    n += _sessions(session, math, t_wang, tue_thu, (18, 30), 90)
    n += _sessions(session, math, t_wang, saturdays[:2], (9, 0), 90)  # SUBJECT_ON_WEEKEND
    eng = _course(session, xixin, v[xixin.id], name="初一英语阅读", subject="english",
                  grade_min=7, grade_max=7, price_per_class_hour_fen=4800)  # PRICE_ABOVE_GUIDE
    n += _sessions(session, eng, t_chen, weekdays[1:2], (19, 0), 105)  # ends 20:45 (late)
    n += _sessions(session, eng, t_zhou, weekdays[2:3], (18, 0), 90)   # no certificate
    online = _course(session, xixin, None, name="小学语文线上精讲", subject="chinese",
                     mode="online")
    d = weekdays[3]
    n += _sessions(session, online, t_wang, [d], (19, 0), 40)   # 40-minute online lesson
    n += _sessions(session, online, t_wang, [d], (19, 45), 30)  # 5-minute break
    n += _sessions(session, online, t_wang, weekdays[4:5], (20, 40), 30)  # ends 21:10
    tots = _course(session, xixin, None, name="幼儿英语启蒙（线上）", subject="english",
                   mode="online", grade_min=0, grade_max=0)  # preschool online + subject
    n += _sessions(session, tots, t_wang, weekdays[5:6], (10, 0), 20)
    olympiad = _course(session, hupan, v[hupan.id], name="小学奥数思维训练营", subject="other",
                       category="non_subject")  # disguised by its name
    n += _sessions(session, olympiad, t_liu, saturdays, (14, 0), 90)
    n += _sessions(session, _course(session, hupan, v[hupan.id], name="少儿数学逻辑",
                                    subject="math", category="non_subject"),
                   t_liu, tue_thu[:4], (18, 0), 60)  # subject-type at a non-subject institution
    phys = _course(session, xinwu, v[xinwu.id], name="初二物理", subject="physics",
                   grade_min=8, grade_max=8)
    n += _sessions(session, phys, t_sun, tue_thu, (18, 30), 90)
    xinwu_online = _course(session, xinwu, None, name="初二物理线上答疑", subject="physics",
                           mode="online", grade_min=8, grade_max=8)  # offline-only licence
    n += _sessions(session, xinwu_online, t_sun, weekdays[6:8], (19, 0), 30)
    hidden = _course(session, xinwu, None, name="初三数学冲刺（地下班）", subject="math",
                     grade_min=9, grade_max=9)  # offline with no registered venue
    n += _sessions(session, hidden, t_sun, weekdays[8:10], (18, 0), 90)
    # Next winter vacation (config's 2026-2027 school year) and a 2027 date that the holiday
    # package does not cover yet: found by a run whose horizon reaches January.
    winter = [dt.date(2027, 1, 4), dt.date(2027, 1, 26)]
    n += _sessions(session, phys, t_sun, winter, (9, 0), 90)
    chem = _course(session, qiming, v[qiming.id], name="初三化学", subject="chemistry",
                   grade_min=9, grade_max=9)  # licence expired
    n += _sessions(session, chem, t_zhao, tue_thu, (18, 30), 90)
    piano = _course(session, boya, v[boya.id], name="少儿钢琴", subject="music", grade_min=1,
                    grade_max=6, price_per_class_hour_fen=12000)
    n += _sessions(session, piano, t_qian, saturdays, (10, 0), 60)
    cj = _course(session, chengjiang, v[chengjiang.id], name="初一语文", subject="chinese",
                 grade_min=7, grade_max=7)  # the institution is suspended
    n += _sessions(session, cj, t_wu, tue_thu[:3], (18, 30), 90)
    clay = _course(session, zisha, v[zisha.id], name="紫砂陶艺体验", subject="art",
                   grade_min=3, grade_max=9, price_per_class_hour_fen=8000)
    n += _sessions(session, clay, t_zheng, saturdays, (14, 0), 90)
    session.flush()
    return {"institutions": len(institutions), "teachers": 9, "sessions": n}


def seed_principals(session: Session) -> list[tuple[str, str, str]]:
    by_name = {i.name: i.id for i in session.scalars(select(Institution))}
    out = []
    for token, role, name, inst_name, district in DEMO_PRINCIPALS:
        session.add(Principal(role=role, name=name, token_hash=hash_token(token),
                              institution_id=by_name.get(inst_name) if inst_name else None,
                              district_code=district))
        out.append((role, name, token))
    session.flush()
    return out


def _demo_actor(session: Session, token: str) -> Actor:
    principal = session.scalars(select(Principal).where(
        Principal.token_hash == hash_token(token))).one()
    return actor_for(principal)


def seed_escrow(session: Session, now: dt.datetime) -> dict[str, int]:
    """Enrollments paid through the trustee's deposits, attendance, a confirmation, a refund
    request and one unmatched deposit, all through the same services as the API."""
    from ..escrow import (
        apply_deposit,
        confirm_consumption,
        create_enrollment,
        dispute_consumption,
        record_attendance,
        reject_refund,
        request_refund,
    )
    from ..escrow.trustee import TRUSTEE

    courses = {c.name: c for c in session.scalars(select(Course))}
    math, english = courses["五年级数学同步提高班"], courses["初一英语阅读"]
    # Each step is taken by the demo principal who would take it through the API.
    zhang, li = _demo_actor(session, "demo-parent-zhang"), _demo_actor(session, "demo-parent-li")
    xixin = _demo_actor(session, "demo-institution-xixin")
    ming = create_enrollment(session, zhang, course_id=math.id, student_name="张小明",
                             student_grade=5, class_hours=20)
    ming_en = create_enrollment(session, zhang, course_id=english.id, student_name="张小明",
                                student_grade=7, class_hours=8)
    hong = create_enrollment(session, li, course_id=math.id, student_name="李小红",
                             student_grade=5, class_hours=10)
    # Paid before the demo's first class (6 days ago): prepaid money pays only for classes
    # after it arrived (SESSION_BEFORE_ENROLLMENT).
    paid_at = now - dt.timedelta(days=7)
    for n, enrollment in enumerate((ming, ming_en, hong), start=1):
        apply_deposit(session, TRUSTEE, event_id=f"demo-deposit-{n}",
                      payment_reference=enrollment.payment_reference,
                      amount_fen=enrollment.amount_fen, trustee_txn_id=f"DEMO-TXN-{n:04d}",
                      received_at=paid_at)
    # A transfer the trustee could not match to any enrollment: it waits in suspense.
    apply_deposit(session, TRUSTEE, event_id="demo-deposit-unknown",
                  payment_reference="SV-UNKNOWN-DEMO", amount_fen=123400,
                  trustee_txn_id="DEMO-TXN-9999", received_at=paid_at)
    started = session.scalars(select(ClassSession).where(
        ClassSession.course_id == math.id, ClassSession.starts_at < now)
        .order_by(ClassSession.starts_at)).first()
    consumptions = []
    if started is not None:
        consumptions = record_attendance(session, xixin, session_id=started.id,
                                         enrollment_ids=[ming.id, hong.id], class_hours=None,
                                         as_of=now)
        by_enrollment = {c.enrollment_id: c for c in consumptions}
        confirm_consumption(session, zhang, by_enrollment[ming.id].id, as_of=now)
        # Li confirms too, so both families may review the class (REVIEW_NOT_ELIGIBLE before).
        confirm_consumption(session, li, by_enrollment[hong.id].id, as_of=now)
    # A second class Ming attended that Zhang has not confirmed yet: his escrow then shows
    # money held, pending confirmation and confirmed at once. The demo always has at least two
    # math classes in the six days before `now` (Tuesday, Thursday or Saturday).
    second = session.scalars(select(ClassSession).where(
        ClassSession.course_id == math.id, ClassSession.starts_at < now)
        .order_by(ClassSession.starts_at).offset(1)).first()
    if second is not None:
        consumptions += record_attendance(session, xixin, session_id=second.id,
                                          enrollment_ids=[ming.id], class_hours=None,
                                          as_of=now)
    request_refund(session, li, hong.id, reason="孩子转学，申请退还未消课时费用", amount_fen=None,
                   as_of=now)
    # A disputed class and a refused refund, each of which raises a flag for the regulator.
    english_class = session.scalars(select(ClassSession).where(
        ClassSession.course_id == english.id, ClassSession.starts_at < now)).first()
    if english_class is not None:
        (disputed,) = record_attendance(session, xixin, session_id=english_class.id,
                                        enrollment_ids=[ming_en.id], class_hours=1, as_of=now)
        consumptions.append(disputed)
        dispute_consumption(session, zhang, disputed.id, reason="孩子当天请假，未上课", as_of=now)
    refused = request_refund(session, zhang, ming_en.id, reason="课程不合适", amount_fen=4800,
                             as_of=now)
    reject_refund(session, xixin, refused.id, reason="已按合同约定排课", as_of=now)
    return {"enrollments": 3, "deposits": 4, "consumptions": len(consumptions), "refunds": 2}


def is_seeded(session: Session) -> bool:
    return session.scalars(select(Principal.id).where(
        Principal.token_hash == hash_token(DEMO_PRINCIPALS[0][0]))).first() is not None


def seed_demo(session: Session, *, now: dt.datetime | None = None,
              with_money: bool = True) -> DemoResult:
    """Load the demo around `now` (the clock's now by default): sessions a month either side,
    money paid and classes given before it, so a compliance run as of `now` finds the plants."""
    if settings_of(session).env == "production":
        raise RuntimeError("the demo data set is not loaded into a production database")
    if is_seeded(session):
        return DemoResult(created=False,
                          tokens=[(r, n, t) for t, r, n, _i, _d in DEMO_PRINCIPALS])
    now = (now or clock.now()).astimezone(SHANGHAI)
    counts = seed_registries(session, now.date())
    tokens = seed_principals(session)
    if with_money:
        counts.update(seed_escrow(session, now))
        counts.update(seed_risk(session, now))
        counts.update(seed_front_door(session, now))
    return DemoResult(created=True, tokens=tokens, counts=counts)


def seed_front_door(session: Session, now: dt.datetime) -> dict[str, int]:
    """The parents' and the public's front door (RULES.md §10): a complaint the institution has
    answered, one left open past its closing date (COMPLAINT_OVERDUE), a tip-off from the
    public and two reviews of classes the parents confirmed. Needs seed_escrow's money."""
    from ..complaints import (
        PUBLIC,
        respond_to_complaint,
        submit_complaint,
        submit_review,
        submit_tip,
    )
    from ..models.escrow import Enrollment

    zhang, li = _demo_actor(session, "demo-parent-zhang"), _demo_actor(session, "demo-parent-li")
    xixin = _demo_actor(session, "demo-institution-xixin")
    institutions = {i.name: i for i in session.scalars(select(Institution))}
    enrollments = {(e.student_name, e.class_hours): e for e in session.scalars(
        select(Enrollment).where(Enrollment.student_name.in_(("张小明", "李小红"))))}
    ming_en, hong = enrollments[("张小明", 8)], enrollments[("李小红", 10)]
    answered = submit_complaint(
        session, zhang, institution_id=ming_en.institution_id, category="teaching",
        enrollment_id=ming_en.id, text="英语课临时换老师，事先没有通知家长",
        as_of=now - dt.timedelta(days=3))
    respond_to_complaint(session, xixin, answered.id,
                         text="原任课老师病假，已补发通知并安排试听补课",
                         as_of=now - dt.timedelta(days=2))
    # Forty days back is past the 15 working days to close whatever the holidays in between.
    submit_complaint(session, li, institution_id=institutions["湖畔思维教育"].id,
                     category="fees", text="试听后被要求一次性缴纳一年学费，不缴不给排课",
                     as_of=now - dt.timedelta(days=40))
    submit_tip(session, PUBLIC, district_code="320214", address="无锡市新吴区演示小区12栋底商",
               description="晚上有初三数学班在居民楼里上课，门口没有挂牌",
               as_of=now - dt.timedelta(days=1))
    # Zhang's math enrollment is left for the parent to review from the app (the browser tour
    # does): Zhang reviews a class at 启航 instead, confirmed first like any review needs.
    from ..escrow import confirm_consumption
    from ..models.escrow import Consumption

    qihang = session.scalars(select(Consumption).join(Enrollment).where(
        Enrollment.parent_id == zhang.parent_id,
        Enrollment.institution_id == institutions[RISK_NEIGHBOUR].id)
        .order_by(Consumption.id)).first()
    if qihang is not None:
        confirm_consumption(session, zhang, qihang.id, as_of=now)
    reviews = 0
    for parent, enrollment_id, stars, text in (
            (zhang, qihang.enrollment_id if qihang else None, 5, "美术老师耐心，孩子很喜欢"),
            (li, hong.id, 4, "老师认真负责，可惜我们转学了")):
        if enrollment_id in _confirmed_enrollments(session):
            submit_review(session, parent, enrollment_id, stars=stars, text=text,
                          as_of=now - dt.timedelta(hours=1))
            reviews += 1
    return {"complaints": 2, "tips": 1, "reviews": reviews}


def _confirmed_enrollments(session: Session) -> set[int]:
    from ..models.escrow import Consumption

    return set(session.scalars(select(Consumption.enrollment_id).where(
        Consumption.status == "confirmed")))


# --- 风险预警: one institution on a collapse path and a healthy neighbour (issue 11) ---------

RISK_PLANT = "锡山学而优教育"  # heading for collapse
RISK_NEIGHBOUR = "锡山启航培训"  # same district, same trade, healthy
_RISK_DISTRICT = "320205"


def _weekly(now: dt.datetime, first_days_ago: int, last_days_ago: int,
            weekdays: tuple[int, ...]) -> list[dt.date]:
    today = now.date()
    days = (today - dt.timedelta(days=n) for n in range(first_days_ago, last_days_ago - 1, -1))
    return [d for d in days if d.weekday() in weekdays]


def _risk_institution(session: Session, rng: random.Random, name: str, n: int,
                      today: dt.date) -> tuple[Institution, Course, Teacher, Actor]:
    spec = InstitutionSpec(name, _RISK_DISTRICT, "non_subject", ("offline",))
    inst = _institution(session, rng, spec, n, today)
    venue = Venue(institution_id=inst.id, address=f"{inst.name}教学点", capacity=30)
    session.add(venue)
    session.flush()
    teacher, _ = _teacher(session, rng, inst, f"{name[2:4]}老师")
    course = _course(session, inst, venue, name="少儿美术创意", subject="art",
                     grade_min=1, grade_max=6)
    session.flush()
    # Attendance is recorded by the institution's own staff (it has no demo token).
    staff = Actor(principal_id=None, role="institution", name=f"{name}（演示）",
                  institution_id=inst.id)
    return inst, course, teacher, staff


def _paid(session: Session, parents: list[Actor], course: Course, tag: str, count: int,
          hours: int, at: dt.datetime, first: int = 0) -> list[int]:
    from ..escrow import apply_deposit, create_enrollment
    from ..escrow.trustee import TRUSTEE

    ids = []
    for i in range(first, first + count):
        e = create_enrollment(session, parents[i % 2], course_id=course.id,
                              student_name=f"{tag}学员{i:02d}", student_grade=3,
                              class_hours=hours)
        apply_deposit(session, TRUSTEE, event_id=f"demo-risk-{tag}-{i}",
                      payment_reference=e.payment_reference, amount_fen=e.amount_fen,
                      trustee_txn_id=f"DEMO-RISK-{tag}-{i:03d}",
                      received_at=at + dt.timedelta(hours=i))
        ids.append(e.id)
    return ids


def _class(session: Session, course: Course, teacher: Teacher, day: dt.date,
           status: str = "scheduled") -> ClassSession:
    begins = _local(day, 18, 30)
    cls = ClassSession(course_id=course.id, institution_id=course.institution_id,
                       starts_at=begins, ends_at=begins + dt.timedelta(minutes=45),
                       teacher_id=teacher.id, venue_id=course.venue_id, status=status)
    session.add(cls)
    session.flush()
    return cls


def _attend(session: Session, staff: Actor, cls: ClassSession, enrollment_ids: list[int]) -> int:
    from ..escrow import record_attendance

    record_attendance(session, staff, session_id=cls.id, enrollment_ids=enrollment_ids,
                      class_hours=None, as_of=cls.ends_at + dt.timedelta(hours=1))
    return len(enrollment_ids)


def seed_risk(session: Session, now: dt.datetime) -> dict[str, int]:
    """The collapse path the risk score is built to see early (RULES.md §11), through the same
    services as the API: 学而优 took four months of prepayments, taught weekly until five
    weeks ago, has cancelled every class since, still takes new money, and parents are asking
    for their money back (nine requests in ten days against one in the quarter before), some
    complain, and the trustee's statement shows less money than the ledger holds. Its
    neighbour 启航 teaches twice a week with nobody asking for a refund."""
    from ..complaints import submit_complaint
    from ..escrow import ledger, request_refund
    from ..escrow.statements import StatementIn, import_statement
    from ..models.escrow import LedgerAccount

    rng = random.Random(MARKER_USCC_SEED + 11)
    parents = [_demo_actor(session, "demo-parent-zhang"), _demo_actor(session, "demo-parent-li")]
    base = len(INSTITUTIONS)
    plant, p_course, p_teacher, p_staff = _risk_institution(session, rng, RISK_PLANT,
                                                            base + 1, now.date())
    _near, n_course, n_teacher, n_staff = _risk_institution(session, rng, RISK_NEIGHBOUR,
                                                            base + 2, now.date())
    consumptions = refunds = 0

    # The plant: 24 enrollments of 40 hours paid 120 days ago, a class every Wednesday.
    old = _paid(session, parents, p_course, "学而优", 24, 40, now - dt.timedelta(days=120))
    taught = _weekly(now, 110, 35, (2,))
    baseline_refund = old[-1]  # one family left in the quarter before: the baseline
    for k, day in enumerate(taught):
        if k == len(taught) // 2:
            request_refund(session, parents[1], baseline_refund, reason="搬家，申请退费",
                           amount_fen=None, as_of=_local(day, 9, 0))
            refunds += 1
        active = [e for e in old if e != baseline_refund or k < len(taught) // 2]
        consumptions += _attend(session, p_staff, _class(session, p_course, p_teacher, day),
                                active)
    for day in _weekly(now, 34, 0, (2,)):
        _class(session, p_course, p_teacher, day, status="cancelled")
    # Deposits continue: four new families paid in the last fortnight.
    _paid(session, parents, p_course, "学而优", 4, 40, now - dt.timedelta(days=12), first=24)
    for i, eid in enumerate(old[:9]):
        request_refund(session, parents[i % 2], eid, reason="机构连续停课，联系不上老师",
                       amount_fen=None, as_of=now - dt.timedelta(days=10 - i, hours=2))
        refunds += 1
    for i, text in enumerate(("连续四周停课，老师电话不接", "申请退费一周无人处理",
                              "机构仍在招生收费，却不上课")):
        submit_complaint(session, parents[i % 2], institution_id=plant.id, category="refund",
                         text=text, as_of=now - dt.timedelta(days=6 - 2 * i))
    # The trustee's statement of yesterday holds three quarters of what the ledger says is in
    # custody: money has left the supervised account by some other door.
    custody = session.scalars(select(LedgerAccount).where(
        LedgerAccount.code == ledger.inst(plant.id, "custody"))).one().balance
    short = custody * 3 // 4
    # Pulled from the trustee as the statements worker does (the system's own call).
    import_statement(session, SYSTEM, StatementIn(
        account_no=plant.supervised_account_no or "", date=now.date() - dt.timedelta(days=1),
        opening_balance_fen=short, closing_balance_fen=short, lines=()))

    # The neighbour: 12 enrollments of 30 hours paid 45 days ago, classes Tuesday and Thursday.
    families = _paid(session, parents, n_course, "启航", 12, 30, now - dt.timedelta(days=45))
    for day in _weekly(now, 42, 1, (1, 3)):
        consumptions += _attend(session, n_staff, _class(session, n_course, n_teacher, day),
                                families)
    for day in _weekly(now, -1, -28, (1, 3)):  # the next four weeks, as planned
        _class(session, n_course, n_teacher, day)
    return {"risk_institutions": 2, "risk_consumptions": consumptions,
            "risk_refunds": refunds}
