"""The demo's person index is reused across starts, and made again when an earlier version saved it with a match
model this version cannot use."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

from entramado.demo.index import prepare


def test_an_index_saved_with_another_model_is_made_again(tmp_path: Path) -> None:
    said: list[str] = []
    folder = tmp_path / "identity"
    example, seconds = prepare(folder, said.append, records=600)
    assert seconds is not None
    again, seconds = prepare(folder, said.append, records=600)
    assert seconds is None and again == example  # reused

    with sqlite3.connect(folder / "identity.db") as db:  # what an earlier version saved: one address level fewer
        (model_text,) = db.execute("SELECT model FROM identity_runs ORDER BY id DESC LIMIT 1").fetchone()
        model = json.loads(model_text)
        address = model["comparisons"]["address"]
        address["m"], address["u"], address["levels"] = address["m"][1:], address["u"][1:], address["levels"][1:]
        db.execute("UPDATE identity_runs SET model = ?", (json.dumps(model),))
    said.clear()
    remade, seconds = prepare(folder, said.append, records=600)
    # The records are deterministic; person ids are random, and a new index makes new ones.
    assert seconds is not None and replace(remade, person_id=example.person_id) == example
    assert any("earlier version" in line for line in said), said
    _, seconds = prepare(folder, said.append, records=600)
    assert seconds is None
