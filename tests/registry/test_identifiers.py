"""Resident ID numbers (GB 11643-1999) and USCCs (GB 32100-2015), checked against the standards.

Every expected answer here is typed from the standards or from real published numbers, or
computed by the small implementations below, written out from the standards' tables; none
comes from supervision.identifiers, so a shared mistake (the old one: stdnum's
ric.calc_check_digit given 17 characters, refusing ~10 of every 11 real numbers) cannot hide.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervision import clock
from supervision.identifiers import (
    fake_id_number,
    fake_uscc,
    hash_id_number,
    id_number_error,
    mask_id_number,
    uscc_error,
)

# GB 11643-1999 §8.2, typed from the standard's table: W_i for positions 1..17 and the check
# character for each value of (sum of a_i * W_i) mod 11.
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RIC_CHECKS = "10X98765432"

# GB 32100-2015 §4 and appendix: the 31-character alphabet (no I, O, Z, S, V) and weights.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def ric_check(body: str) -> str:
    assert len(body) == 17 and body.isdigit()
    return RIC_CHECKS[sum(int(c) * w for c, w in zip(body, RIC_WEIGHTS, strict=True)) % 11]


def uscc_check(body: str) -> str:
    assert len(body) == 17
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


TODAY = dt.date(2025, 6, 15)


def _other_checks(right: str) -> list[str]:
    return [c for c in "0123456789X" if c != right]


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    # The birth-date bound reads clock.today(); pinned (to a date already past, so that a
    # validator reading the wall clock instead would be caught) no test depends on the date.
    monkeypatch.setattr(clock, "today", lambda: TODAY)


# --- resident ID numbers -------------------------------------------------------------------

def test_the_independent_check_agrees_with_the_standards_own_examples() -> None:
    # Guards the helper the other tests rely on.
    assert ric_check("11010519491231002") == "X"
    assert ric_check("44052418800101001") == "4"


@pytest.mark.parametrize("number", [
    "11010519491231002X",  # GB 11643-1999's example (北京市朝阳区, 1949-12-31)
    "440524188001010014",  # the other example cited with the standard (1880-01-01)
])
def test_the_standards_examples_are_accepted(number: str) -> None:
    assert id_number_error(number) is None


def test_a_lower_case_x_is_the_same_number() -> None:
    assert id_number_error("11010519491231002x") is None
    assert id_number_error(" 11010519491231002X ") is None
    assert hash_id_number("11010519491231002x", "k") == hash_id_number("11010519491231002X", "k")
    assert mask_id_number("11010519491231002x") == "1101**********002X"


# One body per check character: each of the 11 classes must be accepted (the old validator
# took roughly one class in eleven). Bodies are ordinary numbers from several regions.
_BODIES = ["11010519491231002", "44052418800101001", "32021319800101123",
           "32021319751120004", "31011519900307281", "51010719881212356",
           "32010219650815041", "21020219921030152", "32021319800520201",
           "43010219700101111", "37020219830417062", "35010219990909333",
           "32028219761201005", "62010220000229010", "32021320100630987",
          "11010518500101001"]


def _body_for_each_check_character() -> dict[str, str]:
    found: dict[str, str] = {}
    for body in _BODIES:
        found.setdefault(ric_check(body), body)
    # Fill any class the list above misses by walking the last serial digits of one body.
    base = "32021319800101"
    for n in range(1000):
        body = f"{base}{n:03d}"
        found.setdefault(ric_check(body), body)
    return found


def test_numbers_with_every_check_character_are_accepted() -> None:
    bodies = _body_for_each_check_character()
    assert sorted(bodies) == sorted("0123456789X")
    for check, body in bodies.items():
        assert id_number_error(body + check) is None, body + check


@pytest.mark.parametrize("body", _BODIES)
def test_every_wrong_check_character_is_refused(body: str) -> None:
    for wrong in _other_checks(ric_check(body)):
        assert id_number_error(body + wrong) == "the check character is wrong", body + wrong


def test_a_liangxi_region_code_with_a_1980_birth_date_is_accepted() -> None:
    # 梁溪区 (320213) was created in 2015; people born there earlier carry the code now,
    # which stdnum's ric.validate would refuse.
    body = "32021319800101123"
    assert id_number_error(body + ric_check(body)) is None


@pytest.mark.parametrize("date_part", ["19490230", "19491301", "19490000", "20230229",
                                       "18491231", "20250616"])
def test_bad_or_out_of_range_birth_dates_are_refused(date_part: str) -> None:
    body = f"110105{date_part}002"
    problem = id_number_error(body + ric_check(body))
    assert problem in {"the birth date is not a real date", "the birth date is out of range"}


def test_someone_born_today_is_accepted_and_tomorrow_is_not() -> None:
    today, tomorrow = "11010520250615002", "11010520250616002"
    assert id_number_error(today + ric_check(today)) is None
    assert id_number_error(tomorrow + ric_check(tomorrow)) == "the birth date is out of range"


def test_a_leap_day_birth_date_is_accepted() -> None:
    body = "62010220000229010"
    assert id_number_error(body + ric_check(body)) is None


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002XX",
                                   "1101051949123100XX", "11010519491231002Y",
                                   "A1010519491231002X", "１１010519491231002X",
                                   "1²010519491231002X", ""])
def test_malformed_numbers_are_refused(number: str) -> None:
    assert id_number_error(number) == "must be 17 digits and a check character (digit or X)"


_valid_birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)


@given(region=st.from_regex(r"[1-9][0-9]{5}", fullmatch=True), born=_valid_birth_dates,
       serial=st.integers(0, 999), other=st.sampled_from("0123456789X"))
def test_any_body_with_a_real_date_takes_exactly_its_own_check_character(
        region: str, born: dt.date, serial: int, other: str) -> None:
    body = f"{region}{born:%Y%m%d}{serial:03d}"
    right = ric_check(body)
    assert id_number_error(body + right) is None
    if other != right:
        assert id_number_error(body + other) == "the check character is wrong"


def test_the_demo_generators_numbers_pass_the_independent_check() -> None:
    rng = random.Random(7)
    numbers = [fake_id_number(rng) for _ in range(500)]
    numbers.append(fake_id_number(rng, region="320213", born=dt.date(1985, 3, 4)))
    assert all(n[17] == ric_check(n[:17]) for n in numbers)
    assert all(id_number_error(n) is None for n in numbers)
    # Drawn evenly over bodies, they land in every class: none is favoured by the generator.
    assert {n[17] for n in numbers} == set("0123456789X")


# --- unified social credit codes -----------------------------------------------------------

@pytest.mark.parametrize("code", [
    "91350100M000100Y43",  # GB 32100-2015's own example
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91110000710926094P",  # 中国石油化工股份有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
    "91330100716105852F",  # 阿里巴巴（中国）有限公司
])
def test_real_published_usccs_are_accepted(code: str) -> None:
    assert uscc_check(code[:17]) == code[17]  # the independent implementation agrees
    assert uscc_error(code) is None


@pytest.mark.parametrize("code", ["91350100M000100Y43", "914403001922038216",
                                  "91440300708461136T"])
def test_every_wrong_uscc_check_character_is_refused(code: str) -> None:
    for wrong in USCC_ALPHABET:
        if wrong != code[17]:
            assert uscc_error(code[:17] + wrong) is not None, code[:17] + wrong


def test_the_demo_generators_usccs_pass_the_independent_check() -> None:
    rng = random.Random(11)
    codes = [fake_uscc(rng, nonprofit=n % 2 == 0) for n in range(300)]
    assert all(c[17] == uscc_check(c[:17]) and uscc_error(c) is None for c in codes)
    assert {c[:2] for c in codes} == {"52", "91"}
