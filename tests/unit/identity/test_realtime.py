"""The real-time matcher: candidates as batch blocking finds them, weights with their evidence, decisions that keep
households apart, and an index kept current by adds, replacements and removals."""

from __future__ import annotations

import inspect
import itertools
import json
from dataclasses import replace
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from entramado.bench.identity_realtime import PLAUSIBLE_MODEL as MODEL
from entramado.bench.identity_realtime import synthetic_table
from entramado.identity.frame import PERSON_FIELDS, FrameBuilder, keyed_values
from entramado.identity.linkage import BLOCKING_RULES
from entramado.identity.mapping import StandardRecord
from entramado.identity.model import COMPARISONS, probability
from entramado.identity.pipeline import MATCH_WEIGHT, REVIEW_WEIGHT
from entramado.identity.realtime import MatchResult, RecordIndex
from entramado.identity.synthetic import generate_records

# Plausible m and u for a population of some 400 000 people, levels in COMPARISONS order (null level excluded).

_HOME: dict[str, Any] = {
    "street_type": "CALLE",
    "street_name": "MAGALLANES",
    "street_number": "1420",
    "unit": "APTO 3",
    "department": "MONTEVIDEO",
    "phone": "+59824001122",
}


def values(**fields: Any) -> tuple[Any, ...]:
    """A record's values (PERSON_FIELDS order) from standardised fields."""
    return keyed_values(StandardRecord(**fields))


def person(given: str, born: date, cedula: str | None, sex: str, **fields: Any) -> tuple[Any, ...]:
    """Someone of the Rodríguez Silva household, at home."""
    return values(
        given_names=given,
        first_surname="RODRIGUEZ",
        second_surname="SILVA",
        birth_date=born,
        sex=sex,
        national_id=cedula,
        national_id_valid=True if cedula else None,
        **{**_HOME, **fields},
    )


FATHER = "40123454"
TWIN_A, TWIN_B, CHILD = "52345670", "52345688", "61234561"


def household() -> RecordIndex:
    """A father, his twin daughters (same surnames, address and birth date) and a younger son, two records each."""
    index = RecordIndex()
    people = {
        "father": ("JORGE LUIS", date(1975, 6, 2), FATHER, "M"),
        "twin-a": ("LUCIA", date(2010, 9, 14), TWIN_A, "F"),
        "twin-b": ("VALENTINA", date(2010, 9, 14), TWIN_B, "F"),
        "son": ("MATEO", date(2012, 1, 30), CHILD, "M"),
    }
    uid = itertools.count()
    for person_id, (given, born, cedula, sex) in people.items():
        index.add(next(uid), "DNIC", f"D-{person_id}", person(given, born, cedula, sex), person_id)
        index.add(next(uid), "BPS", f"B-{person_id}", person(given, born, cedula, sex, unit=None), person_id)
    return index


def test_a_persons_new_record_matches_them() -> None:
    index = household()
    record = person("JORGE L.", date(1975, 6, 2), FATHER, "M", street_type="AVENIDA")  # abbreviated, other street
    result = index.match(record, MODEL)
    assert (result.decision, result.reason, result.person_id) == ("match", "clear", "father")
    assert result.persons[0].person_id == "father" and len(result.persons[0].records) == 2
    # A typo in the cédula (one digit) does not stop the match either.
    result = index.match(person("JORGE LUIS", date(1975, 6, 2), "40123464", "M"), MODEL)
    assert (result.decision, result.person_id) == ("match", "father")


def test_a_twin_is_not_matched_to_the_other_twin() -> None:
    index = household()
    # Twin A's new record (no cédula, as the municipality sometimes writes them) finds twin A, not twin B, though
    # twin B agrees on everything but the given name.
    record = person("LUCIA", date(2010, 9, 14), None, "F")
    result = index.match(record, MODEL)
    assert (result.decision, result.person_id) == ("match", "twin-a")
    twin_b = next(p for p in result.persons if p.person_id == "twin-b")
    assert twin_b.weight is None and twin_b.conflict  # strong evidence, yet a household conflict
    assert twin_b.records[0].weight >= 8.0

    # Without twin A in the index, the record is not twin B's: an official looks at it.
    for uid in (2, 3):
        index.remove(uid)
    result = index.match(record, MODEL)
    assert (result.decision, result.reason, result.person_id) == ("review", "conflict", None)
    assert result.persons[0].person_id == "twin-b" and result.persons[0].conflict


def test_a_child_carrying_a_parents_cedula_is_not_matched_to_the_parent() -> None:
    index = household()
    record = person("MATEO", date(2012, 1, 30), FATHER, "M")  # the son's record, with the father's cédula
    result = index.match(record, MODEL)
    assert (result.decision, result.person_id) == ("match", "son")
    father = next(p for p in result.persons if p.person_id == "father")
    assert father.weight is None and father.conflict
    assert father.records[0].evidence[0].label == "exact, valid check digit"

    for uid in (6, 7):  # without the son in the index: not the father either
        index.remove(uid)
    result = index.match(record, MODEL)
    assert result.decision == "review" and result.person_id is None


def test_a_record_without_candidates_is_new() -> None:
    index = household()
    record = values(given_names="ANA", first_surname="PEREZ", birth_date=date(1990, 2, 3), sex="F")
    result = index.match(record, MODEL)
    assert (result.decision, result.reason, result.person_id, result.scored, result.persons) == (
        "new",
        "no_candidate",
        None,
        0,
        (),
    )
    assert RecordIndex().match(record, MODEL).decision == "new"


def test_weak_candidates_are_new_and_middling_ones_go_to_review() -> None:
    index = household()
    # Shares only the landline with the household: blocked, scored, far below the review weight.
    stranger = values(given_names="ANA", first_surname="PEREZ", birth_date=date(1990, 2, 3), phone=_HOME["phone"])
    result = index.match(stranger, MODEL)
    assert (result.decision, result.scored) == ("new", 8)
    # Another given name makes each a household conflict too, but far below the match weight: no flag.
    assert all(p.weight is None and not p.conflict and p.records[0].weight < 0 for p in result.persons)
    # Shares the given name, the birth date and the street (not the surnames): possible, not sure.
    neighbour = values(
        given_names="MATEO",
        first_surname="GARCIA",
        birth_date=date(2012, 1, 30),
        sex="M",
        street_name="MAGALLANES",
        street_number="1502",
    )
    result = index.match(neighbour, MODEL)
    assert (result.decision, result.reason) == ("review", "uncertain")
    assert result.persons[0].weight is not None and 0.0 <= result.persons[0].weight < 8.0


def test_two_persons_above_the_match_weight_are_ambiguous() -> None:
    index = household()
    # The father indexed twice under two person ids (a duplicate batch linkage has yet to merge).
    index.add(100, "DGI", "G-1", person("JORGE LUIS", date(1975, 6, 2), FATHER, "M"), "father-again")
    result = index.match(person("JORGE LUIS", date(1975, 6, 2), FATHER, "M"), MODEL)
    assert (result.decision, result.reason, result.person_id) == ("review", "ambiguous", None)
    assert {p.person_id for p in result.persons[:2]} == {"father", "father-again"}


def test_evidence_explains_the_weight() -> None:
    index = household()
    candidates = index.score(person("LUCIA", date(2010, 9, 14), TWIN_A, "F"), MODEL)
    assert [c.weight for c in candidates] == sorted((c.weight for c in candidates), reverse=True)
    weights = MODEL.weights()
    for candidate in candidates:
        assert [e.comparison for e in candidate.evidence] == [c.name for c in COMPARISONS]
        for e, comparison, level_weights in zip(candidate.evidence, COMPARISONS, weights, strict=True):
            assert e.label == comparison.levels[e.level].label
            assert e.weight == level_weights[e.level]
        assert candidate.weight == pytest.approx(MODEL.prior_weight + sum(e.weight for e in candidate.evidence))
        assert candidate.probability == pytest.approx(probability(candidate.weight))
    best = candidates[0]
    assert (best.person_id, best.source, best.record_id) == ("twin-a", "DNIC", "D-twin-a")
    labels = {e.comparison: e.label for e in best.evidence}
    assert labels == {
        "national_id": "exact, valid check digit",
        "given_names": "exact",
        "surnames": "both exact",
        "birth_date": "exact",
        "sex": "exact",
        "address": "street, number and unit",
        "phone": "exact",
        "email": "null",
    }
    assert best.evidence[-1].weight == 0.0  # a missing value says nothing


def test_results_are_json() -> None:
    result = household().match(person("LUCIA", date(2010, 9, 14), None, "F"), MODEL)
    data = json.loads(json.dumps(result.as_dict()))
    assert data["decision"] == "match" and data["person_id"] == "twin-a"
    first = data["persons"][0]["records"][0]
    assert first["evidence"][1] == {"comparison": "given_names", "level": "exact", "weight": MODEL.weights()[1][1]}


def test_remove_and_replace() -> None:
    index = household()
    record = person("JORGE LUIS", date(1975, 6, 2), FATHER, "M")
    assert len(index) == 8 and 0 in index
    removed = index.remove(0)
    assert (removed.source, removed.record_id, removed.person_id) == ("DNIC", "D-father", "father")
    assert 0 not in index and len(index) == 7
    assert [c.uid for c in index.score(record, MODEL) if c.person_id == "father"] == [1]
    with pytest.raises(KeyError):
        index.remove(0)
    with pytest.raises(KeyError):
        index.record(0)

    # An update replaces the record: its old keys no longer find it, its new ones do.
    moved = person("JORGE LUIS", date(1975, 6, 2), FATHER, "M", phone="+59899111222")
    old = index.add(1, "BPS", "B-father", moved, "father")
    assert old is not None and old.values[PERSON_FIELDS.index("phone")] == _HOME["phone"]
    assert index.record(1).values == moved and len(index) == 7
    landline_only = values(given_names="X", first_surname="Y", phone=_HOME["phone"])
    assert 1 not in index.candidates(landline_only)[0]
    assert 1 in index.candidates(values(given_names="X", first_surname="Y", phone="+59899111222"))[0]
    # Removing every record empties every block.
    for uid in list(range(8)):
        if uid in index:
            index.remove(uid)
    assert len(index) == 0 and index.candidates(record) == ([], ())
    assert all(not blocks for blocks in index._blocks)


def test_add_checks_the_values() -> None:
    with pytest.raises(ValueError, match="22 values"):
        RecordIndex().add(0, "DNIC", "1", ("JUAN",), "p")
    with pytest.raises(ValueError, match="max_block"):
        RecordIndex(max_block=0)


def test_large_blocks_are_skipped_and_said() -> None:
    index = RecordIndex(max_block=3)
    for uid in range(5):  # five strangers give the same placeholder phone
        index.add(uid, "BPS", str(uid), values(given_names=f"N{'A' * uid}", phone="+59820000000"), f"p{uid}")
    uids, skipped = index.candidates(values(given_names="ANA", phone="+59820000000"))
    assert uids == []
    assert [(s.rule, s.size) for s in skipped] == [(("phone",), 5)]
    result = index.match(values(given_names="ANA", phone="+59820000000"), MODEL)
    assert result.decision == "new" and result.skipped == skipped
    assert result.as_dict()["skipped"] == [{"rule": ["phone"], "size": 5}]
    index.remove(4)
    index.remove(3)  # back to the cap: the block is used again
    assert index.candidates(values(given_names="ANA", phone="+59820000000")) == ([0, 1, 2], ())


# -- on a synthetic population --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population() -> pa.Table:
    return synthetic_table(generate_records(2500, seed=17))


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(name).to_pylist() for name in PERSON_FIELDS), strict=True))


def test_candidates_are_the_pairs_batch_blocking_finds(population: pa.Table) -> None:
    index = RecordIndex.from_table(population, max_block=10**9)
    connection = duckdb.connect()
    connection.register("records", population)
    rules = " OR ".join("(" + " AND ".join(f'l."{c}" = r."{c}"' for c in rule) + ")" for rule in BLOCKING_RULES)
    batch = set(connection.sql(f"SELECT l.uid, r.uid FROM records l JOIN records r ON {rules}").fetchall())  # noqa: S608
    connection.close()
    uids = population.column("uid").to_pylist()
    rows = _rows(population)
    realtime = {(uid, other) for uid, row in zip(uids, rows, strict=True) for other in index.candidates(row)[0]}
    assert realtime == batch
    assert len(batch) > 3 * len(uids)  # pairs besides each record with itself


def test_held_out_records_find_their_person(population: pa.Table) -> None:
    persons = population.column("person_id").to_pylist()
    # Hold out the last record of every person who has several; index the rest.
    last = {p: i for i, p in enumerate(persons)}
    held = sorted(i for p, i in last.items() if persons.count(p) > 1)
    keep = pa.array([i not in set(held) for i in range(population.num_rows)])
    index = RecordIndex.from_table(population.filter(keep))
    rows = _rows(population)
    outcomes = {"right": 0, "wrong": 0, "review": 0}
    for i in held:
        result = index.match(rows[i], MODEL)
        if result.decision == "match":
            outcomes["right" if result.person_id == persons[i] else "wrong"] += 1
        else:
            outcomes[result.decision] = outcomes.get(result.decision, 0) + 1
    assert outcomes["wrong"] == 0, outcomes
    assert outcomes["right"] >= 0.95 * len(held), outcomes


def test_from_table_and_add_build_the_same_index(population: pa.Table) -> None:
    person_ids = [f"P{p}" for p in population.column("person_id").to_pylist()]
    built = RecordIndex.from_table(population.drop_columns(["person_id"]), person_ids)
    added = RecordIndex()
    for uid, source, record_id, row, person_id in zip(
        population.column("uid").to_pylist(),
        population.column("source").to_pylist(),
        population.column("record_id").to_pylist(),
        _rows(population),
        person_ids,
        strict=True,
    ):
        added.add(uid, source, record_id, row, person_id)
    assert len(built) == len(added) == population.num_rows
    assert built._blocks == added._blocks
    for uid in range(0, population.num_rows, 97):
        assert built.record(uid) == added.record(uid)
        query = added.record(uid).values
        assert built.match(query, MODEL) == added.match(query, MODEL)
    # Repeated values are one object, whichever way the index was built.
    given = PERSON_FIELDS.index("given_first")
    firsts = [added.record(uid).values[given] for uid in range(population.num_rows)]
    assert len({id(v) for v in firsts}) == len(set(firsts))


def test_from_table_checks_its_input(population: pa.Table) -> None:
    with pytest.raises(ValueError, match="'person_id'"):
        RecordIndex.from_table(population.drop_columns(["person_id"]))
    with pytest.raises(ValueError, match="'email'"):
        RecordIndex.from_table(population.drop_columns(["email"]))
    with pytest.raises(ValueError, match="person ids for"):
        RecordIndex.from_table(population, [1, 2, 3])
    doubled = pa.concat_tables([population.slice(0, 2), population.slice(0, 2)])
    with pytest.raises(ValueError, match="repeats a uid"):
        RecordIndex.from_table(doubled)
    empty = FrameBuilder().table().append_column("person_id", pa.array([], type=pa.int64()))
    assert len(RecordIndex.from_table(empty)) == 0


def test_match_result_lists_the_top_persons() -> None:
    index = household()
    result = index.match(person("LUCIA", date(2010, 9, 14), TWIN_A, "F"), MODEL, top=2)
    assert isinstance(result, MatchResult) and len(result.persons) == 2 and result.scored == 8
    assert replace(result, persons=()).persons == ()


def test_thresholds_default_to_the_batch_pipelines() -> None:
    parameters = inspect.signature(RecordIndex.match).parameters
    assert (parameters["match_weight"].default, parameters["review_weight"].default) == (MATCH_WEIGHT, REVIEW_WEIGHT)
