"""Cédula de identidad: check digit, parsing, error paths, property-style checks over random bodies."""

import pickle
import random

import pytest

from entramado.identity.standardise import (
    Cedula,
    StandardisationError,
    cedula_check_digit,
    format_cedula,
    parse_cedula,
)

# Worked by hand (weights 2, 9, 8, 7, 6, 3, 4 over the body padded to 7 digits; check = (10 - sum % 10) % 10):
#
#   1.234.567-2  1*2 + 2*9 + 3*8 + 4*7 + 5*6 + 6*3 + 7*4 = 2 + 18 + 24 + 28 + 30 + 18 + 28 = 148
#                148 % 10 = 8; (10 - 8) % 10 = 2                           -> check digit 2: valid
#   4.153.386-?  4*2 + 1*9 + 5*8 + 3*7 + 3*6 + 8*3 + 6*4 = 8 + 9 + 40 + 21 + 18 + 24 + 24 = 144
#                144 % 10 = 4; (10 - 4) % 10 = 6                           -> 4.153.386-6; so -5 is NOT valid
#   823.456-?    padded 0823456: 0*2 + 8*9 + 2*8 + 3*7 + 4*6 + 5*3 + 6*4 = 0 + 72 + 16 + 21 + 24 + 15 + 24 = 172
#                172 % 10 = 2; (10 - 2) % 10 = 8                           -> 823.456-8
#   1.000.002-?  1*2 + 0 + 0 + 0 + 0 + 0 + 2*4 = 10; 10 % 10 = 0; (10 - 0) % 10 = 0
#                                                                          -> 1.000.002-0 (the outer mod 10 matters)


@pytest.mark.parametrize(
    ("body", "check"),
    [(1234567, 2), (4153386, 6), (823456, 8), (1000002, 0), ("0823456", 8), ("823456", 8)],
)
def test_check_digit_by_hand(body: int | str, check: int) -> None:
    assert cedula_check_digit(body) == check


@pytest.mark.parametrize("body", [12345678, -1, "12a4567", "", "1234 567"])
def test_check_digit_rejects_bad_bodies(body: int | str) -> None:
    with pytest.raises(ValueError, match="a cédula body is 1 to 7 digits"):
        cedula_check_digit(body)


def test_known_cedulas() -> None:
    assert parse_cedula("1.234.567-2") == Cedula(1234567, 2, True)
    assert parse_cedula("4.153.386-6") == Cedula(4153386, 6, True)
    # The brief's 4.153.386-5 is well formed but its check digit is wrong: kept, flagged.
    assert parse_cedula("4.153.386-5") == Cedula(4153386, 5, False)
    assert parse_cedula("823.456-8") == Cedula(823456, 8, True)
    assert parse_cedula("1.000.002-0").valid


@pytest.mark.parametrize(
    "text",
    [
        "1.234.567-2",
        "12345672",
        "1234567 2",
        "1234567-2",
        " 1.234.567 - 2 ",
        "1 234 567 2",
        "1.234.567 2",
        "01.234.567-2",
        "C.I. 1.234.567-2",
        "CI 12345672",
        "c.i. n\u00ba 1.234.567-2",
        "CI: 1234567-2",
        "1.234.567\u20132",  # en dash
        "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff12",  # full-width digits
    ],
)
def test_accepted_spellings(text: str) -> None:
    cedula = parse_cedula(text)
    assert (cedula.body, cedula.check_digit, cedula.valid) == (1234567, 2, True)
    assert str(cedula) == "1.234.567-2"
    assert cedula.digits == "12345672"


def test_six_digit_body_is_padded() -> None:
    cedula = parse_cedula("823456-8")
    assert str(cedula) == "823.456-8"
    assert cedula.digits == "08234568"
    assert parse_cedula("0823456-8") == cedula


def test_format_cedula() -> None:
    assert format_cedula(1234567) == "1.234.567-2"
    assert format_cedula(1234567, 9) == "1.234.567-9"
    assert format_cedula(823456) == "823.456-8"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("1234A672", "contains letters (A); a cédula has only digits, dots, spaces and a hyphen"),
        ("1.234.567-X", "contains letters (X); a cédula has only digits, dots, spaces and a hyphen"),
        ("1,234,567-2", "contains ','; a cédula has only digits, dots, spaces and a hyphen"),
        ("1234567/2", "contains '/'; a cédula has only digits, dots, spaces and a hyphen"),
        ("123456789", "has 9 digits; a cédula has a body of 6 to 7 digits plus one check digit"),
        ("12.345.678-9", "has 9 digits; a cédula has a body of 6 to 7 digits plus one check digit"),
        ("12345", "has 5 digits; a cédula has a body of 6 to 7 digits plus one check digit"),
        ("1.234.567-22", "after the hyphen comes one check digit, not '22'"),
        ("1.234-567.2", "after the hyphen comes one check digit, not '567.2'"),
        ("1.234.567-", "has nothing after the hyphen, where the check digit goes"),
        ("-2", "has no digits before the check digit"),
        ("0.000.000-0", "has a body of zeros"),
        ("...", "has no digits"),
    ],
)
def test_malformed_cedulas(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        parse_cedula(text)
    assert info.value.field == "cedula"
    assert info.value.value == text
    assert info.value.reason == reason
    assert str(info.value) == f"cedula {text!r}: {reason}"


def test_min_body_digits_is_configurable() -> None:
    assert parse_cedula("12345-6", min_body_digits=5).body == 12345
    with pytest.raises(StandardisationError, match="body of 6 to 7 digits"):
        parse_cedula("12345-6")


def test_error_pickles_and_truncates_long_values() -> None:
    error = StandardisationError("cedula", "x" * 200, "too long")
    assert str(error) == f"cedula {'x' * 77 + '...'!r}: too long"
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, made on the line before
    assert (copy.field, copy.value, copy.reason, str(copy)) == (error.field, error.value, error.reason, str(error))
    assert isinstance(copy, ValueError)


def _spellings(body: int, check: int) -> list[str]:
    dotted = format_cedula(body, check)
    return [dotted, f"{body}{check}", f"{body} {check}", f"{body}-{check}", dotted.replace("-", " ")]


def test_generated_cedulas_always_validate() -> None:
    rng = random.Random(20250101)
    for _ in range(5000):
        body = rng.randrange(1, 10_000_000)
        check = cedula_check_digit(body)
        for text in _spellings(body, check):
            cedula = parse_cedula(text, min_body_digits=1)
            assert cedula == Cedula(body, check, True), text


def test_any_other_check_digit_is_flagged() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        body = rng.randrange(100_000, 10_000_000)
        good = cedula_check_digit(body)
        wrong = rng.choice([d for d in range(10) if d != good])
        cedula = parse_cedula(format_cedula(body, wrong))
        assert (cedula.body, cedula.check_digit, cedula.valid) == (body, wrong, False)


def test_single_digit_errors_under_odd_weights_are_always_caught() -> None:
    # Weights 9, 7 and 3 are coprime with 10, so changing the digit under them always changes the check digit;
    # under the even weights a change of exactly 5 goes unnoticed (2*5, 8*5, 6*5, 4*5 are multiples of 10).
    rng = random.Random(11)
    odd_positions, even_positions = (1, 3, 5), (0, 2, 4, 6)
    for _ in range(2000):
        body = f"{rng.randrange(1_000_000, 10_000_000)}"
        check = cedula_check_digit(body)
        i = rng.choice(odd_positions)
        changed = body[:i] + rng.choice([d for d in "0123456789" if d != body[i]]) + body[i + 1 :]
        assert not parse_cedula(f"{changed}-{check}").valid
        j = rng.choice(even_positions)
        shifted = body[:j] + str((int(body[j]) + 5) % 10) + body[j + 1 :]
        if shifted[0] != "0":  # a leading zero would shorten the body
            assert parse_cedula(f"{shifted}-{check}").valid


def test_the_plain_reading_agrees_with_the_general_one() -> None:
    # Digits, dots and hyphens from the first character take a shorter path; a leading space sends the same value
    # down the general one (which removes it).
    rng = random.Random(5)
    for _ in range(20_000):
        text = rng.choice("123456789") + "".join(rng.choice("0123456789..--") for _ in range(rng.randint(0, 11)))
        for min_body_digits in (6, 1):
            try:
                plain: Cedula | str = parse_cedula(text, min_body_digits=min_body_digits)
            except StandardisationError as error:
                plain = error.reason
            try:
                general: Cedula | str = parse_cedula(" " + text, min_body_digits=min_body_digits)
            except StandardisationError as error:
                general = error.reason
            assert plain == general, text
