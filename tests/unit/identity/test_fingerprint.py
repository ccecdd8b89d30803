"""Batch linkage (DuckDB) and the real-time API (Python) write a record's values and fingerprint the same way, so
that a record sent again unchanged is recognised whichever path stored it."""

from __future__ import annotations

from entramado.bench.identity_realtime import synthetic_table
from entramado.identity.frame import PERSON_FIELDS
from entramado.identity.realtime_service import fingerprint
from entramado.identity.services import record_json
from entramado.identity.synthetic import generate_records


def test_batch_and_real_time_fingerprints_agree() -> None:
    table = synthetic_table(generate_records(2000, seed=9)).drop(["person_id"])
    values, digests = record_json(table)
    columns = [table.column(name).to_pylist() for name in PERSON_FIELDS]
    for i, row in enumerate(zip(*columns, strict=True)):
        assert fingerprint(row) == (values[i], digests[i]), i
