"""`entramado identity link` and the review queue as a user runs them: real processes, the read shared by worker
processes, counts that reconcile, a rejected row named, a decision that binds and labels the next run."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from entramado.identity.synthetic import generate_records, write_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:splink")


def _entramado(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entramado", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_link_review_decide_and_link_again(tmp_path: Path) -> None:
    people = tmp_path / "people"
    write_csv(generate_records(24_000, seed=8), people)  # above the size at which workers share the read
    with (people / "DGI.csv").open("a", encoding="utf-8") as handle:
        handle.write('99999999,1234567-2,"PEREZ, ANA",31/02/1990,F,CALLE X 1,MONTEVIDEO,\n')
    with (people / "DGI.csv").open(encoding="utf-8") as handle:
        bad_row = sum(1 for _ in handle)

    done = _entramado(
        "identity", "link", "--mapping", "people/mapping.toml", "--output", "persons.csv",
        "--errors", "rejected.csv", "--json", "-d", "idx", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    records = summary["records"]
    assert records["read"] == records["linked"] + records["rejected"] == 24_001
    assert records["rejected"] == 1 and summary["model"] == {"trained": True, "labels": 0}
    with (tmp_path / "persons.csv").open(newline="") as handle:
        assigned = list(csv.DictReader(handle))
    assert len(assigned) == records["linked"] and len({r["person_id"] for r in assigned}) == summary["persons"]
    with (tmp_path / "rejected.csv").open(newline="") as handle:
        [rejected] = list(csv.DictReader(handle))
    assert (rejected["source"], rejected["row"], rejected["column"], rejected["record_id"]) == (
        "DGI",
        str(bad_row),
        "birth_date",
        "99999999",
    )
    assert "is not a real date" in rejected["reason"]

    listed = _entramado("identity", "review", "list", "--json", "-d", "idx", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    reviews = json.loads(listed.stdout)
    assert reviews and summary["reviews_opened"] >= len(reviews)
    first = reviews[0]["id"]
    decided = _entramado("identity", "review", "decide", str(first), "different", "--by", "official-1", "-d", "idx",
                         cwd=tmp_path)  # fmt: skip
    assert decided.returncode == 0 and json.loads(decided.stdout)["decision"] == "different", decided.stderr
    again = _entramado("identity", "review", "decide", str(first), "same", "--by", "official-2", "-d", "idx",
                       cwd=tmp_path)  # fmt: skip
    assert again.returncode != 0 and "already decided" in again.stderr and "Traceback" not in again.stderr

    relinked = _entramado(
        "identity", "link", "--mapping", "people/mapping.toml", "--output", "persons2.csv", "-d", "idx", cwd=tmp_path
    )
    assert relinked.returncode == 0, relinked.stderr[-2000:]
    assert "24001 records read: 24000 linked" in relinked.stdout
    assert "model: trained with 1 officials' decisions as labels" in relinked.stdout
    kept = re.search(r"ids: (\d+) kept", relinked.stdout)
    assert kept and int(kept[1]) >= 0.999 * summary["persons"], relinked.stdout  # the records did not change
