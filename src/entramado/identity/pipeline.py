"""Batch linkage in memory: read and standardise the sources, train or reuse the model, score, cluster.

The steps return plain data (a record table, scored pairs, cluster labels); persisting persons and their ids is the
service's job (:mod:`entramado.identity.services`).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from entramado.identity.cluster import Pair, cluster
from entramado.identity.frame import FrameBuilder
from entramado.identity.linkage import Backend, ScoredPairs, Scorer
from entramado.identity.mapping import Mapping, Rejection, Result, Source, SourceRecord, read_mapping
from entramado.identity.model import Model

#: Links at or above this match weight join records into one person (probability 0.996).
MATCH_WEIGHT = 8.0
#: Pairs from this weight up to MATCH_WEIGHT that end in different persons go to review (probability 0.5).
REVIEW_WEIGHT = 0.0
#: Pairs below this weight are not even kept from scoring.
KEEP_WEIGHT = -5.0


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """How a batch linkage runs. ``backend`` is where Splink scores (``duckdb`` or ``spark``)."""

    backend: Backend = "duckdb"
    match_weight: float = MATCH_WEIGHT
    review_weight: float = REVIEW_WEIGHT
    u_max_pairs: float = 2e6  # pairs sampled to estimate u (Splink warns below its suggested budget at 1e6)
    read_workers: int = 2  # processes reading and standardising the sources
    threads: int = 0
    retrain: bool = False
    households: bool = True  # the household rules keep apart records that disagree on given name, birth date or sex


@dataclass
class Timings:
    """Wall time per stage, in seconds, in the order the stages ran."""

    stages: dict[str, float] = field(default_factory=dict)

    def stage(self, name: str) -> _Stage:
        return _Stage(self, name)


class _Stage:
    def __init__(self, timings: Timings, name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.timings.stages[self.name] = round(
            self.timings.stages.get(self.name, 0.0) + time.perf_counter() - self.start, 3
        )


def collect(results: Iterable[Result], on_record: Callable[[], None] | None = None) -> tuple[pa.Table, list[Rejection]]:
    """Build the record table from read results, keeping the rejections aside."""
    builder = FrameBuilder()
    rejections: list[Rejection] = []
    for result in results:
        if isinstance(result, SourceRecord):
            builder.add_record(result)
        else:
            rejections.append(result)
        if on_record is not None:
            on_record()
    return builder.table(), rejections


def collect_sources(
    mapping: Mapping, *, today: dt.date | None = None, workers: int = 2
) -> tuple[pa.Table, list[Rejection]]:
    """Read and standardise every source of ``mapping`` into one record table, the sources shared among ``workers``
    processes (each takes whole sources, balanced by file size, and sends back a compact Arrow table). The result is
    the same as :func:`collect` over :func:`~entramado.identity.mapping.read_mapping`: sources in the mapping's
    order, rows in file order, ``uid`` numbering them. Workers are spawned, so a script that calls this guards its
    entry point with ``if __name__ == "__main__":`` as multiprocessing requires (the ``entramado`` command does)."""
    today = today or dt.date.today()  # one date for every worker, even across midnight
    if workers <= 1 or len(mapping.sources) < 2:
        return collect(read_mapping(mapping, today=today))
    groups: list[list[Source]] = [[] for _ in range(min(workers, len(mapping.sources)))]
    sizes = [0] * len(groups)
    for source in sorted(mapping.sources, key=_file_size, reverse=True):
        lightest = sizes.index(min(sizes))
        groups[lightest].append(source)
        sizes[lightest] += _file_size(source)
    with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_collect_group, [(Mapping(mapping.path, tuple(g)), today) for g in groups]))
    tables: dict[str, pa.Table] = {}
    rejections: dict[str, list[Rejection]] = {}
    for table, rejected in parts:
        for name in set(table.column("source").to_pylist()) | {r.source for r in rejected}:
            tables[name] = table.filter(pc.equal(table.column("source"), name))
            rejections[name] = [r for r in rejected if r.source == name]
    ordered = [tables[s.name] for s in mapping.sources if s.name in tables]
    combined = pa.concat_tables(ordered) if ordered else FrameBuilder().table()
    combined = combined.set_column(0, "uid", pa.array(range(combined.num_rows), type=pa.int64()))
    return combined, [r for s in mapping.sources for r in rejections.get(s.name, [])]


def _file_size(source: Source) -> int:
    try:
        return source.path.stat().st_size
    except OSError:
        return 0


def _collect_group(job: tuple[Mapping, dt.date]) -> tuple[pa.Table, list[Rejection]]:
    mapping, today = job
    return collect(read_mapping(mapping, today=today))


def link_table(
    table: pa.Table,
    *,
    config: LinkConfig = LinkConfig(),
    model: Model | None = None,
    same: Iterable[Pair] = (),
    different: Iterable[Pair] = (),
    timings: Timings | None = None,
    spark: Any = None,
) -> tuple[Model, ScoredPairs, npt.NDArray[np.int64], list[Pair]]:
    """Score and cluster a record table: train the model unless one is given, score blocked pairs, cluster with the
    household rules and the officials' decisions (``same`` / ``different`` as uid pairs)."""
    timings = timings or Timings()
    scorer = Scorer(table, config.backend, spark=spark, threads=config.threads)
    try:
        if model is None or config.retrain:
            with timings.stage("train"):
                model = scorer.train(u_max_pairs=config.u_max_pairs)
        with timings.stage("score"):
            pairs = scorer.score(model, min_weight=min(config.review_weight, KEEP_WEIGHT))
    finally:
        scorer.close()
    with timings.stage("cluster"):
        conflicts = _pairs_where(pairs, pairs.conflict) if config.households else iter(())
        result = cluster(
            table.num_rows,
            pairs.uid_l,
            pairs.uid_r,
            pairs.weight,
            min_weight=config.match_weight,
            conflicts=conflicts,
            same=same,
            different=different,
        )
    return model, pairs, result.labels, result.refused


def _pairs_where(pairs: ScoredPairs, mask: npt.NDArray[np.bool_]) -> Iterator[Pair]:
    return zip(pairs.uid_l[mask].tolist(), pairs.uid_r[mask].tolist(), strict=True)
