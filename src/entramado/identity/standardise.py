"""Standardisation of Uruguay-like person records, as pure functions (no I/O).

Conventions shared by every function here:

* Text comes out upper-case, without accents or other diacritics (``Ñ`` becomes ``N``, ``Ü`` becomes ``U``), with
  single spaces and no leading or trailing space. See :func:`normalise_text`.
* A value that cannot be standardised raises :class:`StandardisationError`, which says which field, the value as
  received, and a precise reason. Functions that classify (:func:`department`) return ``None`` when nothing matches;
  :func:`normalise_sex` returns ``None`` for the codes that mean "unknown".
* A value that is well formed but fails a consistency check is *kept* and flagged: a cédula whose check digit does
  not match is returned with ``valid=False``, so that survivorship can later prefer a record with a valid one.

The tables (surname variants, nicknames, street types, departments...) are module constants, documented where they
are defined; the functions that use them take an optional replacement so that the same code can serve another
country's conventions.
"""

from __future__ import annotations

import calendar
import re
import time
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Literal, NamedTuple

__all__ = [
    "COMPOUND_SURNAMES",
    "DATE_FORMAT_DESCRIPTIONS",
    "DEFAULT_DATE_FORMATS",
    "DEPARTMENTS",
    "DEPARTMENT_ALIASES",
    "GIVEN_NAME_FORMS",
    "GIVEN_NAME_SPELLINGS",
    "KNOWN_GIVEN_NAMES",
    "NAME_PARTICLES",
    "SEX_CODES",
    "STREET_TYPES",
    "SURNAME_VARIANTS",
    "UNIT_LABELS",
    "Address",
    "Cedula",
    "DateFormat",
    "ParsedDate",
    "PersonName",
    "Phone",
    "Sex",
    "StandardisationError",
    "Surnames",
    "canonical_surname",
    "cedula_check_digit",
    "department",
    "format_cedula",
    "given_name_initials",
    "given_name_key",
    "normalise_email",
    "normalise_sex",
    "normalise_text",
    "parse_cedula",
    "parse_date",
    "parse_person_name",
    "parse_phone",
    "phonetic_key",
    "split_surnames",
    "standardise_address",
    "surname_key",
]

Sex = Literal["M", "F"]


class StandardisationError(ValueError):
    """A value that cannot be standardised: the field, the value as received, and why.

    ``str(error)`` reads ``cedula '1234A672': contains letters (A); ...``. Values longer than 80 characters are
    shortened in the message only; ``error.value`` keeps the whole value.
    """

    def __init__(self, field: str, value: str, reason: str) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"{field} {shown!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason

    def __reduce__(self) -> tuple[type[StandardisationError], tuple[str, str, str]]:
        # Exceptions pickle as cls(*self.args); ours take three arguments, not the message.
        return (type(self), (self.field, self.value, self.reason))


_today: tuple[int, date] = (-1, date.min)


def _current_date() -> date:
    """``date.today()``, worked out again only when the second changes.

    ``date.today()`` reads the clock, floors it to a whole second and converts it to local time; that conversion costs
    more than the rest of standardising a cached value, and it cannot give another answer within the same second.
    """
    global _today
    second = int(time.time())
    cached = _today
    if cached[0] != second:
        cached = _today = (second, date.fromtimestamp(second))
    return cached[1]


# --------------------------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------------------------

# Applied before NFKD: typographic apostrophes and dashes to their ASCII forms, and the Latin letters that NFKD does
# not decompose to a base letter.
_PRE_TRANSLATE = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u00b4": "'",
        "`": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00df": "ss",
        "\u00f8": "o",
        "\u00d8": "O",
        "\u0142": "l",
        "\u0141": "L",
        "\u0111": "d",
        "\u0110": "D",
        "\u00e6": "ae",
        "\u00c6": "AE",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u00fe": "th",
        "\u00de": "TH",
    }
)
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})  # combining marks; format characters (soft hyphen, zero-width)
_NOT_KEPT = re.compile(r"[^\w'\-]|_")
_INNER_APOSTROPHES = re.compile(r"(?<=\w)'+(?=\w)")
_INNER_HYPHENS = re.compile(r"(?<=\w)-+(?=\w)")
_OTHER_HYPHENS = re.compile(r"-(?!\w)|(?<!\w)-")


_ASCII = frozenset(map(chr, range(128)))  # none of them is in _DROPPED_CATEGORIES


def _fold(s: str) -> str:
    """Upper-case without diacritics, punctuation untouched."""
    if s.isascii():
        return s.replace("`", "'").upper()  # the one ASCII character _PRE_TRANSLATE changes
    s = unicodedata.normalize("NFKD", s.translate(_PRE_TRANSLATE))
    if all(unicodedata.category(ch) in _DROPPED_CATEGORIES for ch in set(s).difference(_ASCII)):
        # Every character outside ASCII goes (the usual case: accents decomposed into combining marks): all at once.
        return s.encode("ascii", "ignore").decode("ascii").upper()
    return "".join(ch for ch in s if unicodedata.category(ch) not in _DROPPED_CATEGORIES).upper()


@lru_cache(maxsize=1 << 18)
def _normalise(s: str, keep_hyphens: bool) -> str:
    t = _NOT_KEPT.sub(" ", _fold(s))
    t = _INNER_APOSTROPHES.sub("", t).replace("'", " ")
    if keep_hyphens:
        t = _OTHER_HYPHENS.sub(" ", _INNER_HYPHENS.sub("-", t))
    else:
        t = t.replace("-", " ")
    return " ".join(t.split())


def normalise_text(s: str, *, keep_hyphens: bool = True) -> str:
    """Upper-case ``s`` without accents, punctuation or repeated whitespace.

    * Accents and other diacritics go (NFKD, then combining marks are dropped): ``Núñez`` -> ``NUNEZ``; a few letters
      NFKD leaves alone are transliterated (``ß`` -> ``SS``, ``ø`` -> ``O``, ``æ`` -> ``AE``, ``ł`` -> ``L``).
      Compatibility forms are folded too (``ª`` -> ``A``, full-width digits -> ASCII digits).
    * An apostrophe between two letters or digits joins them (``O'Neill`` -> ``ONEILL``, ``D'Alessandro`` ->
      ``DALESSANDRO``); any other apostrophe becomes a space. Typographic apostrophes count as apostrophes.
    * A hyphen between two letters or digits is kept (``García-Pintos`` -> ``GARCIA-PINTOS``), unless
      ``keep_hyphens`` is false; any other hyphen (leading, trailing, spaced) becomes a space. Dashes count as
      hyphens.
    * Any other punctuation or symbol becomes a space; whitespace runs collapse to one space; the ends are stripped.

    Results are cached: the same names come up millions of times in a person index.
    """
    return _normalise(s, keep_hyphens)


# --------------------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------------------

#: Words that belong to the name that follows them: ``DE LOS SANTOS``, ``DA SILVA``, ``VAN ROMPAEY``, ``SAN MARTIN``.
NAME_PARTICLES: frozenset[str] = frozenset(
    {
        "DE",
        "DEL",
        "LA",
        "LAS",
        "LOS",
        "DA",
        "DAS",
        "DO",
        "DOS",
        "DI",
        "DU",
        "VAN",
        "VON",
        "DER",
        "DEN",
        "TER",
        "LE",
        "MC",
        "SAN",
        "SANTA",
    }
)

#: Compound surnames that contain a particle but are *one* surname. Without this table ``PONCE DE LEON`` would split
#: into ``PONCE`` + ``DE LEON``, which is the right reading of ``PEREZ DE LEON``. Extend it with the ``compounds``
#: argument of :func:`split_surnames` and :func:`parse_person_name`.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "PONCE DE LEON",
        "PEREZ DEL CASTILLO",
        "SAENZ DE ZUMARAN",
        "GARCIA DE ZUNIGA",
        "FERNANDEZ DE CORDOBA",
        "MARTINEZ DE HOZ",
        "DIAZ DE VIVAR",
        "GOMEZ DE LA SERNA",
        "SANCHEZ DE BUSTAMANTE",
    }
)

#: Surname variants, canonical form first. Spanish/Portuguese pairs (``-EZ``/``-ES``), ``Y``/``I``, ``V``/``B`` and
#: run-together particles. Used by :func:`canonical_surname`, token by token.
#:
#: ``SILVA`` and ``DA SILVA`` are deliberately *not* merged: both are frequent, distinct family names in the north of
#: Uruguay, and merging them would inflate false matches there. :func:`surname_key` drops particles, so the two still
#: land in the same blocking key and the matcher can score them as a partial agreement.
SURNAME_VARIANTS: Mapping[str, tuple[str, ...]] = {
    "PEREIRA": ("PEREYRA",),
    "GONZALEZ": ("GONZALES", "GONSALEZ", "GONSALES"),
    "RODRIGUEZ": ("RODRIGUES", "RODRIGEZ"),
    "ALVAREZ": ("ALBAREZ", "ALVARES"),
    "FERNANDEZ": ("FERNANDES",),
    "HERNANDEZ": ("HERNANDES",),
    "MARTINEZ": ("MARTINES",),
    "GOMEZ": ("GOMES",),
    "LOPEZ": ("LOPES",),
    "DIAZ": ("DIAS",),
    "NUNEZ": ("NUNES",),
    "MENDEZ": ("MENDES",),
    "RAMIREZ": ("RAMIRES",),
    "SUAREZ": ("SUARES",),
    "BENITEZ": ("BENITES",),
    "DOMINGUEZ": ("DOMINGUES",),
    "VAZQUEZ": ("VASQUEZ", "VAZQUES", "VASQUES"),
    "GIMENEZ": ("JIMENEZ", "XIMENEZ", "GIMENES", "JIMENES"),
    "ALVEZ": ("ALVES",),
    "CARDOZO": ("CARDOSO",),
    "BARBOZA": ("BARBOSA",),
    "SOUZA": ("SOUSA",),
    "FERREIRA": ("FERREYRA",),
    "MOREIRA": ("MOREYRA",),
    "OLIVERA": ("OLIVEIRA",),
    "VIERA": ("VIEIRA",),
    "TEIXEIRA": ("TEXEIRA", "TEJEIRA"),
    "PIRIZ": ("PIREZ", "PIRES"),
    "DE LEON": ("DELEON",),
    "DA SILVA": ("DASILVA",),
    "DOS SANTOS": ("DOSSANTOS",),
    "DE LOS SANTOS": ("DELOSSANTOS",),
    "DA ROSA": ("DAROSA",),
    "DA COSTA": ("DACOSTA",),
}
_SURNAME_CANONICAL: dict[str, str] = {v: canonical for canonical, vs in SURNAME_VARIANTS.items() for v in vs}

#: Nicknames, short forms and registry abbreviations of given names -> (masculine, feminine) expansion. ``None`` on
#: one side means the short form is not used for that sex; a short form with two different expansions (``ALE``,
#: ``GABI``, ``AGUS``...) is only expanded when the sex is known.
GIVEN_NAME_FORMS: Mapping[str, tuple[str | None, str | None]] = {
    # registry abbreviations
    "MA": ("MARIA", "MARIA"),
    "FCO": ("FRANCISCO", None),
    "FCA": (None, "FRANCISCA"),
    "GMO": ("GUILLERMO", None),
    "FDO": ("FERNANDO", None),
    "STGO": ("SANTIAGO", None),
    "JPABLO": ("JUAN PABLO", None),
    # run-together compound names
    "JUANPABLO": ("JUAN PABLO", None),
    "JUANCARLOS": ("JUAN CARLOS", None),
    "JOSELUIS": ("JOSE LUIS", None),
    "MARIAJOSE": (None, "MARIA JOSE"),
    "MARIANOEL": (None, "MARIA NOEL"),
    # nicknames
    "PEPE": ("JOSE", None),
    "PEPITO": ("JOSE", None),
    "PEPA": (None, "JOSEFA"),
    "PANCHO": ("FRANCISCO", None),
    "PACO": ("FRANCISCO", None),
    "PAQUITA": (None, "FRANCISCA"),
    "FRAN": ("FRANCISCO", "FRANCISCA"),
    "MAJO": (None, "MARIA JOSE"),
    "JUANPA": ("JUAN PABLO", None),
    "JUANJO": ("JUAN JOSE", None),
    "JUANCHO": ("JUAN", None),
    "JOSEMA": ("JOSE MARIA", None),
    "GUILLE": ("GUILLERMO", None),
    "ALE": ("ALEJANDRO", "ALEJANDRA"),
    "ALEJO": ("ALEJANDRO", None),
    "FEDE": ("FEDERICO", None),
    "RODRI": ("RODRIGO", None),
    "SEBA": ("SEBASTIAN", None),
    "SEBAS": ("SEBASTIAN", None),
    "NICO": ("NICOLAS", None),
    "MAXI": ("MAXIMILIANO", None),
    "AGUS": ("AGUSTIN", "AGUSTINA"),
    "SANTI": ("SANTIAGO", None),
    "NACHO": ("IGNACIO", None),
    "GABI": ("GABRIEL", "GABRIELA"),
    "FER": ("FERNANDO", "FERNANDA"),
    "DANI": ("DANIEL", "DANIELA"),
    "CRIS": ("CRISTIAN", "CRISTINA"),
    "MANU": ("MANUEL", "MANUELA"),
    "GONZA": ("GONZALO", None),
    "LUCHO": ("LUIS", None),
    "MATI": ("MATIAS", None),
    "TOMI": ("TOMAS", None),
    "FACU": ("FACUNDO", None),
    "RAFA": ("RAFAEL", None),
    "TINCHO": ("MARTIN", None),
    "FLOR": (None, "FLORENCIA"),
    "VALE": (None, "VALENTINA"),
    "CAMI": (None, "CAMILA"),
    "CARO": (None, "CAROLINA"),
    "SOFI": (None, "SOFIA"),
    "VICKY": (None, "VICTORIA"),
    "VIKI": (None, "VICTORIA"),
    "PAU": (None, "PAULA"),
    "MECHE": (None, "MERCEDES"),
    "CONI": (None, "CONSTANZA"),
    "JIME": (None, "JIMENA"),
    "MICA": (None, "MICAELA"),
    "NATI": (None, "NATALIA"),
    "EUGE": (None, "EUGENIA"),
    "GUADA": (None, "GUADALUPE"),
    "SOLE": (None, "SOLEDAD"),
    "LU": (None, "LUCIA"),
}

#: Spelling variants of given names -> the spelling used as key.
GIVEN_NAME_SPELLINGS: Mapping[str, str] = {
    "JONATAN": "JONATHAN",
    "JHONATAN": "JONATHAN",
    "JHONATHAN": "JONATHAN",
    "YONATAN": "JONATHAN",
    "JESICA": "JESSICA",
    "YESICA": "JESSICA",
    "YESSICA": "JESSICA",
    "JOHANNA": "JOHANA",
    "YOHANA": "JOHANA",
    "YOHANNA": "JOHANA",
    "CHRISTIAN": "CRISTIAN",
    "CRISTHIAN": "CRISTIAN",
    "BRAIAN": "BRIAN",
    "BRYAN": "BRIAN",
    "ELISABETH": "ELIZABETH",
    "ELISABET": "ELIZABETH",
    "ESTEFANI": "STEFANI",
    "ESTEFANY": "STEFANI",
    "STEFANY": "STEFANI",
    "STEPHANIE": "STEFANI",
    "YENIFER": "JENNIFER",
    "JENIFER": "JENNIFER",
    "MAYRA": "MAIRA",
    "WASHINTON": "WASHINGTON",
}

_COMMON_GIVEN_NAMES = """
    JUAN JOSE CARLOS LUIS JORGE DIEGO MARTIN PABLO FEDERICO RODRIGO SEBASTIAN NICOLAS MAXIMILIANO AGUSTIN SANTIAGO
    IGNACIO MATEO JOAQUIN FACUNDO GONZALO MATIAS FRANCISCO GUILLERMO ALEJANDRO GABRIEL FERNANDO DANIEL MANUEL BRUNO
    FELIPE TOMAS LUCAS EMILIANO WASHINGTON WALTER NESTOR RICARDO MARCELO GUSTAVO ALVARO ANDRES LEONARDO HUGO RAUL
    RUBEN EDUARDO ALBERTO ROBERTO SERGIO FABIAN ANTONIO MIGUEL ANGEL PEDRO RAFAEL VICTOR OSCAR MARIO JULIO CESAR
    ENRIQUE ALFREDO ARIEL CRISTIAN JONATHAN BRIAN KEVIN BENJAMIN THIAGO VALENTIN IAN LORENZO SALVADOR DAVID ESTEBAN
    MARIA ANA LAURA LUCIA FLORENCIA VALENTINA CAMILA GABRIELA SOFIA MARTINA AGUSTINA VICTORIA CAROLINA PAULA
    FERNANDA DANIELA NATALIA CECILIA VERONICA SILVIA MONICA CLAUDIA PATRICIA ALEJANDRA ANDREA MARIANA JIMENA MICAELA
    EUGENIA SOLEDAD NOELIA NOEL ROSA GRACIELA BEATRIZ ISABEL ELENA JULIETA CATALINA EMILIA ISABELLA JOSEFINA
    GUADALUPE MERCEDES INES LOURDES CARMEN TERESA MARTA SUSANA ADRIANA LORENA ROMINA VANESA JESSICA JOHANA STEFANI
    JENNIFER ELIZABETH MAIRA CONSTANZA FRANCISCA JOSEFA MANUELA CRISTINA PILAR ROSARIO ZULMA NELLY GLADYS
"""

#: Given names used by :func:`parse_person_name` to tell a second given name from a first surname. It is the list
#: above, every expansion in :data:`GIVEN_NAME_FORMS`, and the particle-led Marian names (``DEL CARMEN``...).
KNOWN_GIVEN_NAMES: frozenset[str] = frozenset(
    set(_COMMON_GIVEN_NAMES.split())
    | {token for forms in GIVEN_NAME_FORMS.values() for form in forms if form for token in form.split()}
    | {
        "DEL CARMEN",
        "DE LOS ANGELES",
        "DEL PILAR",
        "DE LOURDES",
        "DEL ROSARIO",
        "DE JESUS",
        "DE FATIMA",
        "DEL LUJAN",
        "DEL HUERTO",
        "DE LAS MERCEDES",
    }
)


@dataclass(frozen=True, slots=True)
class Surnames:
    """First (paternal, by Uruguayan custom) and second surname, normalised. ``second`` is ``None`` when absent."""

    first: str
    second: str | None


@dataclass(frozen=True, slots=True)
class PersonName:
    """A full name split into given names and up to two surnames, normalised."""

    given_names: str
    first_surname: str
    second_surname: str | None


@lru_cache(maxsize=32)
def _compound_index(compounds: frozenset[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for compound in compounds:
        tokens = tuple(normalise_text(compound).split())
        if tokens:
            by_first.setdefault(tokens[0], []).append(tokens)
    return {first: tuple(sorted(pats, key=len, reverse=True)) for first, pats in by_first.items()}


def _name_units(tokens: Sequence[str], compounds: Collection[str]) -> list[str]:
    """Group tokens into name units: particles attach to the word after them; known compounds stay whole."""
    index = _compound_index(compounds if isinstance(compounds, frozenset) else frozenset(compounds))
    units: list[str] = []
    pending: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        compound = next(
            (p for p in index.get(tokens[i], ()) if tuple(tokens[i : i + len(p)]) == p),
            None,
        )
        if compound is not None:
            units.append(" ".join([*pending, *compound]))
            pending = []
            i += len(compound)
            continue
        token = tokens[i]
        if token in NAME_PARTICLES and i < n - 1:
            pending.append(token)
        elif token in NAME_PARTICLES and units and not pending:
            units[-1] = f"{units[-1]} {token}"  # a dangling particle, as in a truncated "PEREZ DE"
        else:
            units.append(" ".join([*pending, token]))
            pending = []
        i += 1
    return units


def _name_tokens(field: str, text: str, keep_hyphens: bool = True) -> list[str]:
    normalised = normalise_text(text, keep_hyphens=keep_hyphens)
    if not normalised:
        raise StandardisationError(field, text, "is empty")
    words = normalised.split()
    if not "".join(words).replace("-", "").isalpha():  # letters only, so no digit (a letter is never a digit)
        digits = sorted({ch for ch in normalised if ch.isdigit()})
        if digits:
            raise StandardisationError(field, text, f"contains digits ({''.join(digits)}); names have none")
    return words


def split_surnames(text: str, *, compounds: Collection[str] = COMPOUND_SURNAMES) -> Surnames:
    """Split a surnames field into first and second surname.

    Particles go with the word after them and known compounds stay whole, so ``Pérez De Los Santos`` is ``PEREZ`` +
    ``DE LOS SANTOS``, ``Da Silva Van Rompaey`` is ``DA SILVA`` + ``VAN ROMPAEY`` and ``Ponce de León Suárez`` is
    ``PONCE DE LEON`` + ``SUAREZ``. A hyphenated surname is one surname. With more than two units the first unit is the
    first surname and the rest is the second (registries do not hold three surnames; the extra unit is usually an
    unlisted compound). Raises :class:`StandardisationError` (field ``surnames``) when empty or containing digits.
    For a full name (given names too) use :func:`parse_person_name`.
    """
    if compounds is COMPOUND_SURNAMES:
        return _default_split_surnames(text)
    return _split_surnames(text, compounds)


def _split_surnames(text: str, compounds: Collection[str]) -> Surnames:
    units = _name_units(_name_tokens("surnames", text), compounds)
    return Surnames(units[0], " ".join(units[1:]) or None)


@lru_cache(maxsize=1 << 16)
def _default_split_surnames(text: str) -> Surnames:
    # Surname pairs repeat across a person index, and full names in the registry form are read through here. An error
    # is not cached (lru_cache keeps returned values only): it is raised afresh on every call.
    return _split_surnames(text, COMPOUND_SURNAMES)


def parse_person_name(
    text: str,
    *,
    surnames_first: bool = False,
    given_names: Collection[str] = KNOWN_GIVEN_NAMES,
    compounds: Collection[str] = COMPOUND_SURNAMES,
) -> PersonName:
    """Split a full name into given names and surnames.

    ``PEREZ DE LOS SANTOS, JUAN PABLO`` (surnames, comma, given names: the registry form) is unambiguous. Without a
    comma the order is ``surnames_first`` or given names first, and the boundary is a heuristic: the first unit is a
    given name, the following units are given names too while they are in ``given_names`` (keeping at least one
    surname), and at most two units are surnames. So ``Juan Pérez De Los Santos`` is JUAN / PEREZ / DE LOS SANTOS and
    ``Juan Pablo Pérez`` is JUAN PABLO / PEREZ. Names that are both (``Martín``, ``Rosa``) are read as given names.
    Raises :class:`StandardisationError` (field ``name``) when a part is missing or contains digits.
    """
    if "," in text:
        left, _, right = text.partition(",")
        if "," in right:
            raise StandardisationError("name", text, "has more than one comma; expected 'SURNAMES, GIVEN NAMES'")
        if not normalise_text(left) or not normalise_text(right):
            raise StandardisationError("name", text, "needs surnames before the comma and given names after it")
        surnames = split_surnames(left, compounds=compounds)
        given = " ".join(_name_tokens("name", right, keep_hyphens=False))
        return PersonName(given, surnames.first, surnames.second)
    units = _name_units(_name_tokens("name", text), compounds)
    n = len(units)
    if n < 2:
        raise StandardisationError("name", text, "needs at least one given name and one surname")
    if surnames_first:
        two_surnames = n >= 3 and units[1] not in given_names
        k = 2 if two_surnames else 1
        return PersonName(" ".join(units[k:]), units[0], units[1] if two_surnames else None)
    k = 1
    while k < n - 1 and units[k] in given_names:
        k += 1
    k = max(k, n - 2)
    tail = units[k:]
    return PersonName(" ".join(units[:k]), tail[0], tail[1] if len(tail) > 1 else None)


# The key functions below are called once or more for every record the linker reads, and the same few thousand names
# make up most of them, so each keeps its results. They read the module tables, which are constants: a caller that
# needs other tables passes them as arguments, and those calls are not cached.
_KEY_CACHE_SIZE = 1 << 18


def canonical_surname(text: str) -> str:
    """Normalise a surname (or a surnames field) and replace each known variant by its canonical form.

    Uses :data:`SURNAME_VARIANTS` word by word (hyphenated parts separately): ``Pereyra`` -> ``PEREIRA``,
    ``Gonzales`` -> ``GONZALEZ``, ``Rodrigues Albarez`` -> ``RODRIGUEZ ALVAREZ``, ``Dasilva`` -> ``DA SILVA``.
    ``Silva`` and ``Da Silva`` stay distinct (see the table). Returns ``""`` for an empty value.
    """
    return _canonical_surname(text)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _canonical_surname(text: str) -> str:
    normalised = normalise_text(text)
    whole = _SURNAME_CANONICAL.get(normalised)
    if whole is not None:
        return whole
    return " ".join(
        "-".join(_SURNAME_CANONICAL.get(part, part) for part in token.split("-")) for token in normalised.split()
    )


_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^X(?=[AEIOU])", "J"),  # Ximénez ~ Jiménez
        (r"PH", "F"),
        (r"LH", "LL"),  # Portuguese Carvalho ~ Carballo
        (r"NH", "N"),  # Portuguese nh ~ ñ (already N)
        (r"X", "KS"),
        (r"CH", "%"),  # protect CH from the C and H rules
        (r"G(?=[EI])", "J"),
        (r"GU(?=[EI])", "G"),
        (r"QU", "K"),
        (r"Q", "K"),
        (r"C(?=[EI])", "S"),
        (r"C", "K"),
        (r"Z", "S"),
        (r"[VW]", "B"),
        (r"LL", "Y"),
        (r"Y", "I"),
        (r"EIR", "ER"),  # Pereira ~ Perera, Oliveira ~ Olivera
        (r"H", ""),
        (r"N(?=[BP])", "M"),
        (r"%", "X"),
        (r"(.)\1+", r"\1"),
    )
)


def _phonetic_word(word: str) -> str:
    for pattern, replacement in _PHONETIC_RULES:
        word = pattern.sub(replacement, word)
    return word


def phonetic_key(text: str) -> str:
    """A Spanish/Portuguese-aware phonetic transcription of each word, for blocking.

    Silent ``H`` goes; ``V``/``W``/``B`` merge, as do ``Z``/``S``/soft ``C``, hard ``C``/``K``/``QU``, ``LL``/``Y``/
    ``I``, soft ``G``/``J``/initial ``X``, Portuguese ``LH``/``NH`` and ``EIR``/``ER``; doubled letters collapse.
    ``GONZALEZ`` and ``GONZALES`` give ``GONSALES``; ``PEREIRA``/``PEREYRA`` give ``PERERA``; ``ALVAREZ``/``ALBAREZ``
    give ``ALBARES``; ``CARVALHO``/``CARBALLO`` give ``KARBAIO``. The key is for grouping candidates, not for display.
    """
    return _phonetic_key(text)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _phonetic_key(text: str) -> str:
    return " ".join(_phonetic_word(word) for word in normalise_text(text, keep_hyphens=False).split())


def surname_key(text: str) -> str:
    """Blocking key for a surname: :func:`canonical_surname`, particles dropped, then :func:`phonetic_key`.

    ``Da Silva`` and ``Silva`` share the key ``SILBA``; ``De Los Santos`` and ``Dos Santos`` share ``SANTOS``.
    """
    return _surname_key(text)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _surname_key(text: str) -> str:
    words = [w for w in _canonical_surname(text).replace("-", " ").split() if w not in NAME_PARTICLES]
    return _phonetic_key(" ".join(words))


def given_name_key(
    text: str,
    sex: Sex | None = None,
    *,
    forms: Mapping[str, tuple[str | None, str | None]] = GIVEN_NAME_FORMS,
    spellings: Mapping[str, str] = GIVEN_NAME_SPELLINGS,
) -> str:
    """Normalised given names with nicknames, abbreviations and spelling variants replaced by the formal name.

    ``Pepe`` -> ``JOSE``, ``Majo`` -> ``MARIA JOSE``, ``Ma. José`` -> ``MARIA JOSE``, ``Fco. Javier`` ->
    ``FRANCISCO JAVIER``, ``Jhonatan`` -> ``JONATHAN``. Short forms shared by both sexes (``Ale``, ``Gabi``, ``Agus``,
    ``Dani``...) are expanded only when ``sex`` is given and are otherwise left as they are: guessing would merge
    twins named Alejandro and Alejandra. Hyphens become spaces (``Jean-Pierre`` -> ``JEAN PIERRE``).
    Raises :class:`StandardisationError` (field ``given_names``) when empty or containing digits.
    """
    if forms is GIVEN_NAME_FORMS and spellings is GIVEN_NAME_SPELLINGS:
        return _default_given_name_key(text, sex)
    return _given_name_key(text, sex, forms, spellings)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _default_given_name_key(text: str, sex: Sex | None) -> str:
    # An error is not cached (lru_cache keeps returned values only): it is raised afresh on every call.
    return _given_name_key(text, sex, GIVEN_NAME_FORMS, GIVEN_NAME_SPELLINGS)


def _given_name_key(
    text: str, sex: Sex | None, forms: Mapping[str, tuple[str | None, str | None]], spellings: Mapping[str, str]
) -> str:
    out: list[str] = []
    for token in _name_tokens("given_names", text, keep_hyphens=False):
        expansion = token
        entry = forms.get(token)
        if entry is not None:
            masculine, feminine = entry
            if masculine is None or feminine is None or masculine == feminine:
                expansion = masculine or feminine or token
            elif sex == "M":
                expansion = masculine
            elif sex == "F":
                expansion = feminine
        out.extend(spellings.get(word, word) for word in expansion.split())
    return " ".join(out)


def given_name_initials(text: str, sex: Sex | None = None) -> str:
    """Initials of the given names after :func:`given_name_key`, particles skipped.

    ``Juan P.`` and ``Juan Pablo`` both give ``JP``; ``María del Carmen`` gives ``MC``. Useful to compare a record that
    abbreviates given names with one that does not.
    """
    return _given_name_initials(text, sex)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _given_name_initials(text: str, sex: Sex | None) -> str:
    return "".join(word[0] for word in _default_given_name_key(text, sex).split() if word not in NAME_PARTICLES)


# --------------------------------------------------------------------------------------------------------------------
# Cédula de identidad
# --------------------------------------------------------------------------------------------------------------------

_CEDULA_WEIGHTS = (2, 9, 8, 7, 6, 3, 4)
_CEDULA_PREFIX = re.compile(r"^\s*C\s*\.?\s*I\s*\.?\s*(?:N\s*[O\u00ba\u00b0]?\s*\.?)?\s*:?\s*", re.IGNORECASE)
_CEDULA_ALLOWED = frozenset("0123456789.- ")
_CEDULA_SEPARATORS = str.maketrans("", "", ".- ")
# ASCII digits, dots and hyphens from the first character: the form nearly every source writes.
_CEDULA_PLAIN = re.compile(r"[0-9][0-9.\-]*")


@dataclass(frozen=True, slots=True)
class Cedula:
    """A Uruguayan cédula de identidad: body number, check digit, and whether the check digit is right.

    ``str(cedula)`` is the usual display form ``1.234.567-2``; ``cedula.digits`` is the canonical 8-digit key
    ``12345672`` (the body zero-padded to 7 digits), which is what two records should be joined on.
    """

    body: int
    check_digit: int
    valid: bool

    @property
    def digits(self) -> str:
        """Body padded to 7 digits followed by the check digit: ``08234567`` for ``823.456-7``."""
        return f"{self.body:07d}{self.check_digit}"

    def __str__(self) -> str:
        return format_cedula(self.body, self.check_digit)


def cedula_check_digit(body: int | str) -> int:
    """The check digit of a cédula body of up to 7 digits.

    The body is left-padded with zeros to 7 digits, each digit is multiplied by 2, 9, 8, 7, 6, 3, 4 in turn, and the
    check digit is ``(10 - sum % 10) % 10``. Raises ``ValueError`` for a negative body or more than 7 digits.
    """
    digits = str(body)
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 7:
        raise ValueError(f"a cédula body is 1 to 7 digits, not {body!r}")
    return _check_digit(digits)


def _check_digit(digits: str) -> int:
    """:func:`cedula_check_digit` of 1 to 7 ASCII digits, already checked."""
    padded = digits.zfill(7)
    total = _weighted_sum(padded[:4], 0) + _weighted_sum(padded[4:], 4)
    return (10 - total % 10) % 10


@cache
def _weighted_sum(digits: str, start: int) -> int:
    # Called with the first four and the last three digits of a padded body, so with at most 11,000 different
    # arguments: a look-up is several times quicker than the sum, and every record has a cédula.
    return sum(int(d) * w for d, w in zip(digits, _CEDULA_WEIGHTS[start:], strict=False))


def format_cedula(body: int, check_digit: int | None = None) -> str:
    """Display form ``1.234.567-2``; the check digit is computed when not given."""
    check = cedula_check_digit(body) if check_digit is None else check_digit
    return f"{body:,}".replace(",", ".") + f"-{check}"


def parse_cedula(text: str, *, min_body_digits: int = 6) -> Cedula:
    """Parse a cédula written as ``1.234.567-2``, ``12345672``, ``1234567 2``, ``C.I. 1.234.567-2``...

    Dots and spaces are ignored; a hyphen, when present, must be followed by exactly one digit (the check digit);
    without a hyphen the last digit is the check digit. Leading zeros are allowed. The body must have
    ``min_body_digits`` to 7 significant digits (6-digit bodies are older cédulas).

    Malformed input (empty, letters or other characters, wrong length, a body of zeros, more than one digit after the
    hyphen) raises :class:`StandardisationError` with field ``cedula``. A well-formed cédula whose check digit does not
    match is returned with ``valid=False``: the record keeps it, and survivorship can prefer a valid one.
    """
    field = "cedula"
    if _CEDULA_PLAIN.fullmatch(text):
        # Already what the clean-up below makes of it: ASCII is unchanged by NFKC and by _PRE_TRANSLATE (no backtick),
        # a value starting with a digit has no "C.I." prefix, and there is no space to collapse or character to refuse.
        s = text
    else:
        s = unicodedata.normalize("NFKC", text).translate(_PRE_TRANSLATE)
        s = _CEDULA_PREFIX.sub("", s, count=1)
        s = " ".join(s.split())
        if not s:
            raise StandardisationError(field, text, "is empty")
        bad = sorted({ch for ch in s if ch not in _CEDULA_ALLOWED})
        if bad:
            letters = "".join(ch for ch in bad if ch.isalpha())
            if letters:
                reason = f"contains letters ({letters}); a cédula has only digits, dots, spaces and a hyphen"
            else:
                reason = f"contains {''.join(bad)!r}; a cédula has only digits, dots, spaces and a hyphen"
            raise StandardisationError(field, text, reason)
    # From here ``s`` holds only digits, dots, hyphens and spaces, so deleting the last three leaves the digits.
    if "-" in s:
        head, _, tail = s.rpartition("-")
        tail = tail.strip()
        if not tail:
            raise StandardisationError(field, text, "has nothing after the hyphen, where the check digit goes")
        if len(tail) != 1 or not tail.isdigit():
            raise StandardisationError(field, text, f"after the hyphen comes one check digit, not {tail!r}")
        body_digits = head.translate(_CEDULA_SEPARATORS)
        check = int(tail)
    else:
        all_digits = s.translate(_CEDULA_SEPARATORS)
        if not all_digits:
            raise StandardisationError(field, text, "has no digits")
        body_digits, check = all_digits[:-1], int(all_digits[-1])
    if not body_digits:
        raise StandardisationError(field, text, "has no digits before the check digit")
    significant = body_digits.lstrip("0")
    if not significant:
        raise StandardisationError(field, text, "has a body of zeros")
    if not min_body_digits <= len(significant) <= 7:
        raise StandardisationError(
            field,
            text,
            f"has {len(significant) + 1} digits; a cédula has a body of {min_body_digits} to 7 digits "
            "plus one check digit",
        )
    return Cedula(int(significant), check, _check_digit(significant) == check)


# --------------------------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------------------------

DateFormat = Literal["DMY", "DMY_SHORT", "ISO", "DMY_COMPACT", "TEXT_ES", "MDY", "YMD_COMPACT"]

#: What each date format accepts. Separated formats take ``/``, ``-`` or ``.`` (the same one twice).
DATE_FORMAT_DESCRIPTIONS: Mapping[DateFormat, str] = {
    "DMY": "DD/MM/YYYY or D/M/YYYY",
    "DMY_SHORT": "D/M/YY",
    "ISO": "YYYY-MM-DD",
    "DMY_COMPACT": "DDMMYYYY",
    "TEXT_ES": "'3 de marzo de 1980'",
    "MDY": "MM/DD/YYYY",
    "YMD_COMPACT": "YYYYMMDD",
}

#: The formats Uruguayan agencies use, tried in this order. ``MDY`` and ``YMD_COMPACT`` are available on request:
#: ``MDY`` has the same shape as ``DMY`` and 8-digit ``YMD_COMPACT`` the same as ``DMY_COMPACT``.
DEFAULT_DATE_FORMATS: tuple[DateFormat, ...] = ("DMY", "ISO", "DMY_SHORT", "DMY_COMPACT", "TEXT_ES")

_MONTHS_ES: Mapping[str, int] = {
    "ENERO": 1,
    "ENE": 1,
    "FEBRERO": 2,
    "FEB": 2,
    "MARZO": 3,
    "MAR": 3,
    "ABRIL": 4,
    "ABR": 4,
    "MAYO": 5,
    "MAY": 5,
    "JUNIO": 6,
    "JUN": 6,
    "JULIO": 7,
    "JUL": 7,
    "AGOSTO": 8,
    "AGO": 8,
    "SETIEMBRE": 9,
    "SEPTIEMBRE": 9,
    "SET": 9,
    "SEP": 9,
    "SEPT": 9,
    "OCTUBRE": 10,
    "OCT": 10,
    "NOVIEMBRE": 11,
    "NOV": 11,
    "DICIEMBRE": 12,
    "DIC": 12,
}
_MONTH_NAMES_EN = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_RE_DMY = re.compile(r"(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4})")
_RE_DMY_SHORT = re.compile(r"(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{2})")
_RE_ISO = re.compile(
    r"(\d{4})([/.\-])(\d{1,2})\2(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?"
)
_RE_EIGHT_DIGITS = re.compile(r"\d{8}")
_RE_TEXT_ES = re.compile(r"(\d{1,2})(?:O|RO)?\s+(?:DE\s+)?([A-Z]+)\s+(?:DEL?\s+)?(\d{4}|\d{2})")


class _DateParts(NamedTuple):
    year: int
    month: int
    day: int
    two_digit_year: bool


def _dmy(text: str, field: str, original: str) -> _DateParts | None:
    m = _RE_DMY.fullmatch(text)
    return _DateParts(int(m[4]), int(m[3]), int(m[1]), False) if m else None


def _mdy(text: str, field: str, original: str) -> _DateParts | None:
    m = _RE_DMY.fullmatch(text)
    return _DateParts(int(m[4]), int(m[1]), int(m[3]), False) if m else None


def _dmy_short(text: str, field: str, original: str) -> _DateParts | None:
    m = _RE_DMY_SHORT.fullmatch(text)
    return _DateParts(int(m[4]), int(m[3]), int(m[1]), True) if m else None


def _iso(text: str, field: str, original: str) -> _DateParts | None:
    m = _RE_ISO.fullmatch(text)
    return _DateParts(int(m[1]), int(m[3]), int(m[4]), False) if m else None


def _dmy_compact(text: str, field: str, original: str) -> _DateParts | None:
    if not _RE_EIGHT_DIGITS.fullmatch(text):
        return None
    return _DateParts(int(text[4:]), int(text[2:4]), int(text[:2]), False)


def _ymd_compact(text: str, field: str, original: str) -> _DateParts | None:
    if not _RE_EIGHT_DIGITS.fullmatch(text):
        return None
    return _DateParts(int(text[:4]), int(text[4:6]), int(text[6:]), False)


def _text_es(text: str, field: str, original: str) -> _DateParts | None:
    m = _RE_TEXT_ES.fullmatch(normalise_text(text, keep_hyphens=False))
    if not m:
        return None
    month = _MONTHS_ES.get(m[2])
    if month is None:
        raise StandardisationError(field, original, f"has an unknown month name {m[2]!r}")
    return _DateParts(int(m[3]), month, int(m[1]), len(m[3]) == 2)


_DATE_PARSERS: Mapping[DateFormat, Callable[[str, str, str], _DateParts | None]] = {
    "DMY": _dmy,
    "DMY_SHORT": _dmy_short,
    "ISO": _iso,
    "DMY_COMPACT": _dmy_compact,
    "TEXT_ES": _text_es,
    "MDY": _mdy,
    "YMD_COMPACT": _ymd_compact,
}


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A parsed date, the format that matched, and whether day and month could be swapped.

    ``day_month_ambiguous`` is true for a numeric format when day and month are both at most 12 and differ: the
    swapped reading is also a real date (``03/04/1980`` could be 4 March), so a matcher can score a swap as a near
    agreement. A month written as a word is never ambiguous.
    """

    value: date
    format: DateFormat
    day_month_ambiguous: bool

    def swapped(self) -> date | None:
        """The date with day and month exchanged, or ``None`` when that reading is not plausible."""
        if not self.day_month_ambiguous:
            return None
        return date(self.value.year, self.value.day, self.value.month)


def _checked_date(field: str, original: str, year: int, month: int, day: int) -> date:
    if not 1 <= year <= 9999:
        raise StandardisationError(field, original, f"year {year} is out of range")
    if not 1 <= month <= 12:
        raise StandardisationError(field, original, f"month {month} does not exist")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        if month == 2 and day == 29:
            reason = f"{year} is not a leap year: February {year} has 28 days"
        elif day == 0:
            reason = "day 0 does not exist"
        else:
            reason = f"{_MONTH_NAMES_EN[month]} {year} has {last} days, not {day}"
        raise StandardisationError(field, original, reason)
    return date(year, month, day)


def parse_date(
    s: str,
    formats: Sequence[DateFormat] | None = None,
    *,
    pivot: int | None = None,
    not_before: date | None = None,
    not_after: date | None = None,
    field: str = "date",
) -> ParsedDate:
    """Parse a date in one of ``formats`` (default :data:`DEFAULT_DATE_FORMATS`), tried in order.

    Accepted by default: ``DD/MM/YYYY`` and ``D/M/YYYY`` (also with ``-`` or ``.``), ``YYYY-MM-DD`` (a trailing time
    is ignored), ``D/M/YY``, ``DDMMYYYY`` and ``3 de marzo de 1980`` (also ``3 mar 1980``, ``1º de enero de 2000``,
    ``setiembre``/``septiembre``). A two-digit year ``YY`` is ``20YY`` when ``YY <= pivot`` and ``19YY`` otherwise;
    ``pivot`` defaults to the last two digits of the current year, which is right for birth dates.

    Raises :class:`StandardisationError` (with ``field`` as its field) when the value is empty, matches no format,
    names an impossible date (``31/04/1980``, ``29/02/1981``, month 13: the message says which part is wrong), or falls
    outside ``not_before``/``not_after``. When a value has the shape of a format but is not a valid date there, later
    formats are still tried, and the first precise error is raised if none succeeds. An unknown format name in
    ``formats`` is a programming error and raises ``ValueError``.
    """
    chosen: tuple[DateFormat, ...] = DEFAULT_DATE_FORMATS if formats is None else tuple(formats)
    unknown = [f for f in chosen if f not in _DATE_PARSERS]
    if unknown or not chosen:
        raise ValueError(f"unknown date formats {unknown!r}; known: {', '.join(_DATE_PARSERS)}")
    text = " ".join(unicodedata.normalize("NFKC", s).split())
    if not text:
        raise StandardisationError(field, s, "is empty")
    century_pivot = _current_date().year % 100 if pivot is None else pivot
    first_error: StandardisationError | None = None
    for fmt in chosen:
        try:
            parts = _DATE_PARSERS[fmt](text, field, s)
            if parts is None:
                continue
            year = parts.year
            if parts.two_digit_year:
                year += 2000 if year <= century_pivot else 1900
            value = _checked_date(field, s, year, parts.month, parts.day)
            if not_before is not None and value < not_before:
                raise StandardisationError(
                    field, s, f"{value.isoformat()} is before the earliest accepted date {not_before.isoformat()}"
                )
            if not_after is not None and value > not_after:
                raise StandardisationError(
                    field, s, f"{value.isoformat()} is after the latest accepted date {not_after.isoformat()}"
                )
        except StandardisationError as error:
            first_error = first_error or error
            continue
        ambiguous = fmt != "TEXT_ES" and value.day <= 12 and value.month <= 12 and value.day != value.month
        return ParsedDate(value, fmt, ambiguous)
    if first_error is not None:
        raise first_error
    accepted = ", ".join(DATE_FORMAT_DESCRIPTIONS[f] for f in chosen)
    raise StandardisationError(field, s, f"does not match any accepted format ({accepted})")


# --------------------------------------------------------------------------------------------------------------------
# Addresses and departments
# --------------------------------------------------------------------------------------------------------------------

#: Street types: canonical form -> the spellings and abbreviations that mean it (after :func:`normalise_text`, so
#: ``Av.`` is ``AV`` and ``Avda.`` is ``AVDA``). Only recognised as the first word of an address or of a corner.
STREET_TYPES: Mapping[str, tuple[str, ...]] = {
    "AVENIDA": ("AVENIDA", "AV", "AVDA", "AVD", "AVE", "AVEN"),
    "BULEVAR": ("BULEVAR", "BV", "BVAR", "BVR", "BLV", "BLVR", "BOULEVARD", "BOULEVAR"),
    "CAMINO": ("CAMINO", "CNO", "CAM", "CMNO"),
    "RUTA": ("RUTA", "RTA"),
    "CALLE": ("CALLE", "CLL"),
    "PASAJE": ("PASAJE", "PJE", "PSJE", "PSJ"),
    "RAMBLA": ("RAMBLA", "RBLA", "RAMB"),
    "DIAGONAL": ("DIAGONAL", "DIAG"),
    "PEATONAL": ("PEATONAL", "PEAT"),
    "SENDA": ("SENDA",),
    "CALLEJON": ("CALLEJON", "CJON"),
    "PLAZA": ("PLAZA", "PZA"),
    "PASEO": ("PASEO",),
}
_STREET_TYPE_OF = {variant: canonical for canonical, vs in STREET_TYPES.items() for variant in vs}

#: Unit labels: canonical form -> spellings. ``APTO`` is an apartment, ``ESC`` an escritorio (office), ``MZ`` and
#: ``SOLAR`` the manzana/solar of plots without a street number. A bare ``/502`` after the door number is ``APTO 502``.
UNIT_LABELS: Mapping[str, tuple[str, ...]] = {
    "APTO": ("APTO", "AP", "APT", "APART", "APARTAMENTO", "DPTO", "DEPTO", "DTO"),
    "ESC": ("ESC", "ESCRITORIO"),
    "OF": ("OF", "OFIC", "OFICINA"),
    "BLOCK": ("BLOCK", "BLOQUE", "BLK", "BL"),
    "TORRE": ("TORRE",),
    "PISO": ("PISO",),
    "LOCAL": ("LOCAL", "LOC"),
    "CASA": ("CASA",),
    "MZ": ("MZ", "MZA", "MANZANA"),
    "SOLAR": ("SOLAR", "SOL"),
}
_UNIT_LABEL_OF = {variant: canonical for canonical, vs in UNIT_LABELS.items() for variant in vs}
_LOCATION_LABELS = frozenset({"MZ", "SOLAR"})  # may start an address that has no street
_CORNER_WORDS = frozenset({"ESQ", "ESQUINA"})
_KM_WORDS = frozenset({"KM", "KMS", "KILOMETRO"})
_NUMBER_WORDS = frozenset({"N", "NO", "NRO", "NUM", "NUMERO"})
_ROUTE_QUALIFIERS = frozenset({"NACIONAL", "NAC", "DEPARTAMENTAL", "DEPTAL"})
_ADDRESS_TOKEN = re.compile(
    r"(?P<sn>\bS\s*/\s*N\b)|(?P<num>\d+(?:[.,]\d+)*)|(?P<word>[A-Z]+)|(?P<slash>/)|(?P<mark>[#\u00b0])|(?P<comma>[,;])"
)
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")
_ADDRESS_APOSTROPHE = re.compile(r"(?<=[A-Z])'(?=[A-Z])")
# The shape of most addresses, read by _plain_address: words and whole numbers separated by spaces ("CALLE EJIDO
# 1234"), then perhaps an apartment after a slash ("1234/502") or a locality after a comma ("1234, MONTEVIDEO"). The
# locality starts with a letter: in "1234,5" the comma is a decimal comma, and the tokenizer reads one number.
_PLAIN_ADDRESS = re.compile(
    r" *(?P<street>(?:[A-Z]+|[0-9]+)(?: +(?:[A-Z]+|[0-9]+))*)"
    r"(?: */ *(?P<apartment>[0-9]+)| *, *(?P<locality>[A-Z]+(?: +(?:[A-Z]+|[0-9]+))*))? *"
)


class _Tok(NamedTuple):
    kind: str
    value: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Address:
    """A standardised street address. Every part is normalised text or ``None``.

    * ``street_type``: a key of :data:`STREET_TYPES` (``AVENIDA``, ``BULEVAR``...), ``None`` when not written.
    * ``street_name``: ``18 DE JULIO``; ``5`` for ``Ruta 5``.
    * ``number``: the door number, ``1234``, ``1234 BIS`` or ``1234A``; ``None`` when absent or ``S/N``.
    * ``unit``: labelled parts in the order written, canonical labels: ``APTO 502``, ``BLOCK B APTO 101``,
      ``MZ 12 SOLAR 5``.
    * ``corner``: the street at the corner (``esq.``/``esquina``), its street type expanded: ``AVENIDA ITALIA``.
    * ``km``: the kilometre on a route, decimal point, no trailing zeros: ``Km 17,500`` is ``17.5``.
    * ``locality``: text after a comma that is not a unit, corner or km (``MONTEVIDEO``).
    * ``extra``: anything else, kept rather than dropped (``ENTRE EJIDO Y YAGUARON``).
    """

    street_type: str | None = None
    street_name: str | None = None
    number: str | None = None
    unit: str | None = None
    corner: str | None = None
    km: str | None = None
    locality: str | None = None
    extra: str | None = None


def _unit_id(toks: Sequence[_Tok], j: int) -> tuple[str, int] | None:
    """The unit identifier starting at ``toks[j]`` (``502``, ``5B``, ``B``, ``B2``) and the index after it."""
    if j >= len(toks):
        return None
    tok = toks[j]
    if tok.kind == "num":
        ident = re.sub(r"\D", "", tok.value)
        if j + 1 < len(toks) and toks[j + 1].kind == "word" and len(toks[j + 1].value) == 1:
            if toks[j + 1].start == tok.end:
                return ident + toks[j + 1].value, j + 2
        return ident, j + 1
    if tok.kind == "word" and len(tok.value) == 1:
        if j + 1 < len(toks) and toks[j + 1].kind == "num" and toks[j + 1].start == tok.end:
            return tok.value + toks[j + 1].value, j + 2
        return tok.value, j + 1
    return None


def _qualifier_starts(toks: Sequence[_Tok], j: int, after_street: bool) -> bool:
    """Whether ``toks[j]`` starts something other than the street name and door number."""
    tok = toks[j]
    if tok.kind in ("comma", "slash", "mark", "sn"):
        return True
    if tok.kind != "word":
        return False
    nxt = toks[j + 1] if j + 1 < len(toks) else None
    word = tok.value
    if word in _CORNER_WORDS:
        return nxt is not None
    if word in _KM_WORDS:
        return nxt is not None and nxt.kind == "num"
    if word in _NUMBER_WORDS:
        return nxt is not None and nxt.kind in ("num", "mark")
    label = _UNIT_LABEL_OF.get(word)
    if label is not None and (after_street or label in _LOCATION_LABELS):
        return _unit_id(toks, j + 1) is not None
    return word == "ENTRE" and after_street


def _door_number(value: str) -> str:
    digits = value.replace(".", "") if _THOUSANDS.fullmatch(value) else re.sub(r"\D", "", value)
    return digits.lstrip("0") or "0"


def _km_value(value: str) -> str:
    value = value.replace(",", ".")
    whole, _, frac = value.partition(".")
    whole = re.sub(r"\D", "", whole).lstrip("0") or "0"
    frac = re.sub(r"\D", "", frac).rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def _with_street_type(words: Sequence[str]) -> str:
    if len(words) > 1 and words[0] in _STREET_TYPE_OF:
        return " ".join([_STREET_TYPE_OF[words[0]], *words[1:]])
    return " ".join(words)


# Words that can start a unit, a corner, a km or a door number ("N° 1234").
_ADDRESS_KEYWORDS = frozenset({*_CORNER_WORDS, *_KM_WORDS, *_NUMBER_WORDS, *_UNIT_LABEL_OF, "ENTRE"})


def _plain_address(words: list[str], apartment: str | None, locality: str | None) -> Address | None:
    """What :func:`standardise_address` makes of an address of :data:`_PLAIN_ADDRESS`'s shape, in fewer steps; ``None``
    when the shape holds something this does not read (a keyword, an empty street), for the general reading.

    ``words`` may end in a unit label and its number (``APTO 502``). No other word is a keyword, so no token before the
    unit, slash or comma starts a qualifier: the street and door number run up to there. Tokens are apart, so no letter
    is joined to the door number or to the unit number. The arithmetic on ``n`` (the number of tokens) and the order of
    the checks are those of :func:`standardise_address`.
    """
    n = len(words)
    unit: str | None = None
    if n >= 3 and words[-2] in _UNIT_LABEL_OF and words[-1].isdigit():
        unit = f"{_UNIT_LABEL_OF[words[-2]]} {words[-1]}"
        words = words[:-2]
    if not _ADDRESS_KEYWORDS.isdisjoint(words):
        return None
    if apartment is not None:
        if unit is not None:
            return None
        n += 2  # the slash and the number
        unit = f"APTO {apartment}"
    place: list[str] = []
    if locality is not None:
        place = locality.split()
        if not _ADDRESS_KEYWORDS.isdisjoint(place):
            return None
        n += 1 + len(place)  # the comma and the words
    i = 0
    street_type: str | None = None
    if n > 1 and words[0] in _STREET_TYPE_OF:
        street_type = _STREET_TYPE_OF[words[0]]
        i = 1
        if street_type == "RUTA" and i < len(words) and i < n - 1 and words[i] in _ROUTE_QUALIFIERS:
            i += 1
    main = words[i:]
    if not main:
        return None
    number: str | None = None
    extra: list[str] = []
    last_num = 0  # the door number is never the first word of the street
    for j in range(len(main) - 1, 0, -1):
        if main[j][0].isdigit():
            last_num = j
            break
    if last_num:
        extra = main[last_num + 1 :]
        number = main[last_num].lstrip("0") or "0"  # _door_number of plain digits
        if extra and extra[0] == "BIS":
            number, extra = f"{number} BIS", extra[1:]
        main = main[:last_num]
    return Address(
        street_type=street_type,
        street_name=" ".join(main),
        number=number,
        unit=unit,
        locality=" ".join(place) or None,
        extra=" ".join(extra) or None,
    )


def standardise_address(text: str) -> Address:
    """Split a free-text Uruguayan street address into an :class:`Address`.

    Handles the usual ways of writing one: ``Av. 18 de Julio 1234 apto 502``, ``AVENIDA 18 DE JULIO 1234/502``,
    ``18 de Julio N° 1234 Ap. 502``, ``Bvar. Artigas 1100 esq. Av. Italia``, ``Ruta 5 km 32,500``, ``Calle 12 N° 345``,
    ``Camino del Andaluz s/n``, ``Manzana 12 Solar 5``, ``18 DE JULIO 1234 - APTO 502, MONTEVIDEO``. Street names may
    start with a number (``8 de Octubre``); the door number is the last number after the first word of the name.

    Raises :class:`StandardisationError` (field ``address``) when the text is empty or has nothing recognisable.
    """
    field = "address"
    folded = _fold(text)
    if "'" in folded:
        folded = _ADDRESS_APOSTROPHE.sub("", folded)
    plain = _PLAIN_ADDRESS.fullmatch(folded)
    if plain is not None:
        address = _plain_address(plain["street"].split(), plain["apartment"], plain["locality"])
        if address is not None:
            return address
    toks = [_Tok(str(m.lastgroup), m.group(), m.start(), m.end()) for m in _ADDRESS_TOKEN.finditer(folded)]
    if not toks:
        raise StandardisationError(field, text, "is empty" if not text.strip() else "has no letters or digits")
    n = len(toks)
    i = 0
    street_type: str | None = None
    if n > 1 and toks[0].kind == "word" and toks[0].value in _STREET_TYPE_OF:
        street_type = _STREET_TYPE_OF[toks[0].value]
        i = 1
        if street_type == "RUTA" and i < n - 1 and toks[i].value in _ROUTE_QUALIFIERS:
            i += 1
    main: list[_Tok] = []
    while i < n and not _qualifier_starts(toks, i, bool(main)):
        main.append(toks[i])
        i += 1

    number: str | None = None
    extra: list[str] = []
    name_toks = main
    last_num = next((j for j in range(len(main) - 1, 0, -1) if main[j].kind == "num"), None)
    if last_num is not None:
        name_toks, rest = main[:last_num], main[last_num + 1 :]
        number = _door_number(main[last_num].value)
        if rest and rest[0].value == "BIS":
            number, rest = f"{number} BIS", rest[1:]
        elif rest and len(rest[0].value) == 1 and rest[0].kind == "word" and rest[0].start == main[last_num].end:
            number, rest = number + rest[0].value, rest[1:]
        extra.extend(t.value for t in rest)

    units: list[str] = []
    corner: str | None = None
    km: str | None = None
    locality: str | None = None

    def collect(j: int) -> tuple[list[str], int]:
        words: list[str] = []
        while j < n and toks[j].kind != "comma" and not _qualifier_starts(toks, j, True):
            words.append(toks[j].value)
            j += 1
        return words, j

    while i < n:
        tok = toks[i]
        word = tok.value if tok.kind == "word" else ""
        if tok.kind == "comma":
            words, i = collect(i + 1)
            if words and locality is None:
                locality = " ".join(words)
            else:
                extra.extend(words)
        elif tok.kind == "sn":
            i += 1
        elif tok.kind == "mark" or (word in _NUMBER_WORDS and _qualifier_starts(toks, i, True)):
            i += 1
            while i < n and (toks[i].kind == "mark" or toks[i].value in _NUMBER_WORDS):
                i += 1
            if i < n and toks[i].kind == "num":
                door = _door_number(toks[i].value)
                i += 1
                if i < n and toks[i].value == "BIS":
                    door, i = f"{door} BIS", i + 1
                if number is None:
                    number = door
                else:
                    extra.append(door)
        elif tok.kind == "slash":
            ident = _unit_id(toks, i + 1)
            if ident is not None:
                units.append(f"APTO {ident[0]}")
                i = ident[1]
            else:
                i += 1
        elif word in _KM_WORDS and i + 1 < n and toks[i + 1].kind == "num":
            km = _km_value(toks[i + 1].value)
            i += 2
        elif word in _CORNER_WORDS:
            words, i = collect(i + 1)
            if words:
                corner = _with_street_type(words)
        elif word in _UNIT_LABEL_OF and (ident := _unit_id(toks, i + 1)) is not None:
            units.append(f"{_UNIT_LABEL_OF[word]} {ident[0]}")
            i = ident[1]
        elif word == "ENTRE":
            words, i = collect(i + 1)
            extra.append(" ".join(["ENTRE", *words]))
        else:
            extra.append(tok.value)
            i += 1

    street_name = " ".join(t.value for t in name_toks) or None
    address = Address(
        street_type=street_type,
        street_name=street_name,
        number=number,
        unit=" ".join(units) or None,
        corner=corner,
        km=km,
        locality=locality,
        extra=" ".join(extra) or None,
    )
    if street_name is None and number is None and not units and km is None and corner is None:
        raise StandardisationError(field, text, "has no street, number, unit or km")
    return address


#: The 19 departments of Uruguay, normalised.
DEPARTMENTS: tuple[str, ...] = (
    "ARTIGAS",
    "CANELONES",
    "CERRO LARGO",
    "COLONIA",
    "DURAZNO",
    "FLORES",
    "FLORIDA",
    "LAVALLEJA",
    "MALDONADO",
    "MONTEVIDEO",
    "PAYSANDU",
    "RIO NEGRO",
    "RIVERA",
    "ROCHA",
    "SALTO",
    "SAN JOSE",
    "SORIANO",
    "TACUAREMBO",
    "TREINTA Y TRES",
)

#: Other ways of writing a department: ISO 3166-2:UY codes and common abbreviations.
DEPARTMENT_ALIASES: Mapping[str, str] = {
    "UY-AR": "ARTIGAS",
    "UY-CA": "CANELONES",
    "UY-CL": "CERRO LARGO",
    "UY-CO": "COLONIA",
    "UY-DU": "DURAZNO",
    "UY-FS": "FLORES",
    "UY-FD": "FLORIDA",
    "UY-LA": "LAVALLEJA",
    "UY-MA": "MALDONADO",
    "UY-MO": "MONTEVIDEO",
    "UY-PA": "PAYSANDU",
    "UY-RN": "RIO NEGRO",
    "UY-RV": "RIVERA",
    "UY-RO": "ROCHA",
    "UY-SA": "SALTO",
    "UY-SJ": "SAN JOSE",
    "UY-SO": "SORIANO",
    "UY-TA": "TACUAREMBO",
    "UY-TT": "TREINTA Y TRES",
    "MVD": "MONTEVIDEO",
    "MDEO": "MONTEVIDEO",
    "MONT": "MONTEVIDEO",
    "33": "TREINTA Y TRES",
    "T Y TRES": "TREINTA Y TRES",
    "TREINTA Y 3": "TREINTA Y TRES",
    "TYT": "TREINTA Y TRES",
}
_DEPARTMENT_PREFIX = re.compile(r"^(?:DEPARTAMENTO|DEPTO|DPTO|DEPT|DEP)(?: DE)? ")


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment (Damerau-Levenshtein with adjacent transpositions) distance, capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _typo_allowance(name: str) -> int:
    return 2 if len(name) >= 9 else 1 if len(name) >= 5 else 0


def department(
    text: str,
    *,
    names: Sequence[str] = DEPARTMENTS,
    aliases: Mapping[str, str] = DEPARTMENT_ALIASES,
) -> str | None:
    """The department ``text`` names, normalised (``PAYSANDU``, ``TREINTA Y TRES``), or ``None``.

    Case, accents, spacing (``Treintaytres``) and a ``Departamento de`` prefix do not matter; ISO 3166-2:UY codes
    (``UY-MO``) and abbreviations (``MVD``, ``33``) are aliases. Typos are tolerated by edit distance (with adjacent
    transpositions): one edit for names of 5 to 8 letters, two for 9 or more, none for shorter ones; the closest name
    wins and a tie returns ``None`` rather than a guess. Pass ``names``/``aliases`` for another country.
    """
    normalised = normalise_text(text, keep_hyphens=False)
    normalised = _DEPARTMENT_PREFIX.sub("", normalised)
    compact = normalised.replace(" ", "")
    if not compact:
        return None
    for alias, name in aliases.items():
        if normalise_text(alias, keep_hyphens=False).replace(" ", "") == compact:
            return name
    candidates = {name.replace(" ", ""): name for name in names}
    if compact in candidates:
        return candidates[compact]
    scored: list[tuple[int, str]] = []
    for key, name in candidates.items():
        allowance = _typo_allowance(key)
        distance = _osa_distance(compact, key, allowance)
        if distance <= allowance:
            scored.append((distance, name))
    scored.sort()
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


# --------------------------------------------------------------------------------------------------------------------
# Sex
# --------------------------------------------------------------------------------------------------------------------

#: Sex codes -> ``M``, ``F`` or ``None`` (unknown). Numeric codes follow ISO/IEC 5218, which the INE also uses:
#: ``1`` male, ``2`` female, ``0`` not known, ``9`` not applicable. ``H``/``V`` are hombre/varón. ``M`` means
#: *masculino* here; for sources that code hombre/mujer as ``H``/``M`` pass ``m_means="mujer"`` to
#: :func:`normalise_sex`. Keys are compared after :func:`normalise_text` with spaces removed (``S/D`` is ``SD``).
SEX_CODES: Mapping[str, Sex | None] = {
    "M": "M",
    "MASC": "M",
    "MASCULINO": "M",
    "H": "M",
    "HOMBRE": "M",
    "V": "M",
    "VARON": "M",
    "1": "M",
    "MALE": "M",
    "F": "F",
    "FEM": "F",
    "FEMENINO": "F",
    "MUJER": "F",
    "2": "F",
    "FEMALE": "F",
    "0": None,
    "9": None,
    "SD": None,
    "ND": None,
    "NS": None,
    "SINDATO": None,
    "SINDATOS": None,
    "DESCONOCIDO": None,
    "NOSABE": None,
    "NOCORRESPONDE": None,
    "I": None,
    "INDETERMINADO": None,
}


def normalise_sex(value: str, *, m_means: Literal["masculino", "mujer"] = "masculino") -> Sex | None:
    """``"M"``, ``"F"`` or ``None`` for a sex code (see :data:`SEX_CODES`); empty means ``None``.

    Any value not in the table raises :class:`StandardisationError` (field ``sex``) instead of silently becoming
    ``None``, so that a source with an unexpected coding is noticed.
    """
    key = normalise_text(value, keep_hyphens=False).replace(" ", "")
    if not key:
        return None
    if key == "M" and m_means == "mujer":
        return "F"
    if key not in SEX_CODES:
        raise StandardisationError(
            "sex", value, "is not a known sex code (M/F, masculino/femenino, H/hombre, mujer, varón, 1/2)"
        )
    return SEX_CODES[key]


# --------------------------------------------------------------------------------------------------------------------
# Phones and e-mails
# --------------------------------------------------------------------------------------------------------------------

_PHONE_EXTENSION = re.compile(r"\s*(?:INT(?:ERNO)?|EXT(?:ENSION)?|X)\s*\.?\s*:?\s*(\d{1,6})\s*$")
_PHONE_ALLOWED = frozenset("0123456789+-.()/ ")
_PHONE_SPLIT = re.compile(r"[/;,]| [YO] ")
_PHONE_SEPARATORS = str.maketrans("", "", "+-.()/ ")
# ASCII digits with spaces and + - . ( ): one number, no extension, nothing to refuse (no slash, which separates two).
_PHONE_PLAIN = re.compile(r"[0-9+\-.() ]*[0-9][0-9+\-.() ]*")


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number in E.164 form (``+59899123456``), its kind, and an extension (``interno``) if any.

    ``kind`` is ``mobile`` (Uruguayan ``09x``), ``landline`` (``2`` Montevideo and metropolitan area, ``4`` interior)
    or ``foreign`` (any other country code, checked only for length).
    """

    e164: str
    kind: Literal["mobile", "landline", "foreign"]
    extension: str | None = None

    @property
    def national(self) -> str:
        """How it is dialled in Uruguay: ``099 123 456`` or ``2908 1234``; the E.164 form for foreign numbers."""
        if self.kind == "foreign":
            return self.e164
        nsn = self.e164[4:]
        if self.kind == "mobile":
            return f"0{nsn[:2]} {nsn[2:5]} {nsn[5:]}"
        return f"{nsn[:4]} {nsn[4:]}"


def parse_phone(text: str) -> Phone:
    """Parse a Uruguayan or international phone number into a :class:`Phone`.

    Uruguayan numbers have 8 digits after the country code ``598``: mobiles ``9[1-9]xxxxxx`` (dialled ``09x xxx
    xxx``), landlines ``2xxxxxxx`` (Montevideo) and ``4xxxxxxx`` (interior). Accepted: ``099 123 456``,
    ``99123456``, ``+598 99 123 456``, ``00598 99123456``, ``598 99 123 456``, ``+598 099 123 456`` (a stray 0),
    ``2908 1234``, ``(02) 908 1234`` (a pre-2010 trunk 0), with ``int. 123``/``interno 123``/``ext 123`` extensions.
    Other country codes (``+54 11 4123 4567``) are kept as ``foreign`` when they have 8 to 15 digits.

    Raises :class:`StandardisationError` (field ``phone``) when empty, containing letters, holding more than one
    number, of the wrong length, or not starting like a Uruguayan landline or mobile (``0800``/``0900`` service
    numbers included).
    """
    field = "phone"
    extension: str | None = None
    if _PHONE_PLAIN.fullmatch(text):
        # The checks below cannot fail on it: ASCII is unchanged by NFKC, _PRE_TRANSLATE and upper(); an extension
        # needs letters; two numbers need a separator (/ ; , Y O); every character is allowed.
        s = " ".join(text.split())
    else:
        s = " ".join(unicodedata.normalize("NFKC", text).translate(_PRE_TRANSLATE).upper().split())
        if not s:
            raise StandardisationError(field, text, "is empty")
        m = _PHONE_EXTENSION.search(s)
        if m and re.search(r"\d", s[: m.start()]):
            extension, s = m[1], s[: m.start()].strip()
        parts = [p for p in _PHONE_SPLIT.split(s) if sum(ch.isdigit() for ch in p) >= 6]
        if len(parts) > 1:
            raise StandardisationError(field, text, f"contains {len(parts)} numbers; give one per field")
        bad = sorted({ch for ch in s if ch not in _PHONE_ALLOWED})
        if bad:
            raise StandardisationError(
                field, text, f"contains {''.join(bad)!r}; a phone has digits, spaces and + - . ( )"
            )
    # ``s`` now holds only the characters of _PHONE_ALLOWED: deleting the separators leaves the digits.
    digits = s.translate(_PHONE_SEPARATORS)
    if not digits:
        raise StandardisationError(field, text, "has no digits")
    international = s.startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international and not digits.startswith("598"):
        if not 8 <= len(digits) <= 15:
            raise StandardisationError(field, text, f"has {len(digits)} digits; an international number has 8 to 15")
        return Phone("+" + digits, "foreign", extension)
    if international or (len(digits) in (11, 12) and digits.startswith("598")):
        nsn = digits[3:]
        if len(nsn) == 9 and nsn.startswith("0"):
            nsn = nsn[1:]  # "+598 099 123 456": the domestic 0 written after the country code
        if len(nsn) != 8:
            raise StandardisationError(
                field, text, f"has {len(nsn)} digits after +598; Uruguayan numbers have 8 (e.g. +598 99 123 456)"
            )
    elif len(digits) == 9 and digits.startswith("0"):
        nsn = digits[1:]
    elif len(digits) == 8:
        nsn = digits
    else:
        hint = "; Montevideo numbers gained a leading 2 in 2010" if len(digits) == 7 else ""
        raise StandardisationError(
            field, text, f"has {len(digits)} digits; a Uruguayan number has 8 (9 with the 0 of 09x mobiles){hint}"
        )
    if nsn[0] == "9":
        if nsn[1] == "0":
            raise StandardisationError(field, text, "090 is not a mobile prefix; mobiles are 091 to 099")
        return Phone("+598" + nsn, "mobile", extension)
    if nsn[0] in "24":
        return Phone("+598" + nsn, "landline", extension)
    raise StandardisationError(
        field, text, f"{nsn} is neither a landline (2 or 4...) nor a mobile (09...); service numbers are not personal"
    )


_EMAIL_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalise_email(text: str) -> str:
    """Lower-case, trimmed e-mail address; an internationalised domain becomes its ASCII (punycode) form.

    A ``mailto:`` prefix and surrounding ``<>`` are removed. The local part is lower-cased too: strictly it is
    case-sensitive, but no mail provider in use treats it so, and matching needs one form. Provider-specific rewrites
    (Gmail dots and ``+tags``) are *not* applied: they are not universal. Quoted local parts are not supported.

    Raises :class:`StandardisationError` (field ``email``) for an empty value, spaces inside, no or several ``@``, an
    empty, too long or badly formed local part, or a domain without a dot or with an invalid label.
    """
    field = "email"
    s = unicodedata.normalize("NFKC", text).strip()
    if s[:7].lower() == "mailto:":
        s = s[7:].strip()
    if s.startswith("<") and s.endswith(">"):
        s = s[1:-1].strip()
    if not s:
        raise StandardisationError(field, text, "is empty")
    if any(ch.isspace() for ch in s):
        raise StandardisationError(field, text, "contains spaces")
    if s.count("@") != 1:
        raise StandardisationError(field, text, "has no @" if "@" not in s else "has more than one @")
    local, _, domain = s.lower().partition("@")
    if not local:
        raise StandardisationError(field, text, "has nothing before the @")
    if len(local) > 64:
        raise StandardisationError(field, text, f"has a local part of {len(local)} characters; the limit is 64")
    if not _EMAIL_LOCAL.fullmatch(local):
        raise StandardisationError(
            field, text, "has a badly formed local part (leading, trailing or double dot, or a character not allowed)"
        )
    domain = domain.rstrip(".")
    if not domain:
        raise StandardisationError(field, text, "has nothing after the @")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise StandardisationError(field, text, f"has a domain that cannot be encoded ({error})") from None
    labels = domain.split(".")
    if len(labels) < 2:
        raise StandardisationError(field, text, f"has the domain {domain!r} without a dot")
    bad = next((label for label in labels if not _EMAIL_LABEL.fullmatch(label)), None)
    if bad is not None:
        raise StandardisationError(field, text, f"has an invalid domain label {bad!r}")
    if labels[-1].isdigit():
        raise StandardisationError(field, text, f"has a numeric top-level domain {labels[-1]!r}")
    address = f"{local}@{domain}"
    if len(address) > 254:
        raise StandardisationError(field, text, f"is {len(address)} characters long; the limit is 254")
    return address
