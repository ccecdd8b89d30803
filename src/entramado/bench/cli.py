"""``entramado bench …``: measurements that back the figures in docs/benchmarks.md."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks; each prints JSON.", no_args_is_help=True)


@app.command()
def exchange(
    duration: float = typer.Option(10.0, help="Seconds of load per mode."),
    connections: int = typer.Option(32, help="Concurrent connections for the throughput runs."),
    keep: Path | None = typer.Option(None, help="Keep the network's files in this folder."),
    evidence_rounds: int = typer.Option(0, help="Also measure timestamping + archiving on vs off, this many rounds."),
) -> None:
    """Secure exchange through two gateways vs. direct vs. a plain two-hop proxy chain."""
    from entramado.bench.exchange import bench_exchange

    print(json.dumps(bench_exchange(duration, connections, keep, evidence_rounds), indent=2))


@app.command()
def archive(
    records: int = typer.Option(1_000_000, help="Message-log records to build and archive."),
    verify: bool = typer.Option(False, help="Also verify the archives offline (slow: one Ed25519 check per record)."),
    keep: Path | None = typer.Option(None, help="Keep the files in this folder."),
) -> None:
    """Archive a large message log (bounded memory) against a plain gzip dump of the same rows."""
    from entramado.bench.archive import bench_archive

    print(json.dumps(bench_archive(records, verify, keep), indent=2))
