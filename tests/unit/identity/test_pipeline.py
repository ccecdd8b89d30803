"""Reading the sources in worker processes gives exactly what reading them in turn gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from entramado.identity.mapping import load_mapping, read_mapping
from entramado.identity.pipeline import collect, collect_sources
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
