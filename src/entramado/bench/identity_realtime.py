"""Real-time matching at scale: build a :class:`~entramado.identity.realtime.RecordIndex` of synthetic records and time
:meth:`~entramado.identity.realtime.RecordIndex.match` for held-out records.

``python -m entramado.bench.identity_realtime --records 1000000 --queries 2000 --cache DIR`` prints JSON.

The synthetic records are standardised as the mapping of the four synthetic agencies reads them (the same forms and
date formats); standardising a million records takes a few minutes, so the record table can be cached as Parquet.
The index's person ids are the true ones, as if batch linkage had been perfect: the figures measure the matcher's
speed, and how often it finds a held-out record's person given the right persons.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from entramado.identity.frame import PERSON_FIELDS, FrameBuilder, keyed_values
from entramado.identity.linkage import BLOCKING_RULES, splink_settings
from entramado.identity.mapping import RecordRejected, standardise_fields
from entramado.identity.model import Model
from entramado.identity.realtime import RecordIndex
from entramado.identity.synthetic import SyntheticRecord, generate_records

#: The date formats each synthetic agency writes (as its mapping declares them); ``()`` lets the parser guess.
DATE_FORMATS: dict[str, tuple[str, ...]] = {
    "DNIC": ("%Y-%m-%d",),
    "BPS": ("%d%m%Y", "DMY"),
    "DGI": ("%d/%m/%Y",),
    "IM": (),
}
_RAW_FIELDS = ("given_names", "first_surname", "second_surname", "full_name", "birth_date", "sex", "address")
#: The day the synthetic population is generated for (birth dates are bounded by it).
REFERENCE_DATE = date(2025, 1, 1)

#: A hand-written model with plausible ``m`` and ``u`` (a population of some 400 000 people): the matcher's speed
#: does not depend on the values, and a trained model needs Splink and minutes.
PLAUSIBLE_MODEL = Model(
    prior=2.5e-6,
    m=(
        (0.90, 0.02, 0.03, 0.05),  # cédula: exact and valid, exact, one edit, else
        (0.80, 0.08, 0.04, 0.05, 0.01, 0.005, 0.015),  # given names
        (0.70, 0.15, 0.08, 0.005, 0.04, 0.005, 0.02),  # surnames
        (0.92, 0.03, 0.02, 0.01, 0.02),  # birth date
        (0.98, 0.02),  # sex
        (0.60, 0.10, 0.03, 0.05, 0.02, 0.10, 0.10),  # address
        (0.80, 0.20),  # phone
        (0.90, 0.10),  # e-mail
    ),
    u=(
        (3e-6, 1e-7, 6e-5, 0.99994),
        (0.005, 0.002, 0.01, 0.01, 0.02, 1e-4, 0.9529),
        (1e-4, 5e-4, 2e-4, 1e-5, 0.005, 0.01, 0.98419),
        (4e-5, 1e-5, 5e-4, 0.012, 0.98745),
        (0.5, 0.5),
        (1e-5, 2e-5, 3e-5, 5e-4, 0.01, 0.14, 0.84944),
        (1e-5, 0.99999),
        (1e-6, 0.999999),
    ),
)


def synthetic_fields(record: SyntheticRecord) -> dict[str, str]:
    """A synthetic record's raw values by canonical field, as the synthetic agencies' mapping reads them."""
    fields = {name: value for name in _RAW_FIELDS if (value := getattr(record, name))}
    if record.cedula:
        fields["national_id"] = record.cedula
        fields["national_id_scheme"] = "UY-CI"
    # The municipality's records have no department column: every one is in Montevideo.
    department = "MONTEVIDEO" if record.agency == "IM" else record.department
    for name, value in (("department", department), ("phone", record.phone), ("email", record.email)):
        if value:
            fields[name] = value
    return fields


def synthetic_values(record: SyntheticRecord) -> tuple[Any, ...]:
    """A synthetic record's values of :data:`~entramado.identity.frame.PERSON_FIELDS`, comparison keys included.

    Raises :class:`~entramado.identity.mapping.RecordRejected` when the record cannot be used (never, for the
    generator's records).
    """
    standard = standardise_fields(
        synthetic_fields(record), date_formats=DATE_FORMATS[record.agency], today=REFERENCE_DATE
    )
    return keyed_values(standard)


def synthetic_table(records: Iterator[SyntheticRecord]) -> pa.Table:
    """A record table (:data:`~entramado.identity.frame.COLUMNS`) plus the true ``person_id`` of each record."""
    builder = FrameBuilder()
    person_ids: list[int] = []
    for record in records:
        try:
            values = synthetic_values(record)
        except RecordRejected:
            continue
        builder.add(record.agency, record.record_id, values)
        person_ids.append(record.person_id)
    table = builder.table()
    return table.append_column("person_id", pa.array(person_ids, type=pa.int64()))


def _cached_table(n_records: int, seed: int, cache: Path | None) -> pa.Table:
    path = cache / f"identity-realtime-{n_records}-{seed}.parquet" if cache else None
    if path is not None and path.exists():
        return pq.read_table(path)
    table = synthetic_table(generate_records(n_records, seed=seed))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return table


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _current_rss_mb() -> float | None:
    # Resident memory now (Linux only): the peak above may come from preparing the records, not from the index.
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(pages * resource.getpagesize() / (1024 * 1024), 1)


def _percentile(sorted_values: Sequence[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def bench_realtime(
    n_records: int = 1_000_000,
    queries: int = 1000,
    seed: int = 0,
    *,
    cache: Path | None = None,
    baseline_queries: int = 20,
) -> dict[str, Any]:
    """Build an index of ``n_records`` synthetic records and match ``queries`` held-out records of the same
    population against it.

    Args:
        n_records: records in the index.
        queries: held-out records to match (drawn at random among ``n_records + queries`` generated records).
        seed: the synthetic population and the draw.
        cache: a folder to keep the standardised records in (Parquet), to skip standardisation next time.
        baseline_queries: how many of the queries Splink's ``predict_between`` also answers (0: no baseline).

    Returns:
        JSON-able figures: build time (wall and CPU seconds), RSS (MB) before and after the build and at its peak
        (the peak includes preparing the records when they are not cached), match latency percentiles in ms (wall,
        and the CPU time of the matching thread, which other processes on the machine do not inflate), candidates
        scored per query, and the decisions for held-out records whose person has other records in the index and
        for those whose person has none (``match_right``, ``match_wrong``, ``review_<reason>``, ``new``).
    """
    started = time.perf_counter()
    table = _cached_table(n_records + queries, seed, cache)
    prepare_s = time.perf_counter() - started
    held_out = sorted(Random(f"identity-realtime/{seed}").sample(range(table.num_rows), min(queries, table.num_rows)))
    held = set(held_out)
    keep = pa.array([i not in held for i in range(table.num_rows)])
    indexed, queried = table.filter(keep), table.take(held_out)
    del table
    gc.collect()
    rss_before = _current_rss_mb()

    started, cpu_started = time.perf_counter(), time.process_time()
    index = RecordIndex.from_table(indexed)
    build_s, build_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    rss_after = _current_rss_mb()
    indexed_persons = set(indexed.column("person_id").to_pylist())

    columns = [queried.column(name).to_pylist() for name in PERSON_FIELDS]
    truth = queried.column("person_id").to_pylist()
    model = PLAUSIBLE_MODEL
    wall: list[float] = []
    cpu: list[float] = []
    scored: list[int] = []
    outcomes: dict[str, Counter[str]] = {"person_indexed": Counter(), "person_not_indexed": Counter()}
    for values, person in zip(zip(*columns, strict=True), truth, strict=True):
        t0, c0 = time.perf_counter(), time.thread_time()
        result = index.match(values, model)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        scored.append(result.scored)
        if result.decision == "match":
            outcome = "match_right" if result.person_id == person else "match_wrong"
        else:
            outcome = "new" if result.decision == "new" else f"review_{result.reason}"
        outcomes["person_indexed" if person in indexed_persons else "person_not_indexed"][outcome] += 1
    for figures in (wall, cpu, scored):
        figures.sort()
    baseline = _splink_baseline(indexed, queried, model, baseline_queries) if baseline_queries else None
    return {
        "records": len(index),
        "queries": len(wall),
        "prepare_s": round(prepare_s, 2),
        "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu_s, 2),
        "rss_before_build_mb": rss_before,
        "rss_after_build_mb": rss_after,
        "peak_rss_mb": _rss_mb(),
        "match_ms": _percentiles(wall),
        "match_cpu_ms": _percentiles(cpu),
        "scored_per_query": {"p50": _percentile(scored, 0.5), "p99": _percentile(scored, 0.99), "max": scored[-1]},
        "outcomes": {group: dict(sorted(counts.items())) for group, counts in outcomes.items()},
        "splink_predict_between": baseline,
    }


def _splink_baseline(indexed: pa.Table, queried: pa.Table, model: Model, queries: int) -> dict[str, Any]:
    """The baseline: Splink's own way to score new records against an existing table (``predict_between``), with
    the same comparisons, blocking rules and parameters, one query at a time on DuckDB."""
    import duckdb
    from splink import DuckDBAPI, Linker

    con = duckdb.connect()
    db = DuckDBAPI(connection=con)
    left = db.register(indexed.drop(["person_id"]), table_name="indexed")
    linker = Linker(left, splink_settings(BLOCKING_RULES, model, "duckdb"), log_level=logging.ERROR)
    wall: list[float] = []
    for i in range(min(queries, queried.num_rows)):
        right = db.register(queried.slice(i, 1).drop(["person_id"]), table_name=f"query_{i}")
        t0 = time.perf_counter()
        linker.inference.predict_between(left, right, warning_mode="never").as_record_list()
        wall.append((time.perf_counter() - t0) * 1000)
    con.close()
    wall.sort()
    return {"queries": len(wall), "match_ms": _percentiles(wall)}


def _percentiles(sorted_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(_percentile(sorted_ms, 0.50), 3),
        "p95": round(_percentile(sorted_ms, 0.95), 3),
        "p99": round(_percentile(sorted_ms, 0.99), 3),
        "max": round(sorted_ms[-1], 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print :func:`bench_realtime`'s figures as JSON."""
    parser = argparse.ArgumentParser(description="Time real-time matching against an index of synthetic records.")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="folder to keep the standardised records in")
    parser.add_argument("--baseline-queries", type=int, default=20, help="queries Splink's predict_between answers")
    args = parser.parse_args(argv)
    result = bench_realtime(
        args.records, args.queries, args.seed, cache=args.cache, baseline_queries=args.baseline_queries
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
