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
) -> None:
    """Secure exchange through two gateways vs. direct vs. a plain two-hop proxy chain."""
    from entramado.bench.exchange import bench_exchange

    print(json.dumps(bench_exchange(duration, connections, keep), indent=2))
