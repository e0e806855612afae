"""Teachers (从业人员): ID numbers reduced to a hash and a mask, certificates checked."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from supervision import registry
from supervision.errors import Invalid, NotFound
from supervision.identifiers import hash_id_number, mask_id_number
from supervision.models import Teacher

from ..support.factories import Factory
from ..support.parties import acting_as
from ..support.registry_bodies import audit_count, count, new_cert_no, new_id_number, teacher_body

API = "/api/v1"


def _hash(db: Session, number: str) -> str:
    return hash_id_number(number, db.info["settings"].id_hash_key
)


# --- services ------------------------------------------------------------------------------

def test_a_teacher_keeps_only_the_hash_and_the_mask_of_the_id_number(db: Session,
                                                                     make: Factory) -> None:
    inst = make.institution()
    number = new_id_number()
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        teacher = registry.register_teacher(db, actor, teacher_body(id_number=number))
    assert teacher.id_number_hash == _hash(db, number)
    assert teacher.id_number_masked == mask_id_number(number)
    assert number not in {str(v) for v in vars(teacher).values()}


def test_the_same_person_at_two_institutions_has_the_same_hash(db: Session,
                                                               make: Factory) -> None:
    number = new_id_number()
    one, two = make.institution(), make.institution()
    with acting_as(db, "regulator") as actor:
        a = registry.register_teacher(db, actor, teacher_body(id_number=number,
                                                              institution_id=one.id))
        b = registry.register_teacher(db, actor, teacher_body(id_number=number.lower(),
                                                              institution_id=two.id))
    assert a.id != b.id and a.id_number_hash == b.id_number_hash


def test_a_wrong_id_check_digit_is_refused_naming_id_number(db: Session,
                                                            make: Factory) -> None:
    inst = make.institution()
    number = new_id_number()
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    with acting_as(db, "institution",
                   institution_id=inst.id) as actor, pytest.raises(Invalid) as caught:
        registry.register_teacher(db, actor, teacher_body(id_number=wrong))
    assert set(caught.value.errors) == {"id_number"}


def test_a_region_created_after_the_birth_date_is_still_accepted(db: Session,
                                                                 make: Factory) -> None:
    # 梁溪区 (320213) was created in 2015; people born there earlier carry the code now.
    # Typed, check character worked out by hand from GB 11643's weights (sum 212, mod 11 = 3 → 9).
    number = "320213198503041239"
    inst = make.institution()
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        assert registry.register_teacher(db, actor, teacher_body(id_number=number)).id


def test_cert_level_is_derived_from_the_certificate_number(db: Session,
                                                           make: Factory) -> None:
    inst = make.institution()
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        teacher = registry.register_teacher(
            db, actor, teacher_body(qualification_cert_no=new_cert_no("2"), cert_level=None))
    assert teacher.cert_level == "primary"


def test_a_cert_level_that_disagrees_with_the_number_is_refused(db: Session,
                                                                make: Factory) -> None:
    inst = make.institution()
    with acting_as(db, "institution",
                   institution_id=inst.id) as actor, pytest.raises(Invalid) as caught:
        registry.register_teacher(
            db, actor, teacher_body(qualification_cert_no=new_cert_no("2"), cert_level="senior"))
    assert set(caught.value.errors) == {"cert_level"}


@pytest.mark.parametrize("cert_no", ["2015321", "20153200081123456", "18003200031123456"])
def test_a_malformed_certificate_number_is_refused(db: Session, make: Factory,
                                                   cert_no: str) -> None:
    inst = make.institution()
    with acting_as(db, "institution",
                   institution_id=inst.id) as actor, pytest.raises(Invalid) as caught:
        registry.register_teacher(db, actor, teacher_body(qualification_cert_no=cert_no))
    assert "qualification_cert_no" in caught.value.errors


def test_an_institution_cannot_register_a_teacher_elsewhere(db: Session,
                                                            make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    with acting_as(db, "institution", institution_id=mine.id) as actor:
        own = registry.register_teacher(db, actor, teacher_body(institution_id=mine.id))
        with pytest.raises(Invalid) as caught:
            registry.register_teacher(db, actor, teacher_body(institution_id=theirs.id))
    assert own.institution_id == mine.id
    assert set(caught.value.errors) == {"institution_id"}


def test_a_regulator_must_name_an_institution_it_supervises(db: Session,
                                                            make: Factory) -> None:
    elsewhere = make.institution(district_code="320282")
    with acting_as(db, "regulator", district_code="320213") as actor:
        with pytest.raises(Invalid) as missing:
            registry.register_teacher(db, actor, teacher_body())
        with pytest.raises(Invalid) as outside:
            registry.register_teacher(db, actor, teacher_body(institution_id=elsewhere.id))
    assert "institution_id" in missing.value.errors
    assert "institution_id" in outside.value.errors


def test_changing_the_certificate_derives_the_level_again(db: Session, make: Factory) -> None:
    inst = make.institution()
    teacher = make.teacher(inst)
    assert teacher.cert_level == "senior"
    with acting_as(db, "institution", institution_id=inst.id) as actor:
        registry.update_teacher(db, actor, teacher.id, {"qualification_cert_no": new_cert_no("1")})
    assert teacher.cert_level == "kindergarten"


def test_changing_the_id_number_replaces_hash_and_mask(db: Session, make: Factory) -> None:
    inst = make.institution()
    teacher = make.teacher(inst)
    number = new_id_number()
    with acting_as(db, "regulator") as actor:
        registry.update_teacher(db, actor, teacher.id, {"id_number": number})
    assert teacher.id_number_hash == _hash(db, number)
    assert teacher.id_number_masked == mask_id_number(number)


def test_another_institutions_teacher_cannot_be_changed(db: Session, make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    teacher = make.teacher(theirs)
    with acting_as(db, "institution", institution_id=mine.id) as actor, pytest.raises(NotFound):
        registry.update_teacher(db, actor, teacher.id, {"name": "张老师"})


# --- HTTP ----------------------------------------------------------------------------------

def test_post_teacher_answers_201_with_the_masked_number_only(client: FlaskClient,
                                                              make: Factory) -> None:
    inst = make.institution()
    body = teacher_body(cert_level="junior")
    resp = client.post(f"{API}/teachers", json=body,
                       headers=make.headers("institution", institution=inst))
    assert resp.status_code == 201, resp.json
    assert "id_number" not in resp.json
    assert resp.json["id_number_masked"] == body["id_number"][:4] + "*" * 10 + \
        body["id_number"][-4:]
    assert body["id_number"] not in resp.get_data(as_text=True)
    assert resp.json["institution_id"] == inst.id
    assert resp.json["cert_level"] == "junior"
    assert resp.json["hired_on"] == "2026-02-01"


def test_post_teacher_takes_the_standards_own_example_number(client: FlaskClient,
                                                             make: Factory, db: Session) -> None:
    # GB 11643-1999's example, check character X: the old check refused it (and ~10 in 11).
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    resp = client.post(f"{API}/teachers", json=teacher_body(id_number="11010519491231002X"),
                       headers=headers)
    assert resp.status_code == 201, resp.json
    assert resp.json["id_number_masked"] == "1101**********002X"
    teacher = db.get(Teacher, resp.json["id"])
    assert teacher is not None and teacher.id_number_hash == _hash(db, "11010519491231002X")


def test_post_teacher_hashes_a_lower_case_x_as_the_upper_case_one(client: FlaskClient,
                                                                  make: Factory,
                                                                  db: Session) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    resp = client.post(f"{API}/teachers", json=teacher_body(id_number="11010519491231002x"),
                       headers=headers)
    assert resp.status_code == 201, resp.json
    assert resp.json["id_number_masked"] == "1101**********002X"
    teacher = db.get(Teacher, resp.json["id"])
    assert teacher is not None and teacher.id_number_hash == _hash(db, "11010519491231002X")


@pytest.mark.parametrize("number", ["110105194912310020", "110105194912310021",
                                    "440524188001010013", "320213198503041238"])
def test_post_teacher_refuses_a_real_number_with_a_wrong_check_character(
        client: FlaskClient, make: Factory, db: Session, number: str) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    before = (count(db, Teacher), audit_count(db))
    resp = client.post(f"{API}/teachers", json=teacher_body(id_number=number), headers=headers)
    assert resp.status_code == 422, resp.json
    assert list(resp.json["errors"]) == ["id_number"]
    assert (count(db, Teacher), audit_count(db)) == before


def test_a_regulator_posts_a_teacher_for_a_named_institution(client: FlaskClient,
                                                             make: Factory) -> None:
    inst = make.institution()
    headers = make.headers("regulator")
    resp = client.post(f"{API}/teachers", json=teacher_body(institution_id=inst.id),
                       headers=headers)
    assert resp.status_code == 201
    assert resp.json["institution_id"] == inst.id
    missing = client.post(f"{API}/teachers", json=teacher_body(), headers=headers)
    assert missing.status_code == 422 and "institution_id" in missing.json["errors"]


@pytest.mark.parametrize("change, field", [
    ({"id_number": "32021319850304123"}, "id_number"),
    ({"id_number": "320213198502301234"}, "id_number"),
    ({"id_number": 320213198503041234}, "id_number"),
    ({"qualification_cert_no": "2015"}, "qualification_cert_no"),
    ({"qualification_cert_no": "20153200031123456", "cert_level": "senior"}, "cert_level"),
    ({"cert_level": "university"}, "cert_level"),
    ({"background_check_status": "unknown"}, "background_check_status"),
    ({"employment": "intern"}, "employment"),
    ({"hired_on": "2026/02/01"}, "hired_on"),
    ({"is_inservice_school_teacher": "yes"}, "is_inservice_school_teacher"),
    ({"is_inservice_school_teacher": 1}, "is_inservice_school_teacher"),
    ({"id_number_hash": "00"}, "id_number_hash"),
    ({"id_number_masked": "3202**"}, "id_number_masked"),
])
def test_post_teacher_refuses_each_bad_field_and_writes_nothing(
        client: FlaskClient, make: Factory, db: Session, change: dict[str, object],
        field: str) -> None:
    inst = make.institution()
    headers = make.headers("institution", institution=inst)
    before = (count(db, Teacher), audit_count(db))
    resp = client.post(f"{API}/teachers", json=teacher_body(**change), headers=headers)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]
    assert (count(db, Teacher), audit_count(db)) == before


def test_an_institution_naming_another_institution_gets_422(client: FlaskClient,
                                                           make: Factory, db: Session) -> None:
    mine, theirs = make.institution(), make.institution()
    headers = make.headers("institution", institution=mine)
    before = count(db, Teacher)
    resp = client.post(f"{API}/teachers", json=teacher_body(institution_id=theirs.id),
                       headers=headers)
    assert resp.status_code == 422 and "institution_id" in resp.json["errors"]
    assert count(db, Teacher) == before


def test_the_teacher_list_filters_by_institution_within_scope(client: FlaskClient,
                                                              make: Factory) -> None:
    one, two = make.institution(), make.institution()
    t1, t2 = make.teacher(one), make.teacher(two)
    regulator = make.headers("regulator")
    listed = client.get(f"{API}/teachers?institution_id={one.id}", headers=regulator)
    assert [t["id"] for t in listed.json] == [t1.id]
    own = client.get(f"{API}/teachers", headers=make.headers("institution", institution=two))
    assert [t["id"] for t in own.json] == [t2.id]
    assert all("id_number" not in t for t in listed.json + own.json)


def test_get_and_patch_a_teacher(client: FlaskClient, make: Factory, db: Session) -> None:
    inst = make.institution()
    teacher = make.teacher(inst)
    headers = make.headers("institution", institution=inst)
    got = client.get(f"{API}/teachers/{teacher.id}", headers=headers)
    assert got.status_code == 200 and got.json["name"] == teacher.name
    patched = client.patch(f"{API}/teachers/{teacher.id}",
                           json={"background_check_status": "hit", "employment": "part_time"},
                           headers=headers)
    assert patched.status_code == 200
    assert patched.json["background_check_status"] == "hit"
    assert patched.json["employment"] == "part_time"
    before = audit_count(db)
    moved = client.patch(f"{API}/teachers/{teacher.id}", json={"institution_id": 1},
                         headers=headers)
    assert moved.status_code == 422 and "institution_id" in moved.json["errors"]
    nulled = client.patch(f"{API}/teachers/{teacher.id}", json={"hired_on": None},
                          headers=headers)
    assert nulled.status_code == 422
    mismatch = client.patch(f"{API}/teachers/{teacher.id}",
                            json={"qualification_cert_no": new_cert_no("2"),
                                  "cert_level": "senior"}, headers=headers)
    assert mismatch.status_code == 422 and "cert_level" in mismatch.json["errors"]
    assert audit_count(db) == before


def test_another_institutions_teacher_is_404(client: FlaskClient, make: Factory) -> None:
    mine, theirs = make.institution(), make.institution()
    teacher = make.teacher(theirs)
    headers = make.headers("institution", institution=mine)
    assert client.get(f"{API}/teachers/{teacher.id}", headers=headers).status_code == 404
    assert client.patch(f"{API}/teachers/{teacher.id}", json={"name": "x"},
                        headers=headers).status_code == 404


@pytest.mark.parametrize("method, path", [("get", "/teachers"), ("post", "/teachers"),
                                          ("get", "/teachers/1"), ("patch", "/teachers/1")])
def test_parents_may_not_touch_teachers(client: FlaskClient, make: Factory, method: str,
                                        path: str) -> None:
    resp = getattr(client, method)(f"{API}{path}", json={}, headers=make.headers("parent"))
    assert resp.status_code == 403
