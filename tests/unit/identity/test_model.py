"""The match model: each comparison level's SQL condition (batch, in DuckDB) and its Python test (real time) give the
same level for the same pair, and the household rules agree in both forms."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from entramado.bench.identity_realtime import PLAUSIBLE_MODEL, synthetic_values
from entramado.identity.frame import COLUMNS, PERSON_FIELDS
from entramado.identity.model import COMPARISONS, Model, household_conflict, household_conflict_sql
from entramado.identity.synthetic import generate_records

Row = dict[str, Any]
Pair = tuple[Row, Row]
_TYPES = dict(COLUMNS)


def _sql_levels(pairs: Sequence[Pair]) -> list[tuple[int, ...]]:
    """Each pair's level per comparison, as Splink computes them: the first level whose SQL condition holds, the
    last (``ELSE``) otherwise, with the two sides as ``_l`` / ``_r`` columns."""
    columns = {
        f"{name}{side}": pa.array([pair[i][name] for pair in pairs], type=_TYPES[name])
        for name in PERSON_FIELDS
        for i, side in enumerate(("_l", "_r"))
    }
    cases = []
    for comparison in COMPARISONS:
        whens = " ".join(f"WHEN {level.sql} THEN {i}" for i, level in enumerate(comparison.levels[:-1]))
        cases.append(f'CASE {whens} ELSE {len(comparison.levels) - 1} END AS "{comparison.name}"')
    with duckdb.connect() as connection:
        connection.register("pairs", pa.table(columns))
        rows: list[tuple[int, ...]] = connection.sql(f"SELECT {', '.join(cases)} FROM pairs").fetchall()  # noqa: S608
    return rows


def _python_levels(pair: Pair) -> tuple[int, ...]:
    return tuple(comparison.level_of(*pair) for comparison in COMPARISONS)


def _disagreements(pairs: Sequence[Pair]) -> list[str]:
    out = []
    for pair, sql in zip(pairs, _sql_levels(pairs), strict=True):
        for comparison, sql_level, py_level in zip(COMPARISONS, sql, _python_levels(pair), strict=True):
            if sql_level != py_level:
                values = {c: (pair[0][c], pair[1][c]) for c in comparison.columns}
                out.append(
                    f"{comparison.name}: SQL {comparison.levels[sql_level].label!r}, "
                    f"Python {comparison.levels[py_level].label!r}, values {values}"
                )
    return out


@pytest.fixture(scope="module")
def generated_pairs() -> list[Pair]:
    """Pairs of records of one person, of one household (different people: the hard cases) and random pairs."""
    records = list(generate_records(1000, seed=21))
    rows = [dict(zip(PERSON_FIELDS, synthetic_values(r), strict=True)) for r in records]
    by_person: dict[int, list[Row]] = {}
    by_household: dict[int, list[tuple[int, Row]]] = {}
    for record, row in zip(records, rows, strict=True):
        by_person.setdefault(record.person_id, []).append(row)
        by_household.setdefault(record.household_id, []).append((record.person_id, row))
    pairs: list[Pair] = []
    for person_rows in by_person.values():
        pairs.extend(itertools.permutations(person_rows, 2))  # both orders: some levels read one side only
    for members in by_household.values():
        pairs.extend((a, b) for (pa_, a), (pb, b) in itertools.combinations(members, 2) if pa_ != pb)
    rng = random.Random(21)
    pairs.extend((rng.choice(rows), rng.choice(rows)) for _ in range(1000))
    return pairs


def test_sql_and_python_levels_agree_on_generated_pairs(generated_pairs: list[Pair]) -> None:
    assert len(generated_pairs) > 3000
    assert _disagreements(generated_pairs) == []
    # The pairs exercise the comparisons: each reaches its else level and at least two others (sex has only two).
    levels = [_python_levels(pair) for pair in generated_pairs]
    for i, comparison in enumerate(COMPARISONS):
        reached = {pair_levels[i] for pair_levels in levels}
        assert len(comparison.levels) - 1 in reached, comparison.name
        assert len(reached) >= min(3, len(comparison.levels) - 1), (comparison.name, reached)


def _row(**values: Any) -> Row:
    row: Row = dict.fromkeys(PERSON_FIELDS)
    row.update(
        given_names="JUAN PABLO",
        given_key="JUAN PABLO",
        given_first="JUAN",
        given_initials="JP",
        first_surname="PEREZ",
        second_surname="GOMEZ",
        surname1_key="PERES",
        surname2_key="GOMES",
        birth_date="1980-03-04",
        birth_year=1980,
        birth_date_ambiguous=False,
        sex="M",
        national_id="12345672",
        national_id_valid=True,
        street_name="ITALIA",
        street_number="1234",
        department="MONTEVIDEO",
    )
    row.update(values)
    return row


# Hand-made pairs at the edges of the levels: missing values on one or both sides, values that only one side's
# test reads, levels between exact and else.
EDGES: list[Pair] = [
    (_row(national_id_valid=None), _row()),
    (_row(), _row(national_id_valid=None)),
    (_row(national_id="12345673", national_id_valid=False), _row(national_id="12345673")),
    (_row(), _row(national_id="12345627")),
    (_row(national_id=None), _row()),
    (_row(given_initials=None), _row(given_key="JUAN", given_initials="J")),
    (_row(given_key="JUAN", given_initials="J"), _row(given_key="JUAN CARLOS", given_initials="JC")),
    (_row(given_key="JUAN", given_first="JUAN", given_initials="J"), _row(given_key="JOAN", given_first="JOAN")),
    (_row(second_surname=None, surname2_key=None), _row()),
    (_row(first_surname=None, surname1_key=None), _row()),
    (_row(first_surname=None, surname1_key=None, second_surname=None, surname2_key=None), _row()),
    (_row(first_surname="GOMEZ", second_surname="PEREZ", surname1_key="GOMES", surname2_key="PERES"), _row()),
    (_row(first_surname="PEREYRA", surname1_key="PERES"), _row()),
    (_row(first_surname="PERES", surname1_key="PERES", second_surname="RODRIGUEZ", surname2_key="RODRIGES"), _row()),
    (_row(birth_date="1980-04-03"), _row()),
    (_row(birth_date="1980-03-14"), _row()),
    (_row(birth_date="1980-11-24"), _row()),
    (_row(birth_date=None, birth_year=None), _row()),
    (_row(unit="APTO 1"), _row()),
    (_row(unit="APTO 1"), _row(unit="APTO 1")),
    (_row(street_number=None), _row(street_number=None)),
    (_row(street_name="RIVERA"), _row()),
    (_row(street_name="ITALLIA"), _row()),
    (_row(street_name="ITALLIA", street_number=None), _row()),
    (_row(street_name="RIVERA", locality="MALVIN"), _row(locality="MALVIN")),
    (_row(street_name="RIVERA", locality=None), _row(locality=None)),
    (_row(department=None, street_name="RIVERA"), _row(department=None)),
    (_row(sex=None, phone="+59899123456", email="a@b.uy"), _row(phone="+59899123456", email="a@b.uy")),
]


def test_sql_and_python_levels_agree_at_the_edges() -> None:
    assert _disagreements(EDGES) == []


# Pairs where SQL and Python once disagreed: NULL never equals NULL in SQL, and DuckDB and rapidfuzz round
# Jaro-Winkler differently in the last bit.
EDGE_CASES = [
    pytest.param(
        _row(first_surname=None, surname1_key=None),
        _row(first_surname=None, surname1_key=None),
        id="surnames-both-exact-with-no-first-surname",
    ),
    pytest.param(
        _row(surname2_key=None, second_surname="DE LOS"),
        _row(surname2_key=None, second_surname="DEL"),
        id="surnames-sound-alike-with-no-second-key",
    ),
    pytest.param(
        _row(given_key="DEL", given_first="DEL", given_initials=None),
        _row(given_key="DE LA", given_first="DE", given_initials=None),
        id="given-initials-both-missing",
    ),
    pytest.param(
        _row(given_key="WASHINGTON", given_first="WASHINGTON", given_initials="W"),
        _row(given_key="WISASHINGTON LUIS", given_first="WISASHINGTON", given_initials="WL"),
        id="given-first-jaro-winkler-exactly-0.92",
    ),
]


@pytest.mark.parametrize(("left", "right"), EDGE_CASES)
def test_sql_and_python_agree_on_edge_cases(left: Row, right: Row) -> None:
    assert _disagreements([(left, right)]) == []


def _gamma_rows(combinations: Sequence[Sequence[int]]) -> list[Mapping[str, int]]:
    return [
        {f"gamma_{c.name}": c.gamma(level) for c, level in zip(COMPARISONS, levels, strict=True)}
        for levels in combinations
    ]


def test_household_conflict_sql_agrees_with_python() -> None:
    # Every combination of the levels the rule reads (cédula, given names, surnames, birth date); the other
    # comparisons at each of their ends.
    read = [range(len(c.levels)) for c in COMPARISONS[:4]]
    rest = [(0, len(c.levels) - 1) for c in COMPARISONS[4:]]
    combinations = list(itertools.product(*read, *rest))
    gammas = _gamma_rows(combinations)
    table = pa.table({name: pa.array([g[name] for g in gammas], type=pa.int64()) for name in gammas[0]})
    query = f"SELECT ({household_conflict_sql()}) FROM predictions"  # noqa: S608
    with duckdb.connect() as connection:
        connection.register("predictions", table)
        sql = [bool(row[0]) for row in connection.sql(query).fetchall()]
    python = [household_conflict(levels) for levels in combinations]
    disagreements = [levels for levels, s, p in zip(combinations, sql, python, strict=True) if s != p]
    assert disagreements == []
    assert 0 < sum(python) < len(python)  # the rule separates some pairs and not others


def test_gamma_runs_from_null_to_closest() -> None:
    for comparison in COMPARISONS:
        n = len(comparison.levels)
        assert [comparison.gamma(i) for i in range(n)] == [-1, *range(n - 2, -1, -1)]


def test_a_model_saved_for_other_levels_is_refused() -> None:
    saved = PLAUSIBLE_MODEL.as_dict()
    assert Model.from_dict(saved) == PLAUSIBLE_MODEL
    older = copy.deepcopy(saved)
    address = older["comparisons"]["address"]
    address["m"], address["u"] = address["m"][:-2], address["u"][:-2]
    del address["levels"]  # models saved before the labels were kept
    with pytest.raises(ValueError, match="other levels of the 'address' comparison"):
        Model.from_dict(older)
    relabelled = copy.deepcopy(saved)
    relabelled["comparisons"]["sex"]["levels"] = ["same", "else"]
    with pytest.raises(ValueError, match="'sex'"):
        Model.from_dict(relabelled)
