"""Batch linkage end to end on each database: accuracy, persistent ids across reruns, withdrawn and changed records,
officials' decisions binding later runs, merged ids redirecting."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from entramado.db import upgrade
from entramado.errors import Conflict
from entramado.identity import services
from entramado.identity.evaluate import accuracy
from entramado.identity.mapping import load_mapping
from entramado.identity.pipeline import LinkConfig
from entramado.identity.synthetic import MAPPING_TOML as MAPPING
from entramado.identity.synthetic import generate_records, write_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:splink")


def _population(folder: Path, n: int = 4000) -> dict[tuple[str, str], int]:
    write_csv(generate_records(n, seed=7, shuffle_window=2000), folder)
    (folder / "mapping.toml").write_text(MAPPING)
    with (folder / "truth.csv").open() as handle:
        return {(r["agency"], r["record_id"]): int(r["person_id"]) for r in csv.DictReader(handle)}


def _rewrite(path: Path, keep: object) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    assert header is not None
    kept = [row for row in rows if keep(row)]  # type: ignore[operator]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    return [row for row in rows if not keep(row)]  # type: ignore[operator]


def _ids(report: services.LinkReport) -> dict[tuple[str, str], str]:
    return {(s, r): p for s, r, p in report.assignments}


def test_link_rerun_keeps_ids_and_decisions_bind(tmp_path: Path, database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    truth = _population(tmp_path)
    mapping = load_mapping(tmp_path / "mapping.toml")

    first = services.link_mapping(engine, mapping, config=LinkConfig(u_max_pairs=2e5))
    assert first.read == first.linked + first.rejected == len(truth)
    assert first.created == first.persons and first.kept == 0
    assert first.as_dict()["model"] == {"trained": True, "labels": 0}
    ids = _ids(first)
    keys = list(ids)
    score = accuracy([ids[k] for k in keys], [truth[k] for k in keys])
    assert score.cluster_f1 >= 0.98, score
    assert score.persons_exact >= 0.97, score

    # Nothing changed: every id is kept, nothing is created, no review opens twice.
    again = services.link_mapping(engine, mapping)
    assert "train" not in again.timings.stages and not again.trained  # the stored model is reused
    assert (again.kept, again.created, again.merged, again.retired, again.reviews_opened) == (first.persons, 0, 0, 0, 0)
    assert _ids(again) == ids

    # Withdraw a fifth of IM's records and change one BPS record's address: the other persons keep their ids.
    withdrawn = _rewrite(tmp_path / "IM.csv", lambda row: int(row["record_id"]) % 5 != 0)
    bps = tmp_path / "BPS.csv"
    with bps.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    moved = rows[0]["record_id"]
    rows[0]["address"] = "AV ITALIA 4321"
    with bps.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    third = services.link_mapping(engine, load_mapping(tmp_path / "mapping.toml"))
    assert third.withdrawn == len(withdrawn) > 0
    after = _ids(third)
    untouched = {ids[k] for k in ids if k[0] != "IM"} - {ids[("BPS", moved)]}
    kept = sum(1 for k in after if k in ids and after[k] == ids[k] and ids[k] in untouched)
    still = sum(1 for k in after if k in ids and ids[k] in untouched)
    assert kept / still >= 0.999
    assert after[("BPS", moved)] == ids[("BPS", moved)]  # one changed record does not move its person
    record = services.get_person_records(engine, after[("BPS", moved)])
    assert any("ITALIA" in (r["fields"]["street_name"] or "") for r in record["records"] if r["record_id"] == moved)

    # An official decides two different persons are one: the next run merges them, the old id redirects.
    a, b = next((x, y) for x, y in itertools.pairwise(keys) if x in after and y in after and after[x] != after[y])
    from sqlalchemy.orm import Session

    from entramado.identity.models import Review

    with Session(engine) as session, session.begin():
        (sa, ra), (sb, rb) = sorted((a, b))
        review = Review(source_a=sa, record_a=ra, source_b=sb, record_b=rb, kind="uncertain", weight=1.0)
        session.add(review)
        session.flush()
        review_id = review.id
    services.decide_review(engine, review_id, "same", "official-7")
    with pytest.raises(Conflict):
        services.decide_review(engine, review_id, "different", "official-8")
    fourth = services.link_mapping(engine, load_mapping(tmp_path / "mapping.toml"), config=LinkConfig(u_max_pairs=2e5))
    assert fourth.as_dict()["model"] == {"trained": True, "labels": 1}  # the decision is a label the model had not seen
    merged_ids = _ids(fourth)
    assert merged_ids[a] == merged_ids[b]
    assert fourth.merged >= 1
    gone = after[a] if merged_ids[a] != after[a] else after[b]
    person = services.get_person(engine, gone)
    assert person["person_id"] == merged_ids[a] and person["requested_id"] == gone
    assert {"kind": "merged"}.items() <= services.person_history(engine, gone)[-1].items()

    assert not services.link_mapping(engine, load_mapping(tmp_path / "mapping.toml")).trained  # seen now

    # The golden record names its source for every attribute.
    golden = services.get_person(engine, merged_ids[a])["golden"]
    assert golden and all({"value", "source", "record_id", "updated_at"} <= set(v) for v in golden.values())


def test_link_rejects_are_counted_and_named(tmp_path: Path, database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    _population(tmp_path, 600)
    with (tmp_path / "DNIC.csv").open("a") as handle:
        handle.write("999,12A45678,JUAN,PEREZ,GOMEZ,1980-01-01,M,CALLE X 1,MONTEVIDEO\n")
        handle.write("998,1234567-2,ANA,PEREZ,GOMEZ,1980-02-31,F,CALLE X 1,MONTEVIDEO\n")
    report = services.link_mapping(engine, load_mapping(tmp_path / "mapping.toml"), config=LinkConfig(u_max_pairs=1e5))
    assert report.rejected == 2 and report.read == report.linked + 2
    reasons = {r.record_id: (r.column, r.reason) for r in report.rejections}
    assert reasons["999"][0] == "cedula" and reasons["998"][0] == "birth_date"
    assert np.all([p for _, _, p in report.assignments])
