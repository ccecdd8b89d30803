"""Deterministic synthetic Uruguay-like people and their records across four agencies, with the ground truth.

The population is a stream of households. A household shares an address; a couple's children carry the father's
first surname and the mother's first surname (a single mother's children carry her two surnames); twins are born
now and then. Everyone has a unique cédula with a valid check digit.

Each person has 1 to 5 records spread over four agencies, each writing the same facts its own way and with its own
noise (rates in :class:`SyntheticConfig`):

* ``DNIC`` (identity registry): clean. Upper case with accents, ``1.234.567-2``, ``1980-03-03``, full street types.
* ``BPS`` (social security): no accents, ``12345672``, ``03031980``, sex ``1``/``2``, abbreviated street types; drops
  the second surname sometimes, abbreviates given names sometimes (``JUAN P.``, ``MA. JOSE``), misspells the
  department sometimes.
* ``DGI`` (tax office): ``SURNAMES, GIVEN NAMES`` in one field, ``1234567-2``, ``03/03/1980``; swaps day and month
  sometimes (only where the swap is a real date), mistypes one cédula digit sometimes.
* ``IM`` (Intendencia de Montevideo, so Montevideo residents only): title case, ``3/3/1980``, sex ``Hombre``/
  ``Mujer``; writes addresses five ways, misses the cédula sometimes, uses a surname variant (``Pereyra``) sometimes.

Records of minors at ``BPS`` and ``IM`` sometimes carry a parent's cédula. A person with 5 records, or more records
than agencies that would hold them, has duplicate records within an agency (never at ``DNIC``).

Every record carries the truth (``person_id``, ``household_id``, and ``noise``: the tags of the noise applied), so a
linker can be scored; :func:`write_csv` keeps the truth in a separate file. The same seed and configuration always
give the same records, in the same order.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Literal, NamedTuple

from entramado.identity.standardise import SURNAME_VARIANTS, cedula_check_digit, format_cedula

if TYPE_CHECKING:
    from _csv import Writer

__all__ = [
    "AGENCIES",
    "AGENCY_COLUMNS",
    "NOISE_TAGS",
    "Household",
    "HouseholdAddress",
    "Person",
    "RecordKey",
    "SyntheticConfig",
    "SyntheticRecord",
    "generate_records",
    "iter_households",
    "main",
    "truth_clusters",
    "truth_pairs",
    "write_csv",
]

AGENCIES: tuple[str, ...] = ("DNIC", "BPS", "DGI", "IM")

#: Noise tags a record's ``noise`` field may hold, ``|``-separated.
NOISE_TAGS: frozenset[str] = frozenset(
    {
        "drop_second_surname",  # BPS
        "abbreviate_given",  # BPS
        "department_typo",  # BPS
        "swap_day_month",  # DGI
        "cedula_typo",  # DGI
        "missing_cedula",  # IM
        "surname_variant",  # IM
        "parent_cedula",  # BPS, IM: a minor's record with a parent's cédula
        "duplicate",  # a second record of the person at the same agency
        *(f"address_form_{k}" for k in range(5)),  # IM: which of its five ways of writing an address
    }
)

_REFERENCE_DATE = date(2025, 1, 1)


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """Rates of the generator. Noise rates are probabilities per eligible record:

    * ``bps_drop_second_surname``, ``bps_abbreviate_given_names``, ``bps_department_typo``: every BPS record.
    * ``dgi_swap_day_month``: DGI records whose day is at most 12 and differs from the month (others cannot be
      swapped into a real date). ``dgi_cedula_typo``: every DGI record. One digit changes (never to a leading zero).
      About one typo in twenty still has a valid check digit, as in real data: a change of 5 under an even weight
      (2, 8, 6, 4) leaves the sum's last digit alone.
    * ``im_missing_cedula``: every IM record. ``im_surname_variant``: IM records of people with a surname that has a
      variant spelling in :data:`~entramado.identity.standardise.SURNAME_VARIANTS`.
    * ``child_parent_cedula``: BPS and IM records of minors (under 18 at ``reference_date``) whose cédula is not
      otherwise missing.

    ``twin_rate`` is the probability that a child is born with a twin. ``records_per_person`` weighs 1, 2, 3, 4 and
    5 records. Ages are computed at ``reference_date``.
    """

    bps_drop_second_surname: float = 0.25
    bps_abbreviate_given_names: float = 0.2
    bps_department_typo: float = 0.03
    dgi_swap_day_month: float = 0.1
    dgi_cedula_typo: float = 0.03
    im_missing_cedula: float = 0.15
    im_surname_variant: float = 0.1
    child_parent_cedula: float = 0.1
    twin_rate: float = 0.03
    records_per_person: tuple[float, float, float, float, float] = (0.2, 0.3, 0.25, 0.15, 0.1)
    reference_date: date = _REFERENCE_DATE

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be a probability between 0 and 1, not {value}")
        if len(self.records_per_person) != 5 or min(self.records_per_person) < 0 or sum(self.records_per_person) <= 0:
            raise ValueError("records_per_person needs five non-negative weights, not all zero")


@dataclass(frozen=True, slots=True)
class HouseholdAddress:
    """A household's address, as the truth. ``unit`` is an apartment number; rural addresses have ``km``."""

    street_type: str
    street_name: str
    number: int | None
    unit: str | None
    km: str | None
    corner: str
    department: str


@dataclass(frozen=True, slots=True)
class Person:
    """A synthetic person, as the truth. Names are upper case with accents, as DNIC writes them."""

    person_id: int
    household_id: int
    given_names: str
    first_surname: str
    second_surname: str
    sex: Literal["M", "F"]
    birth_date: date
    cedula_body: int
    mobile: str | None
    email: str | None
    parent_ids: tuple[int, ...] = ()
    twin_of: int | None = None

    @property
    def cedula_digits(self) -> str:
        """The canonical 8-digit cédula (body padded to 7 digits, then the check digit)."""
        return f"{self.cedula_body:07d}{cedula_check_digit(self.cedula_body)}"

    def is_minor(self, at: date) -> bool:
        """Under 18 on ``at``."""
        return (
            at.year - self.birth_date.year - ((at.month, at.day) < (self.birth_date.month, self.birth_date.day))
        ) < 18


@dataclass(frozen=True, slots=True)
class Household:
    """People living together at one address, with the landline they share (8 digits) if any."""

    household_id: int
    address: HouseholdAddress
    landline: str | None
    members: tuple[Person, ...]


class SyntheticRecord(NamedTuple):
    """One agency's record of one person: raw fields as strings (``""`` when the agency has none), plus the truth."""

    agency: str
    record_id: str
    person_id: int
    household_id: int
    cedula: str = ""
    given_names: str = ""
    first_surname: str = ""
    second_surname: str = ""
    full_name: str = ""
    birth_date: str = ""
    sex: str = ""
    address: str = ""
    department: str = ""
    phone: str = ""
    email: str = ""
    noise: str = ""


RecordKey = tuple[str, str]  # (agency, record_id)

#: The raw columns each agency keeps, in the order :func:`write_csv` writes them.
AGENCY_COLUMNS: dict[str, tuple[str, ...]] = {
    "DNIC": (
        "record_id",
        "cedula",
        "given_names",
        "first_surname",
        "second_surname",
        "birth_date",
        "sex",
        "address",
        "department",
    ),
    "BPS": (
        "record_id",
        "cedula",
        "given_names",
        "first_surname",
        "second_surname",
        "birth_date",
        "sex",
        "address",
        "department",
        "phone",
    ),
    "DGI": ("record_id", "cedula", "full_name", "birth_date", "sex", "address", "department", "email"),
    "IM": (
        "record_id",
        "cedula",
        "given_names",
        "first_surname",
        "second_surname",
        "birth_date",
        "sex",
        "address",
        "phone",
        "email",
    ),
}
TRUTH_COLUMNS = ("agency", "record_id", "person_id", "household_id", "noise")

#: The mapping file (see :mod:`entramado.identity.mapping`) for the four files :func:`write_csv` writes. IM (the
#: Intendencia de Montevideo) holds Montevideo residents only and writes no department: a constant there.
MAPPING_TOML = """
[[source]]
name = "DNIC"
path = "DNIC.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
given_names = "given_names"
first_surname = "first_surname"
second_surname = "second_surname"
birth_date = "birth_date"
sex = "sex"
address = "address"
department = "department"

[[source]]
name = "BPS"
path = "BPS.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
given_names = "given_names"
first_surname = "first_surname"
second_surname = "second_surname"
birth_date = { column = "birth_date", format = "%d%m%Y" }
sex = "sex"
address = "address"
department = "department"
phone = "phone"

[[source]]
name = "DGI"
path = "DGI.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
full_name = "full_name"
birth_date = { column = "birth_date", format = "%d/%m/%Y" }
sex = "sex"
address = "address"
department = "department"
email = "email"

[[source]]
name = "IM"
path = "IM.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
given_names = "given_names"
first_surname = "first_surname"
second_surname = "second_surname"
birth_date = { column = "birth_date", format = "%d/%m/%Y" }
sex = "sex"
address = "address"
department = { value = "MONTEVIDEO" }
phone = "phone"
email = "email"
"""

# --------------------------------------------------------------------------------------------------------------------
# Source tables
# --------------------------------------------------------------------------------------------------------------------

_MALE_NAMES = (
    "JUAN JOSÉ CARLOS LUIS JORGE DIEGO MARTÍN PABLO FEDERICO RODRIGO SEBASTIÁN NICOLÁS MAXIMILIANO AGUSTÍN SANTIAGO "
    "IGNACIO MATEO JOAQUÍN FACUNDO GONZALO MATÍAS FRANCISCO GUILLERMO ALEJANDRO GABRIEL FERNANDO DANIEL MANUEL BRUNO "
    "FELIPE TOMÁS LUCAS EMILIANO WASHINGTON WALTER NÉSTOR RICARDO MARCELO GUSTAVO ÁLVARO ANDRÉS LEONARDO HUGO RAÚL "
    "RUBÉN EDUARDO ALBERTO ROBERTO SERGIO FABIÁN THIAGO BENJAMÍN"
).split()
_FEMALE_NAMES = (
    "MARÍA ANA LAURA LUCÍA FLORENCIA VALENTINA CAMILA GABRIELA SOFÍA MARTINA AGUSTINA VICTORIA CAROLINA PAULA "
    "FERNANDA DANIELA NATALIA CECILIA VERÓNICA SILVIA MÓNICA CLAUDIA PATRICIA ALEJANDRA ANDREA MARIANA JIMENA MICAELA "
    "EUGENIA SOLEDAD NOELIA GRACIELA BEATRIZ ISABEL ELENA JULIETA CATALINA EMILIA JOSEFINA GUADALUPE MERCEDES INÉS "
    "LOURDES"
).split()
_MALE_COMPOUNDS = ("JUAN PABLO", "JUAN MARTÍN", "JOSÉ LUIS", "JUAN CARLOS", "LUIS ALBERTO", "JUAN JOSÉ", "JOSÉ MARÍA")
_FEMALE_COMPOUNDS = (
    "MARÍA JOSÉ",
    "MARÍA NOEL",
    "MARÍA EUGENIA",
    "MARÍA DEL CARMEN",
    "MARÍA DE LOS ÁNGELES",
    "ANA LAURA",
    "MARÍA INÉS",
)
_SURNAMES = (
    "GONZÁLEZ",
    "RODRÍGUEZ",
    "FERNÁNDEZ",
    "PÉREZ",
    "MARTÍNEZ",
    "GARCÍA",
    "LÓPEZ",
    "SILVA",
    "SOSA",
    "PEREIRA",
    "SUÁREZ",
    "GÓMEZ",
    "DÍAZ",
    "ÁLVAREZ",
    "RAMÍREZ",
    "CABRERA",
    "ACOSTA",
    "NÚÑEZ",
    "BENÍTEZ",
    "MÉNDEZ",
    "CASTRO",
    "ROMERO",
    "OLIVERA",
    "DA SILVA",
    "DE LOS SANTOS",
    "DOS SANTOS",
    "DE LEÓN",
    "TECHERA",
    "FERREIRA",
    "VIERA",
    "CARDOZO",
    "CORREA",
    "DUARTE",
    "MACHADO",
    "MÁRQUEZ",
    "MOREIRA",
    "PÍRIZ",
    "LARROSA",
    "LIMA",
    "MEDINA",
    "VÁZQUEZ",
    "HERNÁNDEZ",
    "MORALES",
    "TORRES",
    "RAMOS",
    "MUÑOZ",
    "SÁNCHEZ",
    "GIMÉNEZ",
    "BARBOZA",
    "DA ROSA",
    "VAN ROMPAEY",
    "DEL RÍO",
    "PONCE DE LEÓN",
    "PÉREZ DEL CASTILLO",
    "SÁENZ DE ZUMARÁN",
    "O'NEILL",
    "GARCÍA-PINTOS",
    "ECHEVERRÍA",
    "ALVEZ",
    "MOLINA",
)
_SURNAME_WEIGHTS = tuple(itertools.accumulate(1.0 / (rank + 4) for rank in range(len(_SURNAMES))))

_DEPARTMENTS_WEIGHTED = (
    ("MONTEVIDEO", 39.0),
    ("CANELONES", 15.5),
    ("MALDONADO", 5.0),
    ("SALTO", 3.8),
    ("COLONIA", 3.7),
    ("PAYSANDÚ", 3.4),
    ("SAN JOSÉ", 3.3),
    ("RIVERA", 3.1),
    ("TACUAREMBÓ", 2.6),
    ("CERRO LARGO", 2.5),
    ("SORIANO", 2.4),
    ("ARTIGAS", 2.2),
    ("ROCHA", 2.1),
    ("FLORIDA", 2.0),
    ("LAVALLEJA", 1.7),
    ("DURAZNO", 1.7),
    ("RÍO NEGRO", 1.6),
    ("TREINTA Y TRES", 1.4),
    ("FLORES", 0.8),
)
_DEPARTMENTS = tuple(name for name, _ in _DEPARTMENTS_WEIGHTED)
_DEPARTMENT_WEIGHTS = tuple(itertools.accumulate(weight for _, weight in _DEPARTMENTS_WEIGHTED))

_STREETS = (
    ("AVENIDA", "18 DE JULIO"),
    ("AVENIDA", "ITALIA"),
    ("AVENIDA", "AGRACIADA"),
    ("AVENIDA", "8 DE OCTUBRE"),
    ("AVENIDA", "GENERAL FLORES"),
    ("AVENIDA", "MILLÁN"),
    ("AVENIDA", "BRASIL"),
    ("AVENIDA", "RIVERA"),
    ("AVENIDA", "LUIS ALBERTO DE HERRERA"),
    ("AVENIDA", "DE LAS INSTRUCCIONES"),
    ("AVENIDA", "SARMIENTO"),
    ("BULEVAR", "ARTIGAS"),
    ("BULEVAR", "ESPAÑA"),
    ("BULEVAR", "BATLLE Y ORDÓÑEZ"),
    ("CAMINO", "CARRASCO"),
    ("CAMINO", "MALDONADO"),
    ("CAMINO", "DE LAS TROPAS"),
    ("CALLE", "COLONIA"),
    ("CALLE", "SAN JOSÉ"),
    ("CALLE", "MERCEDES"),
    ("CALLE", "URUGUAY"),
    ("CALLE", "PAYSANDÚ"),
    ("CALLE", "EJIDO"),
    ("CALLE", "YAGUARÓN"),
    ("CALLE", "RONDEAU"),
    ("CALLE", "GARIBALDI"),
    ("CALLE", "JUAN PAULLIER"),
    ("CALLE", "CONSTITUYENTE"),
    ("CALLE", "SOCA"),
    ("CALLE", "SANTIAGO DE CHILE"),
    ("CALLE", "TREINTA Y TRES"),
    ("CALLE", "ZELMAR MICHELINI"),
    ("CALLE", "25 DE MAYO"),
    ("CALLE", "12"),
    ("PASAJE", "A"),
    ("RAMBLA", "REPÚBLICA DE MÉXICO"),
    ("RAMBLA", "O'HIGGINS"),
)
_ROUTES = ("1", "3", "5", "7", "8", "9", "26", "INTERBALNEARIA")
_EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "adinet.com.uy", "yahoo.com", "outlook.com", "vera.com.uy")

# Street-type spellings: BPS abbreviates, IM writes two abbreviated forms; "" means the type is left out.
_TYPE_BPS = {"AVENIDA": "AV", "BULEVAR": "BV", "CAMINO": "CNO", "CALLE": "", "PASAJE": "PJE", "RAMBLA": "RBLA"}
_TYPE_IM_0 = {
    "AVENIDA": "Av.",
    "BULEVAR": "Bv.",
    "CAMINO": "Cno.",
    "CALLE": "Calle",
    "PASAJE": "Pje.",
    "RAMBLA": "Rbla.",
}
_TYPE_IM_3 = {"AVENIDA": "Avda.", "BULEVAR": "Bvar.", "CAMINO": "Camino", "CALLE": "", "PASAJE": "Pasaje"}
_TYPE_IM_3_DEFAULT = "Rambla"

# Variant spellings the IM may use, by the ASCII form of a truth surname (from the standardiser's table, so the
# standardiser can undo them).
_SURNAME_VARIANT_OF: dict[str, tuple[str, ...]] = {
    canonical: tuple(v for v in variants if " " not in v) for canonical, variants in SURNAME_VARIANTS.items()
}

_LOWER_IN_TITLE = frozenset({"DE", "DEL", "LA", "LAS", "LOS", "DA", "DAS", "DO", "DOS", "Y", "VAN"})
_ASCII: dict[str, str] = {}
_TITLE: dict[str, str] = {}


def _ascii(s: str) -> str:
    """Upper case without accents, as systems that cannot store them write names (Ñ becomes N)."""
    out = _ASCII.get(s)
    if out is None:
        out = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))
        _ASCII[s] = out
    return out


def _title(s: str) -> str:
    """``PÉREZ DE LOS SANTOS`` -> ``Pérez de los Santos``; ``O'NEILL`` -> ``O'Neill``; ``18 DE JULIO`` kept."""
    out = _TITLE.get(s)
    if out is None:
        words = []
        for i, word in enumerate(s.split(" ")):
            if i and word in _LOWER_IN_TITLE:
                words.append(word.lower())
            else:
                words.append(
                    "-".join("'".join(p[:1] + p[1:].lower() for p in part.split("'")) for part in word.split("-"))
                )
        out = " ".join(words)
        _TITLE[s] = out
    return out


# --------------------------------------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------------------------------------


def _coprime_multiplier(rng: Random, modulus: int) -> int:
    while True:
        candidate = rng.randrange(modulus // 3, modulus)
        if math.gcd(candidate, modulus) == 1:
            return candidate


class _Population:
    """Draws households. All randomness comes from one ``Random``, in a fixed order."""

    _CEDULA_BASE = 500_000  # bodies from 500.000 to 7.999.999: some six-digit (older) cédulas
    _CEDULA_SPAN = 7_500_000

    def __init__(self, rng: Random, config: SyntheticConfig) -> None:
        self.rng = rng
        self.config = config
        self.next_person = 0
        self.next_household = 0
        self.cedula_a = _coprime_multiplier(rng, self._CEDULA_SPAN)
        self.cedula_b = rng.randrange(self._CEDULA_SPAN)

    def cedula_body(self, index: int) -> int:
        # An affine permutation of the index: unique cédulas without remembering the ones given out.
        if index >= self._CEDULA_SPAN:
            raise OverflowError(f"more than {self._CEDULA_SPAN} people: the cédula space is exhausted")
        return self._CEDULA_BASE + (index * self.cedula_a + self.cedula_b) % self._CEDULA_SPAN

    def surname(self) -> str:
        return self.rng.choices(_SURNAMES, cum_weights=_SURNAME_WEIGHTS)[0]

    def given_names(self, sex: str, avoid: set[str]) -> str:
        rng = self.rng
        names, compounds = (_MALE_NAMES, _MALE_COMPOUNDS) if sex == "M" else (_FEMALE_NAMES, _FEMALE_COMPOUNDS)
        while True:
            r = rng.random()
            if r < 0.12:
                given = rng.choice(compounds)
            elif r < 0.6:
                first, second = rng.sample(names, 2)
                given = f"{first} {second}"
            else:
                given = rng.choice(names)
            if given.split()[0] not in avoid:
                avoid.add(given.split()[0])
                return given

    def birth_date(self, age: int) -> date:
        reference = self.config.reference_date
        return reference - timedelta(days=age * 365 + age // 4 + self.rng.randrange(1, 366))

    def address(self) -> HouseholdAddress:
        rng = self.rng
        dept = rng.choices(_DEPARTMENTS, cum_weights=_DEPARTMENT_WEIGHTS)[0]
        street_type, name = rng.choice(_STREETS)
        corner = rng.choice([n for _, n in _STREETS if n != name])
        if dept != "MONTEVIDEO" and rng.random() < 0.1:
            km10 = rng.randrange(20, 4000)
            km = f"{km10 // 10}.{km10 % 10}" if km10 % 10 else str(km10 // 10)
            return HouseholdAddress("RUTA", rng.choice(_ROUTES), None, None, km, corner, dept)
        unit_rate = 0.45 if dept == "MONTEVIDEO" else 0.15
        unit = f"{rng.randrange(1, 13)}{rng.randrange(1, 5):02d}" if rng.random() < unit_rate else None
        return HouseholdAddress(street_type, name, rng.randrange(1, 6000), unit, None, corner, dept)

    def contact(self, given: str, surname: str, age: int) -> tuple[str | None, str | None]:
        rng = self.rng
        mobile = None
        if (age >= 18 and rng.random() < 0.85) or (13 <= age < 18 and rng.random() < 0.5):
            mobile = f"9{rng.randrange(1, 10)}{rng.randrange(1_000_000):06d}"
        email = None
        if age >= 16 and rng.random() < 0.6:
            local = "".join(ch for ch in _ascii(f"{given.split()[0]}.{surname}").lower() if ch.isalnum() or ch == ".")
            email = f"{local}{rng.randrange(100) if rng.random() < 0.6 else ''}@{rng.choice(_EMAIL_DOMAINS)}"
        return mobile, email

    def person(
        self,
        household_id: int,
        sex: Literal["M", "F"],
        age: int,
        surnames: tuple[str, str],
        avoid: set[str],
        parents: tuple[int, ...] = (),
        birth_date: date | None = None,
        twin_of: int | None = None,
    ) -> Person:
        index = self.next_person
        self.next_person += 1
        given = self.given_names(sex, avoid)
        born = birth_date if birth_date is not None else self.birth_date(age)
        mobile, email = self.contact(given, surnames[0], age)
        return Person(
            person_id=index + 1,
            household_id=household_id,
            given_names=given,
            first_surname=surnames[0],
            second_surname=surnames[1],
            sex=sex,
            birth_date=born,
            cedula_body=self.cedula_body(index),
            mobile=mobile,
            email=email,
            parent_ids=parents,
            twin_of=twin_of,
        )

    def household(self) -> Household:
        rng = self.rng
        self.next_household += 1
        hid = self.next_household
        address = self.address()
        prefix = "2" if address.department in ("MONTEVIDEO", "CANELONES") else "4"
        landline = f"{prefix}{rng.randrange(10_000_000):07d}" if rng.random() < 0.35 else None
        kind = rng.choices(("single", "couple", "family", "single_parent"), weights=(0.22, 0.2, 0.43, 0.15))[0]
        avoid: set[str] = set()
        adults: list[Person] = []
        if kind == "single":
            sex: Literal["M", "F"] = "M" if rng.random() < 0.5 else "F"
            adults.append(self.person(hid, sex, rng.randrange(18, 91), (self.surname(), self.surname()), avoid))
        elif kind == "single_parent":
            sex = "F" if rng.random() < 0.8 else "M"
            adults.append(self.person(hid, sex, rng.randrange(20, 61), (self.surname(), self.surname()), avoid))
        else:
            age = rng.randrange(20, 86) if kind == "couple" else rng.randrange(20, 61)
            father_age, mother_age = age, max(18, min(90, age + rng.randrange(-6, 5)))
            adults.append(self.person(hid, "M", father_age, (self.surname(), self.surname()), avoid))
            adults.append(self.person(hid, "F", mother_age, (self.surname(), self.surname()), avoid))
        members = list(adults)
        if kind in ("family", "single_parent"):
            youngest_parent = min(self.config.reference_date.year - a.birth_date.year for a in adults)
            father = adults[0] if adults[0].sex == "M" and len(adults) == 2 else None
            mother = next((a for a in adults if a.sex == "F"), None)
            if father is not None and mother is not None:
                surnames = (father.first_surname, mother.first_surname)
            elif mother is not None:
                surnames = (mother.first_surname, mother.second_surname)
            else:
                surnames = (adults[0].first_surname, self.surname())
            parents = tuple(a.person_id for a in adults)
            max_age = max(0, min(youngest_parent - 18, 30))
            wanted = rng.choices((1, 2, 3, 4), weights=(0.4, 0.35, 0.17, 0.08))[0]
            for child_age in rng.sample(range(max_age + 1), min(wanted, max_age + 1)):  # siblings: different ages
                child_sex: Literal["M", "F"] = "M" if rng.random() < 0.5 else "F"
                child = self.person(hid, child_sex, child_age, surnames, avoid, parents)
                members.append(child)
                if rng.random() < self.config.twin_rate:
                    twin_sex: Literal["M", "F"] = "M" if rng.random() < 0.5 else "F"
                    twin = self.person(
                        hid, twin_sex, child_age, surnames, avoid, parents, child.birth_date, child.person_id
                    )
                    members[-1] = replace(child, twin_of=twin.person_id)
                    members.append(twin)
        return Household(hid, address, landline, tuple(members))


def iter_households(seed: int = 0, config: SyntheticConfig | None = None) -> Iterator[Household]:
    """The endless, deterministic stream of households for ``seed``.

    It depends only on the seed and the population settings of ``config`` (``twin_rate``, ``reference_date``), not on
    the noise rates, so the same people come out whatever noise is configured. Person and household ids count from 1.
    """
    population = _Population(Random(f"entramado-synthetic/{seed}/people"), config or SyntheticConfig())
    while True:
        yield population.household()


# --------------------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------------------


class _RecordIds:
    """Per-agency record ids: an affine permutation of a counter, so ids are unique but reveal no order."""

    _MODULUS = 10**9

    def __init__(self, rng: Random) -> None:
        self.params = {
            agency: (_coprime_multiplier(rng, self._MODULUS), rng.randrange(self._MODULUS)) for agency in AGENCIES
        }
        self.counters = dict.fromkeys(AGENCIES, 0)

    def next(self, agency: str) -> str:
        count = self.counters[agency]
        if count >= self._MODULUS:
            raise OverflowError(f"more than {self._MODULUS} records for {agency}")
        self.counters[agency] = count + 1
        a, b = self.params[agency]
        return f"{(count * a + b) % self._MODULUS:09d}"


def _mobile_text(nsn: str, style: int) -> str:
    if style == 0:
        return f"+598 {nsn[:2]} {nsn[2:5]} {nsn[5:]}"
    if style == 1:
        return f"0{nsn[:2]} {nsn[2:5]} {nsn[5:]}"
    return f"0{nsn}"


def _landline_text(nsn: str, style: int) -> str:
    if style == 0:
        return f"{nsn[:4]} {nsn[4:]}"
    if style == 1:
        return f"(0{nsn[0]}) {nsn[1:4]} {nsn[4:]}"
    return nsn


class _Renderer:
    """Writes records the way each agency does, applying its noise. All randomness comes from one ``Random``."""

    def __init__(self, rng: Random, config: SyntheticConfig) -> None:
        self.rng = rng
        self.config = config
        self.ids = _RecordIds(rng)

    # -- agency choice ------------------------------------------------------------------------------------------------

    def agencies_for(self, person: Person, household: Household) -> list[str]:
        rng = self.rng
        minor = person.is_minor(self.config.reference_date)
        weights = {
            "DNIC": 1.0,
            "BPS": 0.5 if minor else 0.8,
            "DGI": 0.05 if minor else 0.6,
            "IM": 0.6 if household.address.department == "MONTEVIDEO" else 0.0,
        }
        wanted = rng.choices((1, 2, 3, 4, 5), weights=self.config.records_per_person)[0]
        pool = [a for a in AGENCIES if weights[a] > 0]
        chosen: list[str] = []
        while pool and len(chosen) < wanted:
            total = sum(weights[a] for a in pool)
            r = rng.random() * total
            for agency in pool:
                r -= weights[agency]
                if r < 0:
                    break
            pool.remove(agency)
            chosen.append(agency)
        repeatable = [a for a in chosen if a != "DNIC"] or ["BPS"]
        while len(chosen) < wanted:
            chosen.append(rng.choice(repeatable))
        return chosen

    # -- fields -------------------------------------------------------------------------------------------------------

    def address(self, agency: str, address: HouseholdAddress, tags: list[str]) -> str:
        rng = self.rng
        name, number, unit = address.street_name, address.number, address.unit
        if address.km is not None:
            km, km_comma = address.km, address.km.replace(".", ",")
            whole, _, frac = address.km.partition(".")
            km_metres = f"{whole}.{(frac or '0')}00"
            if agency == "DNIC":
                return f"RUTA {name} KM {km}"
            if agency == "BPS":
                return f"RUTA {_ascii(name)} KM {km_comma}"
            if agency == "DGI":
                return f"RUTA {_ascii(name)} KM. {km_comma}"
            form = rng.randrange(5)
            tags.append(f"address_form_{form}")
            title = _title(name)
            return (
                f"Ruta {title} km {km}",
                f"RUTA {name} KM {km_comma}",
                f"Ruta Nacional {title} Km. {km_metres}",
                f"RUTA {name}, KM {km}",
                f"Ruta {title} km {km}, {_title(address.department)}",
            )[form]
        street_type = address.street_type
        if agency == "DNIC":
            return f"{street_type} {name} {number}" + (f" APTO {unit}" if unit else "")
        if agency == "BPS":
            abbreviation = _TYPE_BPS.get(street_type, street_type)
            prefix = f"{abbreviation} " if abbreviation else ""
            return f"{prefix}{_ascii(name)} {number}" + (f" AP {unit}" if unit else "")
        if agency == "DGI":
            return f"{_ascii(name)} {number}" + (f"/{unit}" if unit else "")
        form = rng.randrange(5)
        tags.append(f"address_form_{form}")
        title = _title(name)
        if form == 0:
            return f"{_TYPE_IM_0.get(street_type, street_type.title())} {title} {number}" + (
                f" apto {unit}" if unit else ""
            )
        if form == 1:
            return f"{street_type} {name} {number}" + (f"/{unit}" if unit else "")
        if form == 2:
            return f"{title} N\u00b0 {number}" + (f" Ap. {unit}" if unit else "")
        if form == 3:
            abbreviation = _TYPE_IM_3.get(street_type, _TYPE_IM_3_DEFAULT)
            prefix = f"{abbreviation} " if abbreviation else ""
            return f"{prefix}{title} {number} esq. {_title(address.corner)}" + (f" apto. {unit}" if unit else "")
        return f"{name} {number}" + (f" - APTO {unit}" if unit else "") + f", {address.department}"

    def department_typo(self, name: str) -> str:
        rng = self.rng
        letters = name.replace(" ", "")
        while True:
            i = rng.randrange(len(letters))
            op = rng.randrange(3)
            if op == 0:
                typo = letters[:i] + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + letters[i + 1 :]
            elif op == 1:
                typo = letters[:i] + letters[i + 1 :]
            else:
                i = min(i, len(letters) - 2)
                typo = letters[:i] + letters[i + 1] + letters[i] + letters[i + 2 :]
            if typo != letters:
                return typo

    def cedula_typo(self, digits: str) -> str:
        rng = self.rng
        i = rng.randrange(len(digits))
        # never a leading zero: that would shorten the body and make the value malformed rather than mistyped
        replacement = rng.choice([d for d in "0123456789"[1 if i == 0 else 0 :] if d != digits[i]])
        return digits[:i] + replacement + digits[i + 1 :]

    def abbreviate_given(self, given: str) -> str:
        words = given.split()
        if words[0] == "MARIA" and len(words) > 1 and self.rng.random() < 0.5:
            return " ".join(["MA.", *words[1:]])
        if len(words) == 1:
            return f"{words[0][0]}."
        return " ".join([*words[:-1], f"{words[-1][0]}."])

    # -- records ------------------------------------------------------------------------------------------------------

    def record(
        self, agency: str, person: Person, household: Household, parents: Sequence[Person], duplicate: bool
    ) -> SyntheticRecord:
        tags: list[str] = ["duplicate"] if duplicate else []
        address = self.address(agency, household.address, tags)
        minor = bool(parents) and person.is_minor(self.config.reference_date)
        render = {"DNIC": self._dnic, "BPS": self._bps, "DGI": self._dgi, "IM": self._im}[agency]
        fields_ = render(person, household, parents if minor else (), tags)
        return SyntheticRecord(
            agency,
            self.ids.next(agency),
            person.person_id,
            household.household_id,
            address=address,
            noise="|".join(tags),
            **fields_,
        )

    def _dnic(self, person: Person, household: Household, parents: Sequence[Person], tags: list[str]) -> dict[str, str]:
        return {
            "cedula": format_cedula(person.cedula_body),
            "given_names": person.given_names,
            "first_surname": person.first_surname,
            "second_surname": person.second_surname,
            "birth_date": person.birth_date.isoformat(),
            "sex": person.sex,
            "department": household.address.department,
        }

    def _bps(self, person: Person, household: Household, parents: Sequence[Person], tags: list[str]) -> dict[str, str]:
        rng, config = self.rng, self.config
        owner = person.cedula_body
        if parents and rng.random() < config.child_parent_cedula:
            owner = rng.choice(parents).cedula_body
            tags.append("parent_cedula")
        given, second = _ascii(person.given_names), _ascii(person.second_surname)
        if rng.random() < config.bps_drop_second_surname:
            second = ""
            tags.append("drop_second_surname")
        if rng.random() < config.bps_abbreviate_given_names:
            given = self.abbreviate_given(given)
            tags.append("abbreviate_given")
        department = _ascii(household.address.department)
        if rng.random() < config.bps_department_typo:
            department = self.department_typo(department)
            tags.append("department_typo")
        born = person.birth_date
        phone = f"0{person.mobile}" if person.mobile else household.landline or ""
        return {
            "cedula": f"{owner}{cedula_check_digit(owner)}",
            "given_names": given,
            "first_surname": _ascii(person.first_surname),
            "second_surname": second,
            "birth_date": f"{born.day:02d}{born.month:02d}{born.year}",
            "sex": "1" if person.sex == "M" else "2",
            "department": department,
            "phone": phone,
        }

    def _dgi(self, person: Person, household: Household, parents: Sequence[Person], tags: list[str]) -> dict[str, str]:
        rng, config = self.rng, self.config
        body = person.cedula_body
        digits = f"{body}{cedula_check_digit(body)}"
        if rng.random() < config.dgi_cedula_typo:
            digits = self.cedula_typo(digits)
            tags.append("cedula_typo")
        born = person.birth_date
        day, month = born.day, born.month
        if day <= 12 and day != month and rng.random() < config.dgi_swap_day_month:
            day, month = month, day
            tags.append("swap_day_month")
        surnames = f"{_ascii(person.first_surname)} {_ascii(person.second_surname)}"
        return {
            "cedula": f"{digits[:-1]}-{digits[-1]}",
            "full_name": f"{surnames}, {_ascii(person.given_names)}",
            "birth_date": f"{day:02d}/{month:02d}/{born.year}",
            "sex": "MASCULINO" if person.sex == "M" else "FEMENINO",
            "department": _ascii(household.address.department),
            "email": person.email or "",
        }

    def _im(self, person: Person, household: Household, parents: Sequence[Person], tags: list[str]) -> dict[str, str]:
        rng, config = self.rng, self.config
        if rng.random() < config.im_missing_cedula:
            cedula = ""
            tags.append("missing_cedula")
        else:
            owner = person.cedula_body
            if parents and rng.random() < config.child_parent_cedula:
                owner = rng.choice(parents).cedula_body
                tags.append("parent_cedula")
            cedula = format_cedula(owner) if rng.random() < 0.5 else f"{owner}{cedula_check_digit(owner)}"
        surnames = [person.first_surname, person.second_surname]
        variable = [i for i, s in enumerate(surnames) if _SURNAME_VARIANT_OF.get(_ascii(s))]
        if variable and rng.random() < config.im_surname_variant:
            i = rng.choice(variable)
            surnames[i] = rng.choice(_SURNAME_VARIANT_OF[_ascii(surnames[i])])
            tags.append("surname_variant")
        phone = ""
        style = rng.randrange(3)
        if person.mobile:
            phone = _mobile_text(person.mobile, style)
        elif household.landline:
            phone = _landline_text(household.landline, style)
        email = ""
        if person.email:
            style = rng.randrange(3)
            email = (person.email, person.email.title(), f" {person.email.upper()} ")[style]
        born = person.birth_date
        return {
            "cedula": cedula,
            "given_names": _title(person.given_names),
            "first_surname": _title(surnames[0]),
            "second_surname": _title(surnames[1]),
            "birth_date": f"{born.day}/{born.month}/{born.year}",
            "sex": "Hombre" if person.sex == "M" else "Mujer",
            "phone": phone,
            "email": email,
        }

    def household_records(self, household: Household) -> Iterator[SyntheticRecord]:
        by_id = {p.person_id: p for p in household.members}
        for person in household.members:
            parents = [by_id[i] for i in person.parent_ids if i in by_id]
            seen: set[str] = set()
            for agency in self.agencies_for(person, household):
                yield self.record(agency, person, household, parents, agency in seen)
                seen.add(agency)


def _shuffled(records: Iterable[SyntheticRecord], rng: Random, window: int) -> Iterator[SyntheticRecord]:
    """A local shuffle through a buffer of ``window`` records: bounded memory, deterministic for a given rng."""
    buffer: list[SyntheticRecord] = []
    for record in records:
        if len(buffer) < window:
            buffer.append(record)
            continue
        i = rng.randrange(window)
        yield buffer[i]
        buffer[i] = record
    rng.shuffle(buffer)
    yield from buffer


def generate_records(
    n_records: int,
    *,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    shuffle_window: int = 0,
) -> Iterator[SyntheticRecord]:
    """Stream ``n_records`` synthetic records (all agencies together), deterministic for ``seed`` and ``config``.

    Records come household by household; the last person may have fewer records than drawn when the count is
    reached. Record ids are unique within an agency and scrambled, so they reveal nothing. Records of a household
    are adjacent unless ``shuffle_window`` > 1, which shuffles through a buffer of that many records (memory stays
    bounded; 100 000 is plenty to hide households). Memory does not grow with ``n_records``.
    """
    if n_records < 0:
        raise ValueError(f"n_records must be at least 0, not {n_records}")
    if shuffle_window < 0:
        raise ValueError(f"shuffle_window must be at least 0, not {shuffle_window}")
    cfg = config or SyntheticConfig()
    renderer = _Renderer(Random(f"entramado-synthetic/{seed}/records"), cfg)
    stream: Iterator[SyntheticRecord] = itertools.islice(
        itertools.chain.from_iterable(map(renderer.household_records, iter_households(seed, cfg))), n_records
    )
    if shuffle_window > 1:
        stream = _shuffled(stream, Random(f"entramado-synthetic/{seed}/shuffle"), shuffle_window)
    return stream


# --------------------------------------------------------------------------------------------------------------------
# Output and truth
# --------------------------------------------------------------------------------------------------------------------


def write_csv(
    records: Iterable[SyntheticRecord], directory: str | os.PathLike[str], *, truth: bool = True
) -> dict[str, int]:
    """Write ``DNIC.csv``, ``BPS.csv``, ``DGI.csv`` and ``IM.csv`` (each with its :data:`AGENCY_COLUMNS`) into
    ``directory``, and ``truth.csv`` (:data:`TRUTH_COLUMNS`) unless ``truth`` is false. Streams; returns the number of
    records per agency. The directory is created if needed; existing files are replaced.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / "mapping.toml").write_text(MAPPING_TOML, encoding="utf-8")
    counts = dict.fromkeys(AGENCIES, 0)
    with ExitStack() as stack:

        def open_writer(name: str, header: Sequence[str]) -> Writer:
            handle = stack.enter_context((path / name).open("w", newline="", encoding="utf-8"))
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            return writer

        writers = {
            agency: (
                open_writer(f"{agency}.csv", AGENCY_COLUMNS[agency]),
                itemgetter(*(SyntheticRecord._fields.index(c) for c in AGENCY_COLUMNS[agency])),
            )
            for agency in AGENCIES
        }
        truth_writer = open_writer("truth.csv", TRUTH_COLUMNS) if truth else None
        truth_fields = itemgetter(*(SyntheticRecord._fields.index(c) for c in TRUTH_COLUMNS))
        for record in records:
            writer, columns = writers[record.agency]
            writer.writerow(columns(record))
            counts[record.agency] += 1
            if truth_writer is not None:
                truth_writer.writerow(truth_fields(record))
    return counts


def identity_fields(row: Mapping[str, str]) -> dict[str, str]:
    """The identifying values of one row of ``DNIC.csv``, ``BPS.csv`` or ``IM.csv`` by canonical field, as the person
    index's API takes them (``POST /records``, ``POST /persons/match``)."""
    return {
        "national_id": row["cedula"],
        "national_id_scheme": "UY-CI",
        "given_names": row["given_names"],
        "first_surname": row["first_surname"],
        "second_surname": row["second_surname"],
        "birth_date": row["birth_date"],
        "sex": row["sex"],
    }


def truth_clusters(
    records: Iterable[SyntheticRecord], *, by: Literal["person", "household"] = "person"
) -> dict[int, list[RecordKey]]:
    """Cluster membership: person id (or household id) -> the ``(agency, record_id)`` keys of its records.

    Holds every key in memory (about 150 bytes a record).
    """
    clusters: dict[int, list[RecordKey]] = {}
    for record in records:
        cluster = record.person_id if by == "person" else record.household_id
        clusters.setdefault(cluster, []).append((record.agency, record.record_id))
    return clusters


def truth_pairs(
    records: Iterable[SyntheticRecord], *, by: Literal["person", "household"] = "person"
) -> Iterator[tuple[RecordKey, RecordKey]]:
    """Every pair of records of the same person (or household), each pair once, the smaller key first."""
    for keys in truth_clusters(records, by=by).values():
        yield from itertools.combinations(sorted(keys), 2)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m entramado.identity.synthetic --records 1000000 --out DIR``: write the CSV files."""
    parser = argparse.ArgumentParser(description="Write synthetic Uruguay-like agency records with ground truth.")
    parser.add_argument("--records", type=int, default=100_000, help="number of records (all agencies)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shuffle-window", type=int, default=100_000, help="0 keeps households adjacent")
    parser.add_argument("--out", required=True, help="directory for DNIC.csv, BPS.csv, DGI.csv, IM.csv, truth.csv")
    args = parser.parse_args(argv)
    counts = write_csv(generate_records(args.records, seed=args.seed, shuffle_window=args.shuffle_window), args.out)
    print(" ".join(f"{agency}={count}" for agency, count in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
