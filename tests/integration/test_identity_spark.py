"""Batch linkage on Spark: one small synthetic population linked on Spark and on DuckDB, each measured against the
truth and against the other.

Needs pyspark (the ``spark`` extra) and Java 17 or newer. Without them the test is skipped, except in CI (``CI`` set),
where the Spark backend must be tested.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from entramado.identity.evaluate import accuracy
from entramado.identity.linkage import ScoredPairs, Scorer
from entramado.identity.mapping import load_mapping, read_mapping
from entramado.identity.model import Model
from entramado.identity.pipeline import KEEP_WEIGHT, MATCH_WEIGHT, LinkConfig, collect, link_table
from entramado.identity.synthetic import generate_records, write_csv

RECORDS = 300
#: All pairs of 300 records number 44 850: sample them all for ``u``.
U_MAX_PAIRS = 5e4


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "java is not installed (Spark needs Java 17 or newer)"
    return None


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: CI must test the Spark backend")
        pytest.skip(missing)
    from entramado.identity.spark import spark_session

    session = spark_session(checkpoint_dir=tmp_path_factory.mktemp("spark-checkpoints"), partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, npt.NDArray[np.int64]]:
    """The record table read through the generator's mapping, and each row's true person."""
    folder = tmp_path_factory.mktemp("population")
    records = list(generate_records(RECORDS, seed=3))
    write_csv(records, folder)
    table, rejections = collect(read_mapping(load_mapping(folder / "mapping.toml")))
    assert not rejections and table.num_rows == RECORDS
    person = {(r.agency, r.record_id): r.person_id for r in records}
    keys = zip(table.column("source").to_pylist(), table.column("record_id").to_pylist(), strict=True)
    return table, np.array([person[key] for key in keys], dtype=np.int64)


def _by_pair(pairs: ScoredPairs) -> dict[tuple[int, int], tuple[int, ...]]:
    return {
        (left, right): tuple(levels)
        for left, right, levels in zip(pairs.uid_l.tolist(), pairs.uid_r.tolist(), pairs.levels.tolist(), strict=True)
    }


def _linked(pairs: ScoredPairs) -> set[tuple[int, int]]:
    keep = pairs.weight >= MATCH_WEIGHT
    return set(zip(pairs.uid_l[keep].tolist(), pairs.uid_r[keep].tolist(), strict=True))


def test_scorer_on_spark_has_splink_functions_keeps_column_types_and_cleans_up(
    spark: Any, population: tuple[pa.Table, npt.NDArray[np.int64]]
) -> None:
    assert not spark.sparkContext._jsc.sc().getCheckpointDir().isEmpty()  # Splink requires one
    table, _ = population
    years = table.column("birth_year").to_pylist()
    index = table.schema.get_field_index("birth_year")
    table = table.set_column(index, "birth_year", pa.array([None, *years[1:]], pa.int32()))  # a hole to keep
    scorer = Scorer(table, "spark", spark=spark)
    try:
        # Splink's functions come from the jar on spark.jars; without it these levels cannot be evaluated.
        similar = scorer._fetch(
            "SELECT jaro_winkler('MARTHA', 'MARHTA') AS jw, damerau_levenshtein('1234', '1243') AS dl"
        )
        rows = scorer._fetch(
            "SELECT count(*) AS n, count(birth_year) AS born, count(national_id_valid) AS checked, "
            "max(typeof(birth_year)) AS year_type, max(typeof(national_id_valid)) AS valid_type FROM records"
        )
    finally:
        scorer.close()
    assert round(float(similar["jw"][0]), 4) == 0.9611 and similar["dl"].tolist() == [1]
    # Integer and boolean columns with nulls keep their types (through pandas, integers with a null became doubles).
    assert rows["n"].tolist() == [table.num_rows]
    assert rows["born"].tolist() == [table.num_rows - 1]
    assert rows["checked"].tolist() == [table.num_rows - table.column("national_id_valid").null_count]
    assert (rows["year_type"].tolist(), rows["valid_type"].tolist()) == (["int"], ["boolean"])
    assert not [t for t in scorer.connection.catalog.listTables() if t.isTemporary]
    assert not [t for t in spark.catalog.listTables() if t.isTemporary]  # the caller's session never saw them


@pytest.fixture(scope="module")
def on_duckdb(population: tuple[pa.Table, npt.NDArray[np.int64]]) -> tuple[Model, ScoredPairs, npt.NDArray[np.int64]]:
    model, pairs, labels, _ = link_table(population[0], config=LinkConfig(u_max_pairs=U_MAX_PAIRS))
    return model, pairs, labels


def test_spark_scores_exactly_as_duckdb_with_the_same_model(
    spark: Any,
    population: tuple[pa.Table, npt.NDArray[np.int64]],
    on_duckdb: tuple[Model, ScoredPairs, npt.NDArray[np.int64]],
) -> None:
    model, expected, _ = on_duckdb
    scorer = Scorer(population[0], "spark", spark=spark)
    try:
        pairs = scorer.score(model, min_weight=KEEP_WEIGHT)
    finally:
        scorer.close()
    # The level SQL means the same on both engines: the same pairs, at the same levels, with the same weights.
    got, want = _by_pair(pairs), _by_pair(expected)
    assert got.keys() == want.keys() and len(got) > 0
    assert [pair for pair in got if got[pair] != want[pair]] == []
    order, expected_order = np.lexsort((pairs.uid_r, pairs.uid_l)), np.lexsort((expected.uid_r, expected.uid_l))
    np.testing.assert_allclose(pairs.weight[order], expected.weight[expected_order], rtol=0, atol=1e-9)
    assert (pairs.conflict[order] == expected.conflict[expected_order]).all()


def test_spark_trains_and_links_as_well_as_duckdb(
    spark: Any,
    population: tuple[pa.Table, npt.NDArray[np.int64]],
    on_duckdb: tuple[Model, ScoredPairs, npt.NDArray[np.int64]],
) -> None:
    table, truth = population
    _, on_spark, spark_labels, _ = link_table(
        table, config=LinkConfig(backend="spark", u_max_pairs=U_MAX_PAIRS), spark=spark
    )
    _, duckdb_pairs, duckdb_labels = on_duckdb
    for labels in (spark_labels, duckdb_labels):
        score = accuracy(labels, truth)
        assert score.cluster_f1 >= 0.95 and score.persons_exact >= 0.9, score
    assert accuracy(spark_labels, duckdb_labels).cluster_f1 >= 0.98
    # Trained apart, the two models differ a little (u is sampled), so the pairs kept and the links barely differ.
    spark_links, duckdb_links = _linked(on_spark), _linked(duckdb_pairs)
    assert len(spark_links & duckdb_links) >= 0.95 * len(spark_links | duckdb_links)
    assert spark.sparkContext._jsc.sc().getPersistentRDDs().isEmpty()  # the scorer released what Splink cached
