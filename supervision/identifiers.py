"""Identifiers of RULES.md §6: USCC, resident ID numbers, teacher certificates. Pure functions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random

from stdnum.cn import uscc

from . import clock

# Certificate type digit (RULES.md §6) → the level it certifies.
CERT_TYPE_LEVEL = {"1": "kindergarten", "2": "primary", "3": "junior", "4": "senior",
                   "5": "vocational", "6": "vocational_practice", "7": "higher"}
# How high each certificate level reaches, in grades; senior and vocational count alike and
# a vocational-practice certificate never covers subject teaching.
LEVEL_MAX_GRADE = {"kindergarten": 0, "primary": 6, "junior": 9, "senior": 12,
                   "vocational": 12, "higher": 12, "vocational_practice": -1}


def uscc_error(number: str) -> str | None:
    """None when valid; otherwise why not. stdnum checks the 18th character only."""
    try:
        uscc.validate(number)
    except uscc.ValidationError as exc:
        return str(exc) or "invalid unified social credit code"
    return None


# GB 11643-1999 / ISO 7064 MOD 11-2: position i (0-based, of 17) weighs 2**(17-i) mod 11;
# written out here rather than taken from stdnum, whose ric.calc_check_digit wants the whole
# 18-character number and silently computes the wrong digit from a 17-character body.
_RIC_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
BIRTH_YEAR_MIN = 1850


def normalise_id_number(number: str) -> str:
    """The one spelling of an ID number: no surrounding blanks, check character 'X' upper case.

    A lower-case 'x' is the same person: validate, hash and mask this form only, so that
    '...002x' and '...002X' hash alike (and a roster hit is not missed over a letter's case).
    """
    return number.strip().upper()


def id_check_char(body: str) -> str:
    """The check character of a 17-digit body (ISO 7064 MOD 11-2; 10 is written 'X')."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError("the body must be 17 digits")
    check = (12 - sum(int(c) * w for c, w in zip(body, _RIC_WEIGHTS, strict=True)) % 11) % 11
    return "X" if check == 10 else str(check)


def id_number_error(number: str) -> str | None:
    """GB 11643: 18 characters, a real birth date and the check character (ISO 7064 MOD 11-2).

    Takes the number as typed (blanks and a lower-case 'x' are normalised first). Not stdnum's
    ric.validate: it also rejects region codes created after the birth date, which refuses
    real people (梁溪区 320213 dates from 2015).
    """
    number = normalise_id_number(number)
    # isascii too: str.isdigit() also takes full-width and superscript digits.
    if len(number) != 18 or not number.isascii() or not number[:17].isdigit() or not (
            number[17].isdigit() or number[17] == "X"):
        return "must be 17 digits and a check character (digit or X)"
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "the birth date is not a real date"
    # Real dates only, none in the future; the floor just catches typos, and sits below
    # 1880 because GB 11643's own example (440524188001010014) is born on 1880-01-01.
    if born.year < BIRTH_YEAR_MIN or born > clock.today():
        return "the birth date is out of range"
    if id_check_char(number[:17]) != number[17]:
        return "the check character is wrong"
    return None


def mask_id_number(number: str) -> str:
    number = normalise_id_number(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def hash_id_number(number: str, key: str) -> str:
    """A keyed hash: tells the same person apart from others without storing the number."""
    return hmac.new(key.encode(), normalise_id_number(number).encode(),
                    hashlib.sha256).hexdigest()


def cert_error(cert_no: str) -> str | None:
    if len(cert_no) != 17 or not cert_no.isdigit():
        return "must be 17 digits"
    if not 1950 <= int(cert_no[:4]) <= 2100:
        return "the year is out of range"
    if cert_no[9] not in CERT_TYPE_LEVEL:
        return "the type digit (10th) must be 1 to 7"
    return None


def cert_level(cert_no: str) -> str:
    return CERT_TYPE_LEVEL[cert_no[9]]


def cert_covers_grade(cert_no: str | None, grade: int) -> bool:
    if not cert_no or cert_error(cert_no):
        return False
    return LEVEL_MAX_GRADE[cert_level(cert_no)] >= grade


# --- Clearly fake identifiers for demos and tests (valid check characters, no real person) ---

def fake_uscc(rng: random.Random, *, nonprofit: bool = True, region: str = "320200") -> str:
    prefix = "52" if nonprofit else "91"
    body = prefix + region + "".join(rng.choice("0123456789") for _ in range(9))
    # Unlike ric's, stdnum's uscc.calc_check_digit takes the 17 characters without the check.
    return body + uscc.calc_check_digit(body)


def fake_id_number(rng: random.Random, *, region: str = "320213",
                   born: dt.date | None = None) -> str:
    born = born or dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(0, 12000))
    # Serial 9xx: a range our demo generator keeps to, easy to recognise as fake.
    body = f"{region}{born:%Y%m%d}9{rng.randrange(0, 100):02d}"
    return body + id_check_char(body)


def fake_cert_no(rng: random.Random, *, type_digit: str = "3", year: int = 2015) -> str:
    return f"{year}32{rng.randrange(0, 1000):03d}{type_digit}{rng.randrange(1, 3)}" \
           f"{rng.randrange(0, 10**6):06d}"
