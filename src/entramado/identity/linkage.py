"""Batch scoring: training the match model and scoring the blocked pairs of a record table, in SQL.

On one machine (DuckDB) one statement generated from the comparison levels gives every blocked pair's levels, which
serve both training and scoring, and the prior (a deterministic rule) and ``u`` (random sampling) are counted by our
SQL too. On Spark, Splink does what it does well: it generates the blocked pairs and their comparison vectors,
estimates the prior and ``u``, and scores every pair; a test checks that both ways give the same pairs, levels and
weights. The ``m`` step runs in :mod:`entramado.identity.training`; the clustering, the household rules, the
persistent ids and the golden records are ours (:mod:`entramado.identity.cluster`, :mod:`entramado.identity.persons`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from entramado.identity import model as m
from entramado.identity.training import Patterns, combine, expectation_maximisation, floor_disagreement

Backend = Literal["duckdb", "spark"]

#: Pairs scored in batch: records that share any of these keys. Each keeps blocks small on Uruguayan data.
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("national_id",),
    ("surname1_key", "birth_date"),
    ("given_first", "surname1_key", "surname2_key", "birth_year"),
    ("given_first", "birth_date"),
    ("surname2_key", "birth_date"),
    ("phone",),
    ("email",),
    ("birth_date", "street_number"),
    ("given_first", "street_name", "street_number"),
    ("given_first", "surname1_key", "street_number"),
)
#: Blocking rules whose pairs train ``m`` by expectation maximisation (each leaves other comparisons free).
TRAINING_RULES: tuple[tuple[str, ...], ...] = (
    ("national_id",),
    ("surname1_key", "birth_date"),
    ("given_first", "birth_date"),
)
#: Deterministic rule for the prior, and the share of true matches it is taken to find.
PRIOR_RULE: tuple[str, ...] = ("national_id", "birth_date", "given_first")
PRIOR_RULE_RECALL = 0.7
#: Fields a person changes over time, and the floor of their disagreement levels' ``m / u`` (see
#: ``training.floor_disagreement``): a different address weighs at least log2(0.15) = -2.7.
CHANGEABLE_FIELDS: dict[str, float] = {"address": 0.15, "phone": 0.2, "email": 0.2}


@dataclass(frozen=True, slots=True)
class ScoredPairs:
    """Scored pairs, as columns: ``uid_l < uid_r``, match weight, comparison level indices (one column per
    comparison, :data:`~entramado.identity.model.COMPARISONS` order), household conflict."""

    uid_l: npt.NDArray[np.int64]
    uid_r: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    levels: npt.NDArray[np.int64]
    conflict: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.uid_l)


def splink_settings(rules: tuple[tuple[str, ...], ...], model: m.Model | None, dialect: str) -> dict[str, Any]:
    """Splink settings for our comparisons (in ``dialect``) and blocking rules, with ``model``'s parameters."""
    from splink import block_on

    comparisons = m.splink_comparisons(dialect)
    if model is not None:
        for comparison, ms, us in zip(comparisons, model.m, model.u, strict=True):
            for level, m_p, u_p in zip(comparison["comparison_levels"][1:-1], ms[:-1], us[:-1], strict=True):
                level["m_probability"], level["u_probability"] = m_p, u_p
            # Splink validates that every probability is set; the else level takes its trained values too.
            comparison["comparison_levels"][-1]["m_probability"] = ms[-1]
            comparison["comparison_levels"][-1]["u_probability"] = us[-1]
    settings: dict[str, Any] = {
        "link_type": "dedupe_only",
        "unique_id_column_name": "uid",
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [block_on(*rule) for rule in rules],
        "retain_intermediate_calculation_columns": True,
        "retain_matching_columns": True,
        "additional_columns_to_retain": [],
    }
    if model is not None:
        settings["probability_two_random_records_match"] = model.prior
    return settings


class Scorer:
    """A Splink database (DuckDB or Spark) holding one record table, to train a model on it and score it."""

    def __init__(self, table: pa.Table, backend: Backend = "duckdb", *, spark: Any = None, threads: int = 0) -> None:
        self.backend = backend
        self.table = table
        self._blocked: dict[str, npt.NDArray[Any]] | None = None
        if backend == "duckdb":
            import duckdb
            from splink import DuckDBAPI

            self.connection: Any = duckdb.connect()
            if threads:
                self.connection.execute(f"SET threads = {int(threads)}")
            self.db_api: Any = DuckDBAPI(connection=self.connection)
            self.records = self.db_api.register(table, table_name="records")
        else:
            from splink import SparkAPI

            if spark is None:
                raise ValueError("the Spark backend needs a SparkSession")
            # A session of our own on the caller's Spark context: its temporary views (the records and every table
            # Splink makes) are ours alone, so scorers sharing a context cannot clash, and close() drops them all.
            # A new session starts from the context's configuration: carry over the SQL settings the caller changed.
            self.connection = spark.newSession()
            for key, value in spark.conf.getAll.items():
                if key.startswith("spark.sql.") and self.connection.conf.isModifiable(key):
                    self.connection.conf.set(key, value)
            # Splink's default writes each intermediate table to Parquet under the checkpoint directory and leaves it
            # there; persisting keeps them in the block manager (spilling to disk) and close() releases them.
            self.db_api = SparkAPI(  # type: ignore[no-untyped-call]
                spark_session=self.connection, break_lineage_method="persist"
            )
            self.records = self.db_api.register(table, table_name="records")  # Arrow keeps nulls and integer types

    def _linker(self, rules: tuple[tuple[str, ...], ...], model: m.Model | None) -> Any:
        from splink import Linker

        return Linker(self.records, splink_settings(rules, model, self.backend), log_level=logging.WARNING)

    def _fetch(self, sql: str) -> dict[str, npt.NDArray[Any]]:
        if self.backend == "duckdb":
            result: dict[str, npt.NDArray[Any]] = self.connection.sql(sql).fetchnumpy()
            return {k: np.asarray(v) for k, v in result.items()}
        arrow = self.connection.sql(sql).toArrow()  # a SparkSession
        return {k: arrow.column(k).to_numpy() for k in arrow.column_names}

    def train(
        self, *, u_max_pairs: float = 2e6, seed: int = 42, labels: Sequence[tuple[int, int, bool]] = ()
    ) -> m.Model:
        """Estimate the prior (from a deterministic rule), ``u`` (random sampling) and ``m`` (EM over the training
        rules' patterns). On DuckDB the prior and ``u`` come from our own SQL over the comparison levels (the same
        estimates as Splink's, from one query each: a third faster at a million records); on Spark from Splink.

        ``labels`` are pairs of records (uids) officials decided, and whether they are the same person: each EM
        session takes them as pairs whose class is known."""
        if self.backend == "duckdb":
            prior, u = self._prior(), self._u_by_sampling(u_max_pairs, seed)
        else:
            from splink import block_on

            linker = self._linker(BLOCKING_RULES, None)
            linker.training.estimate_probability_two_random_records_match(
                [block_on(*PRIOR_RULE)], recall=PRIOR_RULE_RECALL
            )
            linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
            settings = linker.misc.save_model_to_json()
            prior = float(settings["probability_two_random_records_match"])
            u = _splink_u(settings, u_max_pairs)
        # Counting patterns on Spark goes through Splink, which wants every probability set; weights play no part.
        unweighted = m.Model(prior=prior, m=tuple(map(tuple, u)), u=tuple(map(tuple, u)))
        start = [_default_m(len(us)) for us in u]
        labelled, same = self._labelled(labels)
        estimates = []
        for rule in TRAINING_RULES:
            patterns = self._patterns(rule, unweighted).with_labels(labelled, same)
            ms, _ = expectation_maximisation(patterns, u, start)
            estimates.append((ms, patterns))
        final_m = [
            floor_disagreement(ms, us, CHANGEABLE_FIELDS[c.name]) if c.name in CHANGEABLE_FIELDS else ms
            for c, ms, us in zip(m.COMPARISONS, combine(estimates, start), u, strict=True)
        ]
        return m.Model(prior=prior, m=tuple(map(tuple, final_m)), u=tuple(map(tuple, u)))

    def _labelled(self, labels: Sequence[tuple[int, int, bool]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """The comparison levels of labelled pairs (by the Python predicates, which agree with the SQL), and their
        labels."""
        if not labels:
            return np.zeros((0, len(m.COMPARISONS)), dtype=np.int64), np.zeros(0, dtype=bool)
        uids = sorted({uid for a, b, _ in labels for uid in (a, b)})
        rows = dict(zip(uids, self.table.take(uids).to_pylist(), strict=True))
        levels = np.array([[c.level_of(rows[a], rows[b]) for c in m.COMPARISONS] for a, b, _ in labels], dtype=np.int64)
        return levels, np.array([same for _, _, same in labels], dtype=bool)

    def _prior(self) -> float:
        """The probability that two random records match: the pairs :data:`PRIOR_RULE` finds, over the share of
        matches it is taken to find, over all pairs."""
        n = self.table.num_rows
        found = self._fetch(
            f"SELECT count(*) AS n FROM records l JOIN records r ON {_same(PRIOR_RULE)} AND l.uid < r.uid"  # noqa: S608
        )["n"][0]
        pairs = n * (n - 1) / 2
        return float(min(max(found / PRIOR_RULE_RECALL, 1.0) / max(pairs, 1.0), 0.5))

    def _u_by_sampling(self, max_pairs: float, seed: int) -> list[list[float]]:
        """``u`` of every level but the null one: its share among all pairs of a random sample of records (about
        ``max_pairs`` pairs, almost all of different people), the null level left out, as Splink estimates it. A
        level no sampled pair reaches gets half a pair's share, not nothing (its weight stays finite and large)."""
        n = self.table.num_rows
        k = min(n, int(np.ceil((1 + np.sqrt(1 + 8 * max_pairs)) / 2)))
        chosen = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
        self.connection.register("u_sample", pa.table({"uid": chosen.astype(np.int64)}))
        try:
            sample = "(SELECT records.* FROM records JOIN u_sample USING (uid))"
            levels = ", ".join(c.name for c in m.COMPARISONS)
            rows = self._fetch(
                f"SELECT {levels}, count(*) AS n FROM ({_levels_select(sample)}) GROUP BY ALL"  # noqa: S608
            )
        finally:
            self.connection.unregister("u_sample")
        counts = rows["n"].astype(np.float64)
        u = []
        for comparison in m.COMPARISONS:
            level = rows[comparison.name].astype(np.int64)
            per_level = np.bincount(level, weights=counts, minlength=len(comparison.levels))[1:].astype(np.float64)
            u.append(_shares_with_floor(per_level))  # the null level (index 0) left out
        return u

    def _levels(self) -> dict[str, npt.NDArray[Any]]:
        """Every blocked pair's levels on DuckDB, and whether each training rule blocks it: computed once, since
        levels do not depend on the model, and used both to train and to score."""
        if self._blocked is None:
            self._blocked = self._fetch(levels_sql(BLOCKING_RULES, flags=TRAINING_RULES))
        return self._blocked

    def _patterns(self, rule: tuple[str, ...], model: m.Model) -> Patterns:
        trained = tuple(not set(c.columns) & set(rule) for c in m.COMPARISONS)
        if self.backend == "duckdb":
            # Every training rule is a blocking rule, so its pairs are among the blocked ones.
            rows = self._levels()
            mask = rows[f"flag_{TRAINING_RULES.index(rule)}"].astype(bool)
            # One integer per pattern (each comparison a digit in its own base) makes counting them one sort.
            code = np.zeros(int(mask.sum()), dtype=np.int64)
            for c in m.COMPARISONS:
                code = code * len(c.levels) + rows[c.name].astype(np.int64)[mask]
            codes, counts = np.unique(code, return_counts=True)
            digits = []
            for c in reversed(m.COMPARISONS):
                codes, digit = np.divmod(codes, len(c.levels))
                digits.append(digit)
            levels = np.column_stack(digits[::-1])
            return Patterns(levels=levels, counts=counts.astype(np.float64), trained=trained)
        with self._predictions((rule,), model, None) as table:
            gammas = ", ".join(f"gamma_{c.name}" for c in m.COMPARISONS)
            # Table and column names are ours, never input.
            rows = self._fetch(f"SELECT {gammas}, count(*) AS n FROM {table} GROUP BY {gammas}")  # noqa: S608
        levels = np.column_stack([_gamma_to_level(c, rows[f"gamma_{c.name}"].astype(np.int64)) for c in m.COMPARISONS])
        return Patterns(levels=levels, counts=rows["n"].astype(np.float64), trained=trained)

    @contextmanager
    def _predictions(
        self, rules: tuple[tuple[str, ...], ...], model: m.Model, threshold: float | None
    ) -> Iterator[str]:
        linker = self._linker(rules, model)
        predictions = linker.inference.predict(threshold_match_weight=threshold, warning_mode="never")
        try:
            yield predictions.physical_name
        finally:
            predictions.drop_table_from_database_and_remove_from_cache()

    def score(self, model: m.Model, *, min_weight: float, via_splink: bool = False) -> ScoredPairs:
        """Every blocked pair with a match weight of at least ``min_weight``.

        On DuckDB the comparison levels come from one SQL statement generated from the model's levels (the same
        conditions Splink would run, without the columns Splink keeps for its charts: about twice as fast at a
        million records), and weights and household conflicts are computed from the levels; on Spark (or with
        ``via_splink``) Splink scores. Both give the same pairs, levels and weights (``test_linkage.py``).
        """
        if self.backend == "duckdb" and not via_splink:
            rows = self._levels()
            levels = np.column_stack([rows[c.name].astype(np.int64) for c in m.COMPARISONS])
            weight = weights_of(levels, model)
            keep = weight >= min_weight
            return ScoredPairs(
                uid_l=rows["uid_l"].astype(np.int64)[keep],
                uid_r=rows["uid_r"].astype(np.int64)[keep],
                weight=weight[keep],
                levels=levels[keep],
                conflict=m.household_conflicts(levels[keep]),
            )
        with self._predictions(BLOCKING_RULES, model, min_weight) as table:
            gammas = ", ".join(f"gamma_{c.name}" for c in m.COMPARISONS)
            rows = self._fetch(
                f"SELECT uid_l, uid_r, match_weight, {gammas}, ({m.household_conflict_sql()}) AS conflict FROM {table}"  # noqa: S608
            )
        levels = (
            np.column_stack([_gamma_to_level(c, rows[f"gamma_{c.name}"].astype(np.int64)) for c in m.COMPARISONS])
            if len(rows["uid_l"])
            else np.zeros((0, len(m.COMPARISONS)), dtype=np.int64)
        )
        uid_l, uid_r = rows["uid_l"].astype(np.int64), rows["uid_r"].astype(np.int64)
        low, high = np.minimum(uid_l, uid_r), np.maximum(uid_l, uid_r)
        return ScoredPairs(
            uid_l=low,
            uid_r=high,
            weight=rows["match_weight"].astype(np.float64),
            levels=levels,
            conflict=rows["conflict"].astype(bool),
        )

    def close(self) -> None:
        if self.backend == "duckdb":
            self.connection.close()
        else:
            catalog = self.connection.catalog
            for view in catalog.listTables():
                if view.isTemporary:
                    catalog.dropTempView(view.name)  # uncaches what Splink persisted


def _same(rule: tuple[str, ...]) -> str:
    return " AND ".join(f'l."{c}" = r."{c}"' for c in rule)


def levels_sql(
    rules: tuple[tuple[str, ...], ...], table: str = "records", flags: tuple[tuple[str, ...], ...] = ()
) -> str:
    """SQL giving each blocked pair (``uid_l < uid_r``, each pair once whichever rules block it) and the level index
    of every comparison (0 null ... n-1 else), one column per comparison named after it; and, for each rule in
    ``flags``, whether the pair agrees on its columns (``flag_0``, ``flag_1``...)."""
    blocked = []
    for i, rule in enumerate(rules):
        earlier = " AND ".join(f"NOT coalesce({_same(prev)}, false)" for prev in rules[:i])
        blocked.append(
            f"SELECT l.uid AS uid_l, r.uid AS uid_r FROM {table} l JOIN {table} r ON {_same(rule)} AND l.uid < r.uid"  # noqa: S608
            + (f" WHERE {earlier}" if earlier else "")
        )
    sides = _sides() + "".join(f", coalesce({_same(rule)}, false) AS flag_{i}" for i, rule in enumerate(flags))
    cases = [f"flag_{i}" for i in range(len(flags))] + _level_cases()
    return (
        f"WITH pairs AS ({' UNION ALL '.join(blocked)}), "  # noqa: S608 - names are ours, never input
        f"sides AS (SELECT p.uid_l, p.uid_r, {sides} FROM pairs p "
        f"JOIN {table} l ON l.uid = p.uid_l JOIN {table} r ON r.uid = p.uid_r) "
        f"SELECT uid_l, uid_r, {', '.join(cases)} FROM sides"
    )


def _levels_select(pairs_of: str) -> str:
    """SQL giving every pair (``uid_l < uid_r``) of the records in ``pairs_of`` (a table or subquery) with the level
    index of each comparison."""
    return (
        f"SELECT {', '.join(_level_cases())} FROM (SELECT {_sides()} FROM {pairs_of} l "  # noqa: S608 - ours, never input
        f"JOIN {pairs_of} r ON l.uid < r.uid)"
    )


def _sides() -> str:
    """Every compared column of both records of a pair, as ``{column}_l`` and ``{column}_r``."""
    return ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in m.COMPARED_COLUMNS)


def _level_cases() -> list[str]:
    cases = []
    for comparison in m.COMPARISONS:
        whens = " ".join(f"WHEN {level.sql} THEN {i}" for i, level in enumerate(comparison.levels[:-1]))
        cases.append(f"CAST(CASE {whens} ELSE {len(comparison.levels) - 1} END AS UTINYINT) AS {comparison.name}")
    return cases


def _shares_with_floor(counts: npt.NDArray[np.float64]) -> list[float]:
    """Each count's share of their total; a count of 0 weighs half a pair (``0.5 / total``)."""
    total = max(float(counts.sum()), 1.0)
    return [float(c) / total if c > 0 else 0.5 / total for c in counts]


def _splink_u(settings: dict[str, Any], max_pairs: float) -> list[list[float]]:
    """``u`` from Splink's trained settings; a level Splink left untrained (no sampled pair reached it) gets half a
    pair's share of ``max_pairs``, as :meth:`Scorer._u_by_sampling` gives it."""
    by_name = {c["output_column_name"]: c for c in settings["comparisons"]}
    u = []
    for comparison in m.COMPARISONS:
        levels = [lv for lv in by_name[comparison.name]["comparison_levels"] if not lv.get("is_null_level")]
        u.append([float(lv["u_probability"]) if lv.get("u_probability") else 0.5 / max_pairs for lv in levels])
    return u


def weights_of(levels: npt.NDArray[np.int64], model: m.Model) -> npt.NDArray[np.float64]:
    """Match weight of each pair from its level indices: the prior's weight plus each level's weight."""
    total = np.full(len(levels), model.prior_weight, dtype=np.float64)
    for c, level_weights in enumerate(model.weights()):
        total += np.asarray(level_weights, dtype=np.float64)[levels[:, c]]
    return total


def _gamma_to_level(comparison: m.Comparison, gamma: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # gamma: -1 null, 0 else, n-2 the closest level; level index: 0 null, 1 the closest, n-1 else.
    n = len(comparison.levels)
    return np.where(gamma < 0, 0, n - 1 - gamma)


def _default_m(n_levels: int) -> list[float]:
    # A start that favours the closest levels; EM moves it where the data says.
    raw = [0.5**k for k in range(n_levels)]
    total = sum(raw)
    return [x / total for x in raw]
