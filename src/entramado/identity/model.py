"""The match model: comparisons with their levels, written once and evaluated two ways.

Each comparison level has an SQL condition (Splink evaluates it in DuckDB or Spark for batch linkage) and a Python
predicate (the real-time matcher evaluates it for one record against its candidates). Both read the columns of
:mod:`entramado.identity.frame`, so that a pair gets the same level, hence the same weight, either way; a test checks
this on generated pairs.

Weights follow Fellegi and Sunter: a level's weight is ``log2(m / u)``, where ``m`` is the probability of the level
among pairs of the same person and ``u`` among pairs of different people; a pair's match weight is the prior's weight
plus the weight of each comparison's level. :mod:`~entramado.identity.linkage` estimates them; :class:`Model` holds
them.

Households are not persons: :func:`household_conflict` says when two records cannot be the same person whatever their
weight (different given names, or different birth dates, unless the cédula and the rest say otherwise). It is what
keeps parents, children and twins apart where their surnames, address and even cédula agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

Row = Mapping[str, Any]
Predicate = Callable[[Row, Row], bool]


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a comparison: a label, its SQL condition over ``col_l``/``col_r``, and the same test in Python."""

    label: str
    sql: str
    test: Predicate


@dataclass(frozen=True, slots=True)
class Comparison:
    """A comparison: its name, the columns it reads, and its levels from the null level (first) to ``else`` (last)."""

    name: str
    columns: tuple[str, ...]
    levels: tuple[Level, ...]

    def level_of(self, left: Row, right: Row) -> int:
        """Index in :attr:`levels` of the first level that holds for the pair."""
        for index, level in enumerate(self.levels):
            if level.test(left, right):
                return index
        return len(self.levels) - 1

    def gamma(self, index: int) -> int:
        """Splink's comparison vector value of level ``index``: -1 for null, 0 for else, higher is closer."""
        return -1 if index == 0 else len(self.levels) - 1 - index


def _null(*columns: str) -> Level:
    sql = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in columns)
    return Level("null", sql, lambda a, b: any(a[c] is None or b[c] is None for c in columns))


def _exact(column: str, label: str = "exact") -> Level:
    return Level(label, f'"{column}_l" = "{column}_r"', lambda a, b: a[column] == b[column])


_ELSE = Level("else", "ELSE", lambda a, b: True)


def _at_least(similarity: float, threshold: float) -> bool:
    # DuckDB and rapidfuzz round differently in the last bit (0.92 against 0.9199999999999999): compare as SQL does.
    return similarity >= threshold - 1e-9


def _equal(a: Row, b: Row, column: str) -> bool:
    """SQL equality: NULL equals nothing, not even NULL."""
    return a[column] is not None and a[column] == b[column]


def _both_null(a: Row, b: Row, column: str) -> bool:
    return a[column] is None or b[column] is None


NATIONAL_ID = Comparison(
    "national_id",
    ("national_id", "national_id_valid"),
    (
        _null("national_id"),
        Level(
            "exact, valid check digit",
            '"national_id_l" = "national_id_r" AND "national_id_valid_l" AND "national_id_valid_r"',
            lambda a, b: (
                a["national_id"] == b["national_id"] and bool(a["national_id_valid"]) and bool(b["national_id_valid"])
            ),
        ),
        _exact("national_id"),
        Level(
            "one edit",
            'damerau_levenshtein("national_id_l", "national_id_r") <= 1',
            lambda a, b: DamerauLevenshtein.distance(a["national_id"], b["national_id"]) <= 1,
        ),
        _ELSE,
    ),
)


def _initials_compatible(a: Row, b: Row) -> bool:
    x, y = a["given_initials"] or "", b["given_initials"] or ""
    return x.startswith(y) or y.startswith(x)


def _names_swapped(a: Row, b: Row) -> bool:
    if a["first_surname"] is None or b["first_surname"] is None:
        return False
    return _at_least(JaroWinkler.similarity(a["given_first"], b["first_surname"]), 0.9) and _at_least(
        JaroWinkler.similarity(a["first_surname"], b["given_first"]), 0.9
    )


GIVEN_NAMES = Comparison(
    "given_names",
    ("given_key", "given_first", "given_initials", "first_surname"),
    (
        _null("given_key"),
        _exact("given_key"),
        Level(
            "first name, initials agree",
            '"given_first_l" = "given_first_r" AND (starts_with(coalesce("given_initials_l", \'\'), '
            "coalesce(\"given_initials_r\", '')) OR starts_with(coalesce(\"given_initials_r\", ''), "
            "coalesce(\"given_initials_l\", '')))",
            lambda a, b: a["given_first"] == b["given_first"] and _initials_compatible(a, b),
        ),
        _exact("given_first", "first name"),
        Level(
            "initials",
            # One initial alone says little (Fernanda, Fernando) unless a side is that initial ("L." for Laura).
            '"given_initials_l" = "given_initials_r" AND (length("given_initials_l") >= 2 '
            'OR length("given_key_l") = 1 OR length("given_key_r") = 1)',
            lambda a, b: (
                _equal(a, b, "given_initials")
                and (len(a["given_initials"]) >= 2 or len(a["given_key"]) == 1 or len(b["given_key"]) == 1)
            ),
        ),
        Level(
            "first name jaro_winkler >= 0.92",
            'jaro_winkler_similarity("given_first_l", "given_first_r") >= 0.92',
            lambda a, b: _at_least(JaroWinkler.similarity(a["given_first"], b["given_first"]), 0.92),
        ),
        Level(
            "given name and surname swapped",
            'jaro_winkler_similarity("given_first_l", "first_surname_r") >= 0.9 AND '
            'jaro_winkler_similarity("first_surname_l", "given_first_r") >= 0.9',
            _names_swapped,
        ),
        _ELSE,
    ),
)


def _second_agrees(a: Row, b: Row) -> bool:
    return _both_null(a, b, "second_surname") or _equal(a, b, "surname2_key")


SURNAMES = Comparison(
    "surnames",
    ("first_surname", "second_surname", "surname1_key", "surname2_key"),
    (
        Level(
            "null",
            '("first_surname_l" IS NULL AND "second_surname_l" IS NULL) OR '
            '("first_surname_r" IS NULL AND "second_surname_r" IS NULL)',
            lambda a, b: (
                (a["first_surname"] is None and a["second_surname"] is None)
                or (b["first_surname"] is None and b["second_surname"] is None)
            ),
        ),
        Level(
            "both exact",
            '"first_surname_l" = "first_surname_r" AND "second_surname_l" = "second_surname_r"',
            lambda a, b: _equal(a, b, "first_surname") and _equal(a, b, "second_surname"),
        ),
        Level(
            "first exact, a second missing",
            '"first_surname_l" = "first_surname_r" AND ("second_surname_l" IS NULL OR "second_surname_r" IS NULL)',
            lambda a, b: (
                a["first_surname"] is not None
                and a["first_surname"] == b["first_surname"]
                and _both_null(a, b, "second_surname")
            ),
        ),
        Level(
            "both sound alike",
            '"surname1_key_l" = "surname1_key_r" AND ("surname2_key_l" = "surname2_key_r" '
            'OR "second_surname_l" IS NULL OR "second_surname_r" IS NULL)',
            lambda a, b: (
                a["surname1_key"] is not None and a["surname1_key"] == b["surname1_key"] and _second_agrees(a, b)
            ),
        ),
        Level(
            "swapped",
            '"surname1_key_l" = "surname2_key_r" AND "surname2_key_l" = "surname1_key_r"',
            lambda a, b: (
                a["surname1_key"] is not None
                and a["surname1_key"] == b["surname2_key"]
                and a["surname2_key"] is not None
                and a["surname2_key"] == b["surname1_key"]
            ),
        ),
        Level(
            "first sounds alike",
            '"surname1_key_l" = "surname1_key_r"',
            lambda a, b: a["surname1_key"] is not None and a["surname1_key"] == b["surname1_key"],
        ),
        Level(
            "first jaro_winkler >= 0.9",
            'jaro_winkler_similarity("first_surname_l", "first_surname_r") >= 0.9',
            lambda a, b: (
                a["first_surname"] is not None
                and b["first_surname"] is not None
                and JaroWinkler.similarity(a["first_surname"], b["first_surname"]) >= 0.9
            ),
        ),
        _ELSE,
    ),
)


def _swapped(a: str, b: str) -> bool:
    return a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]


BIRTH_DATE = Comparison(
    "birth_date",
    ("birth_date", "birth_year"),
    (
        _null("birth_date"),
        _exact("birth_date"),
        Level(
            "day and month swapped",
            'substr("birth_date_l", 1, 4) = substr("birth_date_r", 1, 4) AND '
            'substr("birth_date_l", 6, 2) = substr("birth_date_r", 9, 2) AND '
            'substr("birth_date_l", 9, 2) = substr("birth_date_r", 6, 2)',
            lambda a, b: _swapped(a["birth_date"], b["birth_date"]),
        ),
        Level(
            "one edit",
            'levenshtein("birth_date_l", "birth_date_r") <= 1',
            lambda a, b: Levenshtein.distance(a["birth_date"], b["birth_date"]) <= 1,
        ),
        _exact("birth_year", "same year"),
        _ELSE,
    ),
)

SEX = Comparison("sex", ("sex",), (_null("sex"), _exact("sex"), _ELSE))


def _same_street(a: Row, b: Row) -> bool:
    return bool(a["street_name"] == b["street_name"])


def _same_number(a: Row, b: Row) -> bool:
    return a["street_number"] is not None and a["street_number"] == b["street_number"]


ADDRESS = Comparison(
    "address",
    ("street_name", "street_number", "unit", "locality", "department"),
    (
        _null("street_name"),
        Level(
            "street, number and unit",
            '"street_name_l" = "street_name_r" AND "street_number_l" = "street_number_r" AND '
            '("unit_l" = "unit_r" OR ("unit_l" IS NULL AND "unit_r" IS NULL))',
            lambda a, b: _same_street(a, b) and _same_number(a, b) and a["unit"] == b["unit"],
        ),
        Level(
            "street and number",
            '"street_name_l" = "street_name_r" AND "street_number_l" = "street_number_r"',
            lambda a, b: _same_street(a, b) and _same_number(a, b),
        ),
        Level(
            "number, street jaro_winkler >= 0.9",
            '"street_number_l" = "street_number_r" AND '
            'jaro_winkler_similarity("street_name_l", "street_name_r") >= 0.9',
            lambda a, b: (
                _same_number(a, b) and _at_least(JaroWinkler.similarity(a["street_name"], b["street_name"]), 0.9)
            ),
        ),
        _exact("street_name", "street"),
        Level(
            "locality",
            '"locality_l" = "locality_r"',
            lambda a, b: _equal(a, b, "locality"),
        ),
        Level(
            "department",
            '"department_l" = "department_r"',
            lambda a, b: a["department"] is not None and a["department"] == b["department"],
        ),
        _ELSE,
    ),
)

PHONE = Comparison("phone", ("phone",), (_null("phone"), _exact("phone"), _ELSE))
EMAIL = Comparison("email", ("email",), (_null("email"), _exact("email"), _ELSE))

COMPARISONS: tuple[Comparison, ...] = (NATIONAL_ID, GIVEN_NAMES, SURNAMES, BIRTH_DATE, SEX, ADDRESS, PHONE, EMAIL)
#: Every column a comparison reads.
COMPARED_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(c for comparison in COMPARISONS for c in comparison.columns))


def level_sql(sql: str, dialect: str = "duckdb") -> str:
    """A level's condition in ``dialect``: written for DuckDB, translated for Spark (column names unquoted, Splink's
    ``jaro_winkler`` for ``jaro_winkler_similarity``, ``startswith`` for ``starts_with``)."""
    if dialect == "duckdb" or sql == "ELSE":
        return sql
    import sqlglot

    spark = sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
    return spark.replace("JAROWINKLER_SIMILARITY(", "jaro_winkler(").replace(
        "JARO_WINKLER_SIMILARITY(", "jaro_winkler("
    )


def splink_comparisons(dialect: str = "duckdb") -> list[dict[str, Any]]:
    """The comparisons as Splink settings (``comparisons`` key) for ``dialect``, levels in order."""
    out = []
    for comparison in COMPARISONS:
        levels: list[dict[str, Any]] = []
        for index, level in enumerate(comparison.levels):
            entry: dict[str, Any] = {"sql_condition": level_sql(level.sql, dialect), "label_for_charts": level.label}
            if index == 0:
                entry["is_null_level"] = True
            levels.append(entry)
        out.append({"output_column_name": comparison.name, "comparison_levels": levels})
    return out


# Level labels that make two records different people whatever else agrees (see household_conflict).
_GIVEN_DIFFERENT = GIVEN_NAMES.levels.index(_ELSE)
_DATE_DIFFERENT = (BIRTH_DATE.levels.index(_ELSE), len(BIRTH_DATE.levels) - 2)  # else, same year only
#: Levels of the cédula comparison that mean the same cédula (exact, with or without a valid check digit).
NATIONAL_ID_SAME = (1, 2)
_SEX_DIFFERENT = SEX.levels.index(_ELSE)


def household_conflict(levels: Sequence[int]) -> bool:
    """True when a pair's comparison levels (indices into each comparison's levels, in :data:`COMPARISONS` order)
    say the two records are different people: household members, twins, or a parent's cédula on a child's record.

    * Given names that disagree outright, unless cédula and birth date agree exactly (a typo beyond the name
      comparison's reach, or an unknown nickname): twins and siblings share everything else.
    * Birth dates more than a typo or a day/month swap apart, unless cédula and given names agree exactly: a
      parent's cédula on a child's record agrees on the cédula and the surnames, never on the birth date.
    * Different sexes, unless given names agree exactly: twins Fernanda and Fernando share the first letter and
      most of the name.
    """
    nid, given, born, sex = levels[0], levels[1], levels[3], levels[4]
    id_same = nid in NATIONAL_ID_SAME
    if given == _GIVEN_DIFFERENT and not (id_same and born == 1):
        return True
    if sex == _SEX_DIFFERENT and given != 1:
        return True
    return born in _DATE_DIFFERENT and not (id_same and given == 1)


def household_conflicts(levels: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """:func:`household_conflict` for many pairs at once (one row of level indices per pair)."""
    nid, given, born, sex = levels[:, 0], levels[:, 1], levels[:, 3], levels[:, 4]
    id_same = np.isin(nid, NATIONAL_ID_SAME)
    given_diff = (given == _GIVEN_DIFFERENT) & ~(id_same & (born == 1))
    sex_diff = (sex == _SEX_DIFFERENT) & (given != 1)
    date_diff = np.isin(born, _DATE_DIFFERENT) & ~(id_same & (given == 1))
    result: npt.NDArray[np.bool_] = given_diff | sex_diff | date_diff
    return result


def household_conflict_sql() -> str:
    """:func:`household_conflict` over Splink's ``gamma_*`` columns of a predictions table."""

    def gamma(comparison: Comparison, index: int) -> int:
        return comparison.gamma(index)

    given_diff = f"gamma_given_names = {gamma(GIVEN_NAMES, _GIVEN_DIFFERENT)}"
    ids_same = " OR ".join(f"gamma_national_id = {gamma(NATIONAL_ID, i)}" for i in NATIONAL_ID_SAME)
    date_exact = f"gamma_birth_date = {gamma(BIRTH_DATE, 1)}"
    date_diff = " OR ".join(f"gamma_birth_date = {gamma(BIRTH_DATE, i)}" for i in _DATE_DIFFERENT)
    given_exact = f"gamma_given_names = {gamma(GIVEN_NAMES, 1)}"
    sex_diff = f"gamma_sex = {gamma(SEX, _SEX_DIFFERENT)}"
    return (
        f"(({given_diff}) AND NOT (({ids_same}) AND {date_exact})) OR "
        f"(({sex_diff}) AND NOT {given_exact}) OR "
        f"(({date_diff}) AND NOT (({ids_same}) AND {given_exact}))"
    )


@dataclass(frozen=True, slots=True)
class Model:
    """Trained parameters: the prior probability that two random records match and, per comparison, the ``m`` and
    ``u`` probability of each level (null level excluded, in level order)."""

    prior: float
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]

    def weights(self) -> tuple[tuple[float, ...], ...]:
        """``log2(m / u)`` per comparison level; the null level weighs 0."""
        return tuple(
            (0.0, *(math.log2(max(m, 1e-12) / max(u, 1e-12)) for m, u in zip(ms, us, strict=True)))
            for ms, us in zip(self.m, self.u, strict=True)
        )

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def as_dict(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "comparisons": {
                c.name: {"levels": [level.label for level in c.levels[1:]], "m": list(m), "u": list(u)}
                for c, m, u in zip(COMPARISONS, self.m, self.u, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """The model :meth:`as_dict` wrote. Raises :class:`ValueError` when it was trained for other comparison
        levels than :data:`COMPARISONS` has now (a model saved by an earlier version must be trained again)."""
        comparisons = data["comparisons"]
        for c in COMPARISONS:
            saved = comparisons.get(c.name)
            labels = [level.label for level in c.levels[1:]]
            if saved is None or len(saved["m"]) != len(labels) or saved.get("levels", labels) != labels:
                raise ValueError(f"the model was trained for other levels of the {c.name!r} comparison")
        return cls(
            prior=float(data["prior"]),
            m=tuple(tuple(float(x) for x in comparisons[c.name]["m"]) for c in COMPARISONS),
            u=tuple(tuple(float(x) for x in comparisons[c.name]["u"]) for c in COMPARISONS),
        )


def probability(weight: float) -> float:
    """Match probability of a match weight."""
    return 1.0 / (1.0 + math.pow(2.0, -weight))
