"""Dates in the formats agencies use, impossible dates, day/month ambiguity."""

from datetime import date

import pytest

from entramado.identity.standardise import ParsedDate, StandardisationError, parse_date


@pytest.mark.parametrize(
    ("text", "expected", "fmt"),
    [
        ("03/03/1980", date(1980, 3, 3), "DMY"),
        ("3/3/1980", date(1980, 3, 3), "DMY"),
        ("25/12/1975", date(1975, 12, 25), "DMY"),
        ("25-12-1975", date(1975, 12, 25), "DMY"),
        ("25.12.1975", date(1975, 12, 25), "DMY"),
        (" 25 / 12 / 1975 ", date(1975, 12, 25), "DMY"),
        ("1975-12-25", date(1975, 12, 25), "ISO"),
        ("1975/12/25", date(1975, 12, 25), "ISO"),
        ("1975-12-25 00:00:00", date(1975, 12, 25), "ISO"),
        ("1975-12-25T00:00:00.000-03:00", date(1975, 12, 25), "ISO"),
        ("25121975", date(1975, 12, 25), "DMY_COMPACT"),
        ("3 de marzo de 1980", date(1980, 3, 3), "TEXT_ES"),
        ("3 DE MARZO DE 1980", date(1980, 3, 3), "TEXT_ES"),
        ("3 marzo 1980", date(1980, 3, 3), "TEXT_ES"),
        ("03-MAR-1980", date(1980, 3, 3), "TEXT_ES"),
        ("3 mar. 1980", date(1980, 3, 3), "TEXT_ES"),
        ("1\u00ba de enero de 2000", date(2000, 1, 1), "TEXT_ES"),
        ("1ro de enero del 2000", date(2000, 1, 1), "TEXT_ES"),
        ("15 de setiembre de 1990", date(1990, 9, 15), "TEXT_ES"),
        ("15 de septiembre de 1990", date(1990, 9, 15), "TEXT_ES"),
        ("15 de Setiembre de 1990", date(1990, 9, 15), "TEXT_ES"),
        ("29 de febrero de 2000", date(2000, 2, 29), "TEXT_ES"),
    ],
)
def test_formats(text: str, expected: date, fmt: str) -> None:
    parsed = parse_date(text, pivot=25)
    assert parsed.value == expected
    assert parsed.format == fmt


@pytest.mark.parametrize(
    ("text", "pivot", "expected"),
    [
        ("3/3/80", 25, date(1980, 3, 3)),
        ("3/3/05", 25, date(2005, 3, 3)),
        ("3/3/25", 25, date(2025, 3, 3)),  # YY == pivot is this century
        ("3/3/26", 25, date(1926, 3, 3)),
        ("3/3/26", 30, date(2026, 3, 3)),
        ("31/12/99", 0, date(1999, 12, 31)),
        ("1/1/00", 0, date(2000, 1, 1)),
        ("3 mar 80", 25, date(1980, 3, 3)),
    ],
)
def test_two_digit_years_use_the_pivot(text: str, pivot: int, expected: date) -> None:
    assert parse_date(text, pivot=pivot).value == expected


def test_default_pivot_is_the_current_year() -> None:
    this_year = date.today().year % 100
    assert parse_date(f"1/1/{this_year:02d}").value.year == date.today().year
    assert parse_date(f"1/1/{(this_year + 1) % 100:02d}").value.year == date.today().year + 1 - 100


@pytest.mark.parametrize(
    ("text", "ambiguous", "swapped"),
    [
        ("03/04/1980", True, date(1980, 3, 4)),
        ("12/01/1980", True, date(1980, 12, 1)),
        ("1980-04-03", True, date(1980, 3, 4)),
        ("03041980", True, date(1980, 3, 4)),
        ("03/03/1980", False, None),  # swapping gives the same date
        ("13/04/1980", False, None),  # 13 cannot be a month
        ("3 de abril de 1980", False, None),  # the month is a word
    ],
)
def test_day_month_ambiguity(text: str, ambiguous: bool, swapped: date | None) -> None:
    parsed = parse_date(text, pivot=25)
    assert parsed.day_month_ambiguous is ambiguous
    assert parsed.swapped() == swapped


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("31/04/1980", "April 1980 has 30 days, not 31"),
        ("31/06/2001", "June 2001 has 30 days, not 31"),
        ("32/01/1980", "January 1980 has 31 days, not 32"),
        ("29/02/1981", "1981 is not a leap year: February 1981 has 28 days"),
        ("29/02/1900", "1900 is not a leap year: February 1900 has 28 days"),
        ("30/02/2000", "February 2000 has 29 days, not 30"),
        ("00/01/1980", "day 0 does not exist"),
        ("13/13/1980", "month 13 does not exist"),
        ("1980-13-01", "month 13 does not exist"),
        ("01/00/1980", "month 0 does not exist"),
        ("0000-01-01", "year 0 is out of range"),
        ("31041980", "April 1980 has 30 days, not 31"),
        ("3 de marzzo de 1980", "has an unknown month name 'MARZZO'"),
        (
            "03/1980",
            "does not match any accepted format (DD/MM/YYYY or D/M/YYYY, YYYY-MM-DD, D/M/YY, DDMMYYYY, "
            "'3 de marzo de 1980')",
        ),
        (
            "03/03-1980",
            "does not match any accepted format (DD/MM/YYYY or D/M/YYYY, YYYY-MM-DD, D/M/YY, DDMMYYYY, "
            "'3 de marzo de 1980')",
        ),
    ],
)
def test_impossible_or_unreadable_dates(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        parse_date(text, pivot=25)
    assert (info.value.field, info.value.value, info.value.reason) == ("date", text, reason)
    assert str(info.value) == f"date {text!r}: {reason}"


def test_field_name_is_configurable() -> None:
    with pytest.raises(StandardisationError, match=r"^birth_date '31/04/1980': April 1980 has 30 days, not 31$"):
        parse_date("31/04/1980", field="birth_date")


def test_bounds() -> None:
    today = date(2025, 6, 1)
    assert parse_date("01/06/2025", not_after=today).value == today
    with pytest.raises(StandardisationError) as info:
        parse_date("02/06/2025", not_after=today)
    assert info.value.reason == "2025-06-02 is after the latest accepted date 2025-06-01"
    with pytest.raises(StandardisationError) as info:
        parse_date("31/12/1849", not_before=date(1850, 1, 1))
    assert info.value.reason == "1849-12-31 is before the earliest accepted date 1850-01-01"


def test_formats_are_restricted_and_ordered() -> None:
    with pytest.raises(StandardisationError, match="does not match any accepted format \\(YYYY-MM-DD\\)"):
        parse_date("03/03/1980", ["ISO"])
    # MDY and YMD_COMPACT are opt-in; when both DMY and MDY are offered the first that yields a date wins.
    assert parse_date("04/03/1980", ["MDY"]).value == date(1980, 4, 3)
    assert parse_date("04/03/1980", ["DMY", "MDY"]).value == date(1980, 3, 4)
    assert parse_date("12/31/1980", ["DMY", "MDY"]) == ParsedDate(date(1980, 12, 31), "MDY", False)
    assert parse_date("19800304", ["YMD_COMPACT"]).value == date(1980, 3, 4)
    assert parse_date("19800304", ["DMY_COMPACT", "YMD_COMPACT"]).format == "YMD_COMPACT"
    # When no format yields a date, the first precise error is the one raised.
    with pytest.raises(StandardisationError) as info:
        parse_date("31/13/1980", ["DMY", "MDY"])
    assert info.value.reason == "month 13 does not exist"


def test_unknown_format_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown date formats \\['DD/MM'\\]"):
        parse_date("03/03/1980", ["DD/MM"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown date formats"):
        parse_date("03/03/1980", [])
