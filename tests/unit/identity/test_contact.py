"""Sex codes, phone numbers and e-mail addresses."""

import random

import pytest

from entramado.identity.standardise import (
    Phone,
    StandardisationError,
    normalise_email,
    normalise_sex,
    parse_phone,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("M", "M"),
        ("m", "M"),
        ("Masculino", "M"),
        ("MASC.", "M"),
        ("H", "M"),
        ("Hombre", "M"),
        ("Varón", "M"),
        ("VARON", "M"),
        ("V", "M"),
        ("1", "M"),
        ("F", "F"),
        ("Femenino", "F"),
        ("fem", "F"),
        ("Mujer", "F"),
        ("2", "F"),
        (" 2 ", "F"),
        ("", None),
        ("0", None),
        ("9", None),
        ("S/D", None),
        ("Sin dato", None),
        ("N/D", None),
        ("Indeterminado", None),
    ],
)
def test_sex_codes(value: str, expected: str | None) -> None:
    assert normalise_sex(value) == expected


def test_sex_hombre_mujer_scheme() -> None:
    # A source coding hombre/mujer as H/M: M is a woman there.
    assert normalise_sex("M", m_means="mujer") == "F"
    assert normalise_sex("H", m_means="mujer") == "M"
    assert normalise_sex("Masculino", m_means="mujer") == "M"


@pytest.mark.parametrize("value", ["X", "3", "Masculinoo", "otro"])
def test_unknown_sex_codes_raise(value: str) -> None:
    with pytest.raises(StandardisationError) as info:
        normalise_sex(value)
    assert info.value.field == "sex"
    assert info.value.reason == "is not a known sex code (M/F, masculino/femenino, H/hombre, mujer, varón, 1/2)"


@pytest.mark.parametrize(
    ("text", "e164", "kind", "national"),
    [
        ("099 123 456", "+59899123456", "mobile", "099 123 456"),
        ("099123456", "+59899123456", "mobile", "099 123 456"),
        ("99123456", "+59899123456", "mobile", "099 123 456"),
        ("091-234-567", "+59891234567", "mobile", "091 234 567"),
        ("+598 99 123 456", "+59899123456", "mobile", "099 123 456"),
        ("+598 (99) 123-456", "+59899123456", "mobile", "099 123 456"),
        ("00598 99123456", "+59899123456", "mobile", "099 123 456"),
        ("598 99 123 456", "+59899123456", "mobile", "099 123 456"),
        ("+598 099 123 456", "+59899123456", "mobile", "099 123 456"),  # stray domestic 0
        ("2908 1234", "+59829081234", "landline", "2908 1234"),
        ("29081234", "+59829081234", "landline", "2908 1234"),
        ("(02) 908 1234", "+59829081234", "landline", "2908 1234"),  # pre-2010 trunk prefix
        ("+598 2908 1234", "+59829081234", "landline", "2908 1234"),
        ("4722 1234", "+59847221234", "landline", "4722 1234"),
        ("+54 11 4123 4567", "+541141234567", "foreign", "+541141234567"),
        ("0055 51 9999 8888", "+555199998888", "foreign", "+555199998888"),
    ],
)
def test_phones(text: str, e164: str, kind: str, national: str) -> None:
    phone = parse_phone(text)
    assert (phone.e164, phone.kind, phone.extension, phone.national) == (e164, kind, None, national)


@pytest.mark.parametrize(
    ("text", "extension"),
    [
        ("2908 1234 int. 123", "123"),
        ("2908 1234 interno 45", "45"),
        ("2908 1234 Int 7", "7"),
        ("2908 1234 ext. 2001", "2001"),
        ("2908 1234 x12", "12"),
    ],
)
def test_phone_extensions(text: str, extension: str) -> None:
    assert parse_phone(text) == Phone("+59829081234", "landline", extension)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("099 ABC 456", "contains 'ABC'; a phone has digits, spaces and + - . ( )"),
        ("-", "has no digits"),
        ("099 123 456 / 2908 1234", "contains 2 numbers; give one per field"),
        ("099123456 y 099654321", "contains 2 numbers; give one per field"),
        (
            "9081234",
            "has 7 digits; a Uruguayan number has 8 (9 with the 0 of 09x mobiles); Montevideo numbers "
            "gained a leading 2 in 2010",
        ),
        ("0991234567", "has 10 digits; a Uruguayan number has 8 (9 with the 0 of 09x mobiles)"),
        ("+598 9912 34567", "has 9 digits after +598; Uruguayan numbers have 8 (e.g. +598 99 123 456)"),
        ("+598 2908 123", "has 7 digits after +598; Uruguayan numbers have 8 (e.g. +598 99 123 456)"),
        ("+1 234", "has 4 digits; an international number has 8 to 15"),
        ("090 123 456", "090 is not a mobile prefix; mobiles are 091 to 099"),
        (
            "0800 1234",
            "08001234 is neither a landline (2 or 4...) nor a mobile (09...); service numbers are not personal",
        ),
        (
            "3123 4567",
            "31234567 is neither a landline (2 or 4...) nor a mobile (09...); service numbers are not personal",
        ),
    ],
)
def test_phone_errors(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        parse_phone(text)
    assert (info.value.field, info.value.value, info.value.reason) == ("phone", text, reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("juan.perez@gmail.com", "juan.perez@gmail.com"),
        ("  Juan.Perez@Gmail.COM ", "juan.perez@gmail.com"),
        ("mailto:ana@adinet.com.uy", "ana@adinet.com.uy"),
        ("<ana@adinet.com.uy>", "ana@adinet.com.uy"),
        ("ana+bps@vera.com.uy", "ana+bps@vera.com.uy"),
        ("o'neill@example.org", "o'neill@example.org"),
        ("ana@gub.uy.", "ana@gub.uy"),
        ("ana@ñandú.uy", "ana@xn--and-6ma2c.uy"),
        ("j.p.gomez@sub.example.com.uy", "j.p.gomez@sub.example.com.uy"),
    ],
)
def test_emails(text: str, expected: str) -> None:
    assert normalise_email(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("mailto:", "is empty"),
        ("juan perez@gmail.com", "contains spaces"),
        ("juan.perez.gmail.com", "has no @"),
        ("juan@@gmail.com", "has more than one @"),
        ("@gmail.com", "has nothing before the @"),
        ("juan@", "has nothing after the @"),
        (
            "juan..perez@gmail.com",
            "has a badly formed local part (leading, trailing or double dot, or a character not allowed)",
        ),
        (
            ".juan@gmail.com",
            "has a badly formed local part (leading, trailing or double dot, or a character not allowed)",
        ),
        (
            "juan(perez)@gmail.com",
            "has a badly formed local part (leading, trailing or double dot, or a character not allowed)",
        ),
        (
            "josé@gmail.com",
            "has a badly formed local part (leading, trailing or double dot, or a character not allowed)",
        ),
        ("x" * 65 + "@gmail.com", "has a local part of 65 characters; the limit is 64"),
        ("juan@gmail", "has the domain 'gmail' without a dot"),
        ("juan@gmail..com", "has an invalid domain label ''"),
        ("juan@-gmail.com", "has an invalid domain label '-gmail'"),
        ("juan@gmail_uy.com", "has an invalid domain label 'gmail_uy'"),
        ("juan@10.0.0.1", "has a numeric top-level domain '1'"),
    ],
)
def test_email_errors(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        normalise_email(text)
    assert (info.value.field, info.value.reason) == ("email", reason)


def test_email_length_limit() -> None:
    domain = ".".join(["a" * 63] * 3) + ".uy"  # 3 * 63 + 2 dots + ".uy" = 194 characters
    at_limit = "x" * 59 + "@" + domain  # 59 + 1 + 194 = 254
    assert normalise_email(at_limit) == at_limit
    with pytest.raises(StandardisationError) as info:
        normalise_email("x" + at_limit)
    assert info.value.reason == "is 255 characters long; the limit is 254"


def test_the_plain_phone_reading_agrees_with_the_general_one() -> None:
    # ASCII digits, spaces and + - . ( ) take a shorter path; a leading tab sends the same value down the general one
    # (which turns it into nothing).
    rng = random.Random(9)
    for _ in range(20_000):
        text = "".join(rng.choice("0123456789999222+-.() ") for _ in range(rng.randint(1, 16)))
        try:
            plain: Phone | str = parse_phone(text)
        except StandardisationError as error:
            plain = error.reason
        try:
            general: Phone | str = parse_phone("\t" + text)
        except StandardisationError as error:
            general = error.reason
        assert plain == general, text
