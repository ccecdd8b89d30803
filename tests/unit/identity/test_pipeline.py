"""Reading the sources in worker processes gives exactly what reading them in turn gives; the household rules, and
switching them off."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from entramado.bench.identity_realtime import PLAUSIBLE_MODEL
from entramado.identity.frame import FrameBuilder, frame_of, keyed_values
from entramado.identity.mapping import SourceRecord, StandardRecord, load_mapping, read_mapping
from entramado.identity.pipeline import (
    MATCH_WEIGHT,
    LinkConfig,
    _shares,
    collect,
    collect_sources,
    estimate_rows,
    link_table,
)
from entramado.identity.synthetic import generate_records, write_csv


def test_workers_read_what_one_process_reads(tmp_path: Path) -> None:
    write_csv(generate_records(900, seed=2), tmp_path)
    with (tmp_path / "DGI.csv").open("a", encoding="utf-8") as handle:
        handle.write('777,1234567-2,"PEREZ, ANA",31/02/1990,F,CALLE X 1,MONTEVIDEO,\n')  # an impossible date
    mapping = load_mapping(tmp_path / "mapping.toml")
    today = dt.date(2026, 12, 1)
    together, rejected_together = collect_sources(mapping, today=today, workers=2, min_rows=0)
    in_turn, rejected_in_turn = collect(read_mapping(mapping, today=today))
    assert together.equals(in_turn)
    assert together.column("uid").to_pylist() == list(range(together.num_rows))
    assert [str(r) for r in rejected_together] == [str(r) for r in rejected_in_turn]
    assert len(rejected_together) == 1 and rejected_together[0].record_id == "777"


def test_the_table_built_column_by_column_is_the_table_built_record_by_record(tmp_path: Path) -> None:
    write_csv(generate_records(900, seed=3), tmp_path)
    read = [r for r in read_mapping(load_mapping(tmp_path / "mapping.toml")) if isinstance(r, SourceRecord)]
    builder = FrameBuilder()
    for result in read:
        builder.add(result.source, result.record_id, keyed_values(result.standardised))
    by_columns = frame_of([r.source for r in read], [r.record_id for r in read], [r.standardised for r in read])
    assert by_columns.equals(builder.table()) and by_columns.num_rows == len(read) > 800


def test_one_source_shared_by_workers_reads_as_a_whole(tmp_path: Path) -> None:
    # Three workers cut one file in three; ids repeated across the cuts and bad rows on either side still come out
    # as one process reads them: rejected, naming the first row.
    lines = ["id,nombre,apellido,fecha"] + [f"{i},ANA,PEREZ,{1 + i % 28:02d}/03/1990" for i in range(3000)]
    lines[2900] = "5,EVA,GOMEZ,01/01/1980"  # row 2901 repeats id 5 (row 7)
    lines[1500] = "1499,LUIS,SOSA,31/02/1980"  # an impossible date in the middle
    lines[10] = ",SIN,ID,01/01/1980"
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "mapping.toml").write_text(
        '[[source]]\nname = "A"\npath = "a.csv"\nid = "id"\n[source.fields]\ngiven_names = "nombre"\n'
        'first_surname = "apellido"\nbirth_date = { column = "fecha", format = "%d/%m/%Y" }\n',
        encoding="utf-8",
    )
    mapping = load_mapping(tmp_path / "mapping.toml")
    assert 2900 <= estimate_rows(mapping.sources[0]) <= 3100
    today = dt.date(2026, 12, 1)
    shared, rejected_shared = collect_sources(mapping, today=today, workers=3, min_rows=0)
    whole, rejected_whole = collect(read_mapping(mapping, today=today))
    assert shared.equals(whole) and shared.num_rows == 2997
    assert [str(r) for r in rejected_shared] == [str(r) for r in rejected_whole]
    assert [r.row for r in rejected_shared] == [11, 1501, 2901]


def test_shares_cut_the_rows_evenly_and_every_source_runs_to_its_end() -> None:
    assert _shares([306, 326, 269, 100], 2) == [
        [(0, 2, None), (1, 2, 196)],
        [(1, 196, None), (2, 2, None), (3, 2, None)],
    ]
    assert _shares([10], 3) == [[(0, 2, 5)], [(0, 5, 8)], [(0, 8, None)]]
    assert _shares([0, 0], 2) == [[(0, 2, None), (1, 2, None)]]


def _frame(*records: StandardRecord) -> pa.Table:
    builder = FrameBuilder()
    for number, record in enumerate(records):
        builder.add("SRC", str(number), keyed_values(record))
    return builder.table()


def test_household_rules_keep_a_parent_and_child_sharing_a_cedula_apart_unless_switched_off() -> None:
    # A parent's cédula on a child's record: the surnames, cédula and address agree, given name and birth date do not.
    household: dict[str, Any] = {"first_surname": "PEREZ", "second_surname": "GOMEZ", "national_id": "12345672"}
    household |= {"national_id_valid": True, "street_name": "ITALIA", "street_number": "1234", "sex": "M"}
    parent = StandardRecord(given_names="JORGE", birth_date=dt.date(1961, 5, 2), **household)
    child = StandardRecord(given_names="MATEO", birth_date=dt.date(2012, 9, 30), **household)
    table = _frame(parent, child)
    model = PLAUSIBLE_MODEL
    _, pairs, labels, refused = link_table(table, model=model)
    assert pairs.weight[0] >= MATCH_WEIGHT and pairs.conflict[0]
    assert labels[0] != labels[1] and refused == [(0, 1)]
    _, _, labels, refused = link_table(table, model=model, config=LinkConfig(households=False))
    assert labels[0] == labels[1] and refused == []
