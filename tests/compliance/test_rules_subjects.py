"""RULES.md §1: subject-type or not (DISGUISED_SUBJECT, CATEGORY_OUTSIDE_LICENSE)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..support.factories import Factory
from ..support.rules import only, run, subjects, world
from ..support.settings import with_policy


def test_a_non_subject_course_teaching_math_is_a_high_disguised_subject(db: Session,
                                                                        make: Factory) -> None:
    w = world(make)
    disguised = w.course_like(category="non_subject", subject="math", name="趣味益智")
    findings = run(db, "DISGUISED_SUBJECT")
    assert subjects(findings) == {str(disguised.id)}
    finding = only(findings, disguised.id)
    assert finding.severity == "high"
    assert finding.subject_type == "course"
    assert finding.evidence["basis"] == "subject"
    assert finding.institution_id == w.institution.id


def test_a_non_subject_course_whose_name_hits_a_keyword_is_a_low_review_finding(
        db: Session, make: Factory) -> None:
    w = world(make)
    named = w.course_like(category="non_subject", subject="stem", name="少儿奥数思维训练")
    plain = w.course_like(category="non_subject", subject="stem", name="机器人编程")
    findings = run(db, "DISGUISED_SUBJECT")
    assert subjects(findings) == {str(named.id)}
    finding = only(findings, named.id)
    assert finding.severity == "low"
    assert finding.evidence["keywords"] == ["奥数", "思维"]
    assert str(plain.id) not in subjects(findings)


def test_disguise_is_judged_for_grades_one_to_nine_and_not_for_declared_subject_courses(
        db: Session, make: Factory) -> None:
    w = world(make)
    senior = w.course_like(category="non_subject", subject="math", grade_min=10, grade_max=12)
    declared = w.course_like(category="subject", subject="math", name="数学同步提分")
    grade_nine = w.course_like(category="non_subject", subject="math", grade_min=9,
                               grade_max=10)
    found = subjects(run(db, "DISGUISED_SUBJECT"))
    assert found == {str(grade_nine.id)}
    assert senior.id and declared.id


def test_the_keyword_list_comes_from_config(db: Session, make: Factory) -> None:
    w = world(make)
    course = w.course_like(category="non_subject", subject="stem", name="科学实验课")
    assert run(db, "DISGUISED_SUBJECT") == []
    db.info["settings"] = with_policy(db.info["settings"], "rules",
                                      disguised_subject_keywords=["科学"])
    assert subjects(run(db, "DISGUISED_SUBJECT")) == {str(course.id)}


def test_a_keyword_with_like_wildcards_matches_only_literally(db: Session,
                                                              make: Factory) -> None:
    w = world(make)
    course = w.course_like(category="non_subject", subject="stem", name="百分之百_编程")
    db.info["settings"] = with_policy(db.info["settings"], "rules",
                                      disguised_subject_keywords=["%", "1_0"])

    assert run(db, "DISGUISED_SUBJECT") == []
    assert course.id


def test_a_subject_course_at_a_non_subject_institution_is_high(db: Session,
                                                               make: Factory) -> None:
    w = world(make, institution={"category": "non_subject", "nonprofit_registration_no": None})
    math = w.course  # category subject, subject math
    disguised = w.course_like(category="non_subject", subject="english", name="英语角")
    art = w.course_like(category="non_subject", subject="art", name="少儿美术")
    findings = run(db, "CATEGORY_OUTSIDE_LICENSE")
    assert subjects(findings) == {str(math.id), str(disguised.id)}
    assert only(findings, math.id).severity == "high"
    assert str(art.id) not in subjects(findings)


def test_a_subject_course_at_a_subject_institution_is_within_its_licence(db: Session,
                                                                         make: Factory) -> None:
    world(make)
    assert run(db, "CATEGORY_OUTSIDE_LICENSE") == []
