"""Text normalisation, surnames, full names, surname variants and keys, given-name keys."""

import random
import unicodedata

import pytest

from entramado.identity import standardise
from entramado.identity.standardise import (
    PersonName,
    StandardisationError,
    Surnames,
    canonical_surname,
    given_name_initials,
    given_name_key,
    normalise_text,
    parse_person_name,
    phonetic_key,
    split_surnames,
    surname_key,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("José Núñez", "JOSE NUNEZ"),
        ("  muñoz   de  la  peña \t", "MUNOZ DE LA PENA"),
        ("Güemes", "GUEMES"),
        ("O'Neill", "ONEILL"),
        ("O\u2019Neill", "ONEILL"),  # typographic apostrophe
        ("D'Alessandro", "DALESSANDRO"),
        ("'quoted'", "QUOTED"),
        ("García-Pintos", "GARCIA-PINTOS"),
        ("García\u2013Pintos", "GARCIA-PINTOS"),  # en dash between letters
        ("García--Pintos", "GARCIA-PINTOS"),
        ("García - Pintos", "GARCIA PINTOS"),  # a spaced hyphen is punctuation
        ("-Pérez-", "PEREZ"),
        ("Pérez, Juan (hijo).", "PEREZ JUAN HIJO"),
        ("Juan_Pérez", "JUAN PEREZ"),
        ("Stra\u00dfe \u00d8rsted \u0141\u00f3d\u017a \u00c6ther", "STRASSE ORSTED LODZ AETHER"),
        ("Ma\u00aa", "MAA"),  # ordinal indicator folds to a letter
        ("\uff2a\uff35\uff21\uff2e", "JUAN"),  # full-width letters
        ("Ana\u00a0Laura", "ANA LAURA"),  # no-break space
        ("Mar\u00adía", "MARIA"),  # soft hyphen
        ("", ""),
        ("  ., ", ""),
    ],
)
def test_normalise_text(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


def test_normalise_text_without_hyphens() -> None:
    assert normalise_text("Jean-Pierre García-Pintos", keep_hyphens=False) == "JEAN PIERRE GARCIA PINTOS"


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("Pérez De Los Santos", "PEREZ", "DE LOS SANTOS"),
        ("DE LOS SANTOS PEREZ", "DE LOS SANTOS", "PEREZ"),
        ("Da Silva Rodríguez", "DA SILVA", "RODRIGUEZ"),
        ("González Dos Santos", "GONZALEZ", "DOS SANTOS"),
        ("Martínez Del Río", "MARTINEZ", "DEL RIO"),
        ("Pérez de León", "PEREZ", "DE LEON"),
        ("Van Rompaey Techera", "VAN ROMPAEY", "TECHERA"),
        ("Da Silva Van Rompaey", "DA SILVA", "VAN ROMPAEY"),
        ("De La Fuente De Los Ríos", "DE LA FUENTE", "DE LOS RIOS"),
        ("Ponce de León Suárez", "PONCE DE LEON", "SUAREZ"),  # a known compound stays whole
        ("Pérez del Castillo Ferreira", "PEREZ DEL CASTILLO", "FERREIRA"),
        ("Suárez Ponce de León", "SUAREZ", "PONCE DE LEON"),
        ("Sáenz de Zumarán", "SAENZ DE ZUMARAN", None),
        ("García-Pintos O'Neill", "GARCIA-PINTOS", "ONEILL"),
        ("Pérez San Martín", "PEREZ", "SAN MARTIN"),
        ("Rodríguez", "RODRIGUEZ", None),
        ("Pérez De", "PEREZ DE", None),  # a dangling particle stays with its surname
        ("Pérez García López", "PEREZ", "GARCIA LOPEZ"),  # three units: the rest is the second
    ],
)
def test_split_surnames(text: str, first: str, second: str | None) -> None:
    assert split_surnames(text) == Surnames(first, second)


def test_split_surnames_with_extra_compounds() -> None:
    assert split_surnames("Ruiz Díaz Pérez") == Surnames("RUIZ", "DIAZ PEREZ")
    assert split_surnames("Ruiz Díaz Pérez", compounds={"RUIZ DIAZ"}) == Surnames("RUIZ DIAZ", "PEREZ")


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "is empty"), (" - ", "is empty"), ("Pérez 2", "contains digits (2); names have none")],
)
def test_split_surnames_errors(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        split_surnames(text)
    assert (info.value.field, info.value.reason) == ("surnames", reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Juan Pérez De Los Santos", PersonName("JUAN", "PEREZ", "DE LOS SANTOS")),
        ("PEREZ DE LOS SANTOS, JUAN PABLO", PersonName("JUAN PABLO", "PEREZ", "DE LOS SANTOS")),
        ("Pérez, Juan", PersonName("JUAN", "PEREZ", None)),
        ("Da Silva Van Rompaey, María-José", PersonName("MARIA JOSE", "DA SILVA", "VAN ROMPAEY")),
        ("Juan Pablo Pérez", PersonName("JUAN PABLO", "PEREZ", None)),
        ("Juan Pablo Pérez García", PersonName("JUAN PABLO", "PEREZ", "GARCIA")),
        ("María del Carmen Da Silva Van Rompaey", PersonName("MARIA DEL CARMEN", "DA SILVA", "VAN ROMPAEY")),
        ("María de los Ángeles Pérez", PersonName("MARIA DE LOS ANGELES", "PEREZ", None)),
        ("Ana Ponce de León Suárez", PersonName("ANA", "PONCE DE LEON", "SUAREZ")),
        ("Pedro Pérez De León", PersonName("PEDRO", "PEREZ", "DE LEON")),
        ("Washington Techera", PersonName("WASHINGTON", "TECHERA", None)),
        ("Juan Carlos", PersonName("JUAN", "CARLOS", None)),  # two units: a given name and a surname
        ("Xiomara Zzyzx Pérez García", PersonName("XIOMARA ZZYZX", "PEREZ", "GARCIA")),  # at most two surnames
    ],
)
def test_parse_person_name(text: str, expected: PersonName) -> None:
    assert parse_person_name(text) == expected


def test_parse_person_name_surnames_first() -> None:
    assert parse_person_name("Pérez De Los Santos Juan Pablo", surnames_first=True) == PersonName(
        "JUAN PABLO", "PEREZ", "DE LOS SANTOS"
    )
    assert parse_person_name("Pérez Juan Pablo", surnames_first=True) == PersonName("JUAN PABLO", "PEREZ", None)
    assert parse_person_name("Pérez Juan", surnames_first=True) == PersonName("JUAN", "PEREZ", None)


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("Juan", "name", "needs at least one given name and one surname"),
        ("", "name", "is empty"),
        ("Pérez, Juan, Pablo", "name", "has more than one comma; expected 'SURNAMES, GIVEN NAMES'"),
        ("Pérez,", "name", "needs surnames before the comma and given names after it"),
        (", Juan", "name", "needs surnames before the comma and given names after it"),
        ("Juan 2 Pérez", "name", "contains digits (2); names have none"),
        ("P3rez, Juan", "surnames", "contains digits (3); names have none"),
    ],
)
def test_parse_person_name_errors(text: str, field: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        parse_person_name(text)
    assert (info.value.field, info.value.reason) == (field, reason)


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("Pereyra", "PEREIRA"),
        ("Pereira", "PEREIRA"),
        ("Gonzales", "GONZALEZ"),
        ("González", "GONZALEZ"),
        ("Rodrigues", "RODRIGUEZ"),
        ("Albarez", "ALVAREZ"),
        ("Fernandes", "FERNANDEZ"),
        ("Nunes", "NUNEZ"),
        ("Núñez", "NUNEZ"),
        ("Vasquez", "VAZQUEZ"),
        ("Jiménez", "GIMENEZ"),
        ("Ximenez", "GIMENEZ"),
        ("Cardoso", "CARDOZO"),
        ("Oliveira", "OLIVERA"),
        ("Deleon", "DE LEON"),
        ("DaSilva", "DA SILVA"),
        ("Delossantos", "DE LOS SANTOS"),
        ("Pereyra Gonzales", "PEREIRA GONZALEZ"),
        ("García-Pereyra", "GARCIA-PEREIRA"),
        ("Silva", "SILVA"),  # not merged with DA SILVA: distinct families
        ("Da Silva", "DA SILVA"),
        ("Sosa", "SOSA"),  # not Souza
        ("", ""),
    ],
)
def test_canonical_surname(variant: str, canonical: str) -> None:
    assert canonical_surname(variant) == canonical


@pytest.mark.parametrize(
    "group",
    [
        ("Pereira", "Pereyra", "PEREIRA"),
        ("González", "Gonzales", "Gonsalez"),
        ("Rodríguez", "Rodrigues", "Rodrigez"),
        ("Álvarez", "Albarez", "Alvares"),
        ("Silva", "Da Silva", "Sylva"),
        ("De Los Santos", "Dos Santos", "Santos"),
        ("Jiménez", "Giménez", "Ximénez"),
        ("Vázquez", "Vasquez", "Bazquez"),
        ("Carvalho", "Carballo", "Carbayo"),
        ("Oliveira", "Olivera"),
        ("Hernández", "Ernandez"),
        ("Chávez", "Chaves"),
        ("Quiroga", "Kiroga"),
        ("Guerra", "Guera"),
    ],
)
def test_surname_key_groups_variants(group: tuple[str, ...]) -> None:
    keys = {surname_key(s) for s in group}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Sosa", "Souza"),
        ("Pérez", "Paz"),
        ("Castro", "Castillo"),
        ("Silva", "Sierra"),
        ("Chávez", "Cabrera"),
        ("Guerra", "Gerra"),  # soft G before E sounds like J
    ],
)
def test_surname_key_keeps_different_names_apart(a: str, b: str) -> None:
    assert surname_key(a) != surname_key(b)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("GONZALEZ", "GONSALES"),
        ("Pereira", "PERERA"),
        ("Álvarez", "ALBARES"),
        ("Carvalho", "KARBAIO"),
        ("Echeverría", "EXEBERIA"),
        ("Juan Pablo", "JUAN PABLO"),
        ("Guillermo", "GIERMO"),  # LL -> Y -> I, then II collapses
        ("Gimena", "JIMENA"),
        ("Washington", "BASINGTON"),
    ],
)
def test_phonetic_key(text: str, key: str) -> None:
    assert phonetic_key(text) == key


@pytest.mark.parametrize(
    ("text", "sex", "key"),
    [
        ("José", None, "JOSE"),
        ("Pepe", None, "JOSE"),
        ("Francisco", None, "FRANCISCO"),
        ("Pancho", None, "FRANCISCO"),
        ("Paco", None, "FRANCISCO"),
        ("Fco. Javier", None, "FRANCISCO JAVIER"),
        ("María José", None, "MARIA JOSE"),
        ("Majo", None, "MARIA JOSE"),
        ("Ma. José", None, "MARIA JOSE"),
        ("M\u00aa José", None, "MARIA JOSE"),
        ("Mariajosé", None, "MARIA JOSE"),
        ("Juan Pablo", None, "JUAN PABLO"),
        ("Juanpa", None, "JUAN PABLO"),
        ("Guille", None, "GUILLERMO"),
        ("Fede", None, "FEDERICO"),
        ("Rodri", None, "RODRIGO"),
        ("Seba", None, "SEBASTIAN"),
        ("Nico", None, "NICOLAS"),
        ("Maxi", None, "MAXIMILIANO"),
        ("Flor", None, "FLORENCIA"),
        ("Vale", None, "VALENTINA"),
        ("Cami", None, "CAMILA"),
        ("Santi", None, "SANTIAGO"),
        ("Nacho", None, "IGNACIO"),
        ("Nacho Fede", None, "IGNACIO FEDERICO"),
        ("Jhonatan", None, "JONATHAN"),
        ("Yesica", None, "JESSICA"),
        ("Jean-Pierre", None, "JEAN PIERRE"),
        # short forms of both sexes need the sex
        ("Ale", None, "ALE"),
        ("Ale", "M", "ALEJANDRO"),
        ("Ale", "F", "ALEJANDRA"),
        ("Gabi", "F", "GABRIELA"),
        ("Gabi", "M", "GABRIEL"),
        ("Agus", "M", "AGUSTIN"),
        ("Agus", "F", "AGUSTINA"),
        ("Agus", None, "AGUS"),
        ("Alejandro", "F", "ALEJANDRO"),  # formal names are never changed
    ],
)
def test_given_name_key(text: str, sex: str | None, key: str) -> None:
    assert given_name_key(text, sex) == key  # type: ignore[arg-type]


def test_given_name_key_tables_are_replaceable() -> None:
    assert given_name_key("Bob", forms={"BOB": ("ROBERT", None)}) == "ROBERT"
    assert given_name_key("Pepe", forms={}) == "PEPE"
    assert given_name_key("Jhonatan", spellings={}) == "JHONATAN"


@pytest.mark.parametrize(("text", "reason"), [("", "is empty"), ("Juan 2do", "contains digits (2); names have none")])
def test_given_name_key_errors(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        given_name_key(text)
    assert (info.value.field, info.value.reason) == ("given_names", reason)


@pytest.mark.parametrize(
    ("text", "initials"),
    [
        ("Juan Pablo", "JP"),
        ("Juan P.", "JP"),
        ("J. P.", "JP"),
        ("Ma. José", "MJ"),
        ("María del Carmen", "MC"),
        ("María de los A.", "MA"),
        ("Majo", "MJ"),
    ],
)
def test_given_name_initials(text: str, initials: str) -> None:
    assert given_name_initials(text) == initials


def test_folding_takes_short_cuts_without_changing_the_result() -> None:
    # _fold skips the per-character work for ASCII text and for text whose only other characters are dropped marks;
    # this is the definition it must keep to.
    def reference(s: str) -> str:
        s = s.translate(standardise._PRE_TRANSLATE)
        if not s.isascii():
            s = "".join(
                ch
                for ch in unicodedata.normalize("NFKD", s)
                if unicodedata.category(ch) not in standardise._DROPPED_CATEGORIES
            )
        return s.upper()

    # letters, marks (Mn, and Mc with a combining class), format characters, compatibility forms, other scripts
    alphabet = "aZ09 `'-.,/ñÑéÜßøŁæŒÞªº²½ΩЖ中\u2019\u00b4\u2013\u2028\uff21"
    alphabet += "\u0301\u0308\u00ad\u200b\u0903\u0f39\U0001d165"
    rng = random.Random(19)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert standardise._fold(text) == reference(text), repr(text)
