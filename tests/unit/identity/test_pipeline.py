"""Reading the sources in worker processes gives exactly what reading them in turn gives; the household rules, and
switching them off."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from entramado.bench.identity_realtime import PLAUSIBLE_MODEL
from entramado.identity.frame import FrameBuilder, keyed_values
from entramado.identity.mapping import StandardRecord, load_mapping, read_mapping
from entramado.identity.pipeline import MATCH_WEIGHT, LinkConfig, collect, collect_sources, link_table
from entramado.identity.synthetic import generate_records, write_csv


def test_workers_read_what_one_process_reads(tmp_path: Path) -> None:
    write_csv(generate_records(900, seed=2), tmp_path)
    with (tmp_path / "DGI.csv").open("a", encoding="utf-8") as handle:
        handle.write('777,1234567-2,"PEREZ, ANA",31/02/1990,F,CALLE X 1,MONTEVIDEO,\n')  # an impossible date
    mapping = load_mapping(tmp_path / "mapping.toml")
    today = dt.date(2026, 12, 1)
    together, rejected_together = collect_sources(mapping, today=today, workers=2)
    in_turn, rejected_in_turn = collect(read_mapping(mapping, today=today))
    assert together.equals(in_turn)
    assert together.column("uid").to_pylist() == list(range(together.num_rows))
    assert [str(r) for r in rejected_together] == [str(r) for r in rejected_in_turn]
    assert len(rejected_together) == 1 and rejected_together[0].record_id == "777"


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
