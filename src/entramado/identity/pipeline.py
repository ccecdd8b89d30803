"""Batch linkage in memory: read and standardise the sources, train or reuse the model, score, cluster.

The steps return plain data (a record table, scored pairs, cluster labels); persisting persons and their ids is the
service's job (:mod:`entramado.identity.services`).
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from entramado.identity.cluster import Pair, cluster
from entramado.identity.frame import FrameBuilder, frame_of
from entramado.identity.linkage import Backend, ScoredPairs, Scorer
from entramado.identity.mapping import (
    Mapping,
    Rejection,
    Result,
    Source,
    SourceRecord,
    StandardRecord,
    read_mapping,
    read_source,
)
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
    """Build the record table from read results, keeping the rejections aside (the garbage collector paused)."""
    sources: list[str] = []
    records: list[StandardRecord] = []
    record_ids: list[str] = []
    rejections: list[Rejection] = []
    with gc_paused():
        for result in results:
            if isinstance(result, SourceRecord):
                sources.append(result.source)
                record_ids.append(result.record_id)
                records.append(result.standardised)
            else:
                rejections.append(result)
            if on_record is not None:
                on_record()
        return frame_of(sources, record_ids, records), rejections


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector. Batch linkage makes no reference cycles, but it holds millions of
    objects (records, keys, clusters), and each pass of the collector walks them all: at a million records the
    passes took a fifth of the reading time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


#: Under this many rows in all, a mapping is read in one process: starting a worker costs about a second.
MIN_ROWS_FOR_WORKERS = 20_000


def collect_sources(
    mapping: Mapping, *, today: dt.date | None = None, workers: int = 2, min_rows: int = MIN_ROWS_FOR_WORKERS
) -> tuple[pa.Table, list[Rejection]]:
    """Read and standardise every source of ``mapping`` into one record table, shared among ``workers`` processes.

    The sources, taken in turn, are cut into ``workers`` runs of about as many bytes each (a row's work grows with its
    text: a free-text address or a full name to split costs more than short separate columns), so a worker may read
    the end of one source and the start of the next. Each worker sends back compact Arrow tables. The result is the
    same as :func:`collect` over :func:`~entramado.identity.mapping.read_mapping`: sources in the mapping's order,
    rows in file order, ``uid`` numbering them; under ``min_rows`` rows in all, this process reads alone. Workers
    are spawned, so a script that calls this guards its entry point with ``if __name__ == "__main__":`` as
    multiprocessing requires (the ``entramado`` command does)."""
    today = today or dt.date.today()  # one date for every worker, even across midnight
    sizes = [estimate_rows(source) for source in mapping.sources]
    if workers <= 1 or sum(sizes) < min_rows:
        return collect(read_mapping(mapping, today=today))
    row_bytes = [_file_size(source) / max(rows, 1) for source, rows in zip(mapping.sources, sizes, strict=True)]
    shares = _shares(sizes, workers, row_bytes)
    with ProcessPoolExecutor(len(shares), mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_collect_share, [(mapping, share, today) for share in shares]))
    pieces = sorted((piece for part in parts for piece in part), key=lambda piece: (piece[0], piece[1]))
    tables = [table for _, _, table, _ in pieces if table.num_rows]
    combined = pa.concat_tables(tables) if tables else FrameBuilder().table()
    combined = combined.set_column(0, "uid", pa.array(range(combined.num_rows), type=pa.int64()))
    return combined, [r for _, _, _, rejected in pieces for r in rejected]


# A run of one source's rows for one worker: (index of the source, first row, row after the last or None for the end).
_Chunk = tuple[int, int, int | None]


def _shares(sizes: Sequence[int], workers: int, costs: Sequence[float] | None = None) -> list[list[_Chunk]]:
    """Cut sources of ``sizes`` rows (in order), a row of each costing ``costs`` (1 by default), into at most
    ``workers`` runs of about equal cost. Rows are numbered as :func:`~entramado.identity.mapping.read_source`
    numbers them (the first record is row 2); the last chunk of a source always runs to its end, so a wrong estimate
    unbalances the work but never loses a row."""
    costs = costs or [1.0] * len(sizes)
    per = sum(size * cost for size, cost in zip(sizes, costs, strict=True)) / workers
    shares: list[list[_Chunk]] = [[] for _ in range(workers)]
    worker, room = 0, per
    for index, (size, cost) in enumerate(zip(sizes, costs, strict=True)):
        start = 0
        while (size - start) * cost > room and worker < workers - 1:
            cut = start + int(room / cost)
            if cut > start:
                shares[worker].append((index, start + 2, cut + 2))
            start, worker, room = cut, worker + 1, per
        shares[worker].append((index, start + 2, None))
        room -= (size - start) * cost
    return [share for share in shares if share]


def _file_size(source: Source) -> int:
    try:
        return source.path.stat().st_size
    except OSError:
        return 0


def estimate_rows(source: Source) -> int:
    """About how many records a source holds: exact for Parquet, from the first MiB's line length for CSV."""
    try:
        if source.kind == "parquet":
            parquet: Any = importlib.import_module("pyarrow.parquet")
            return int(parquet.ParquetFile(str(source.path)).metadata.num_rows)
        size = source.path.stat().st_size
        with source.path.open("rb") as handle:
            sample = handle.read(1 << 20)
    except (OSError, ValueError):  # unreadable here: reading it reports the error, with its row
        return 0
    lines = sample.count(b"\n") or 1
    return max(0, round(size * lines / max(len(sample), 1)) - 1)


def _collect_share(job: tuple[Mapping, list[_Chunk], dt.date]) -> list[tuple[int, int, pa.Table, list[Rejection]]]:
    mapping, share, today = job
    out = []
    for index, start, stop in share:
        table, rejected = collect(read_source(mapping.sources[index], today=today, rows=(start, stop)))
        out.append((index, start, table, rejected))
    return out


def link_table(
    table: pa.Table,
    *,
    config: LinkConfig = LinkConfig(),
    model: Model | None = None,
    same: Sequence[Pair] = (),
    different: Sequence[Pair] = (),
    timings: Timings | None = None,
    spark: Any = None,
) -> tuple[Model, ScoredPairs, npt.NDArray[np.int64], list[Pair]]:
    """Score and cluster a record table: train the model unless one is given, score blocked pairs, cluster with the
    household rules and the officials' decisions (``same`` / ``different`` as uid pairs), which also label the
    training."""
    timings = timings or Timings()
    scorer = Scorer(table, config.backend, spark=spark, threads=config.threads)
    try:
        if model is None or config.retrain:
            with timings.stage("train"):
                labels = [(a, b, True) for a, b in same] + [(a, b, False) for a, b in different]
                model = scorer.train(u_max_pairs=config.u_max_pairs, labels=labels)
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
