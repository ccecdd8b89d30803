"""``entramado log …``: check a gateway's message log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from entramado import crypto
from entramado.cli_common import JsonFlag, emit, friendly
from entramado.db import make_engine, sqlite_url
from entramado.errors import BadRequest
from entramado.evidence.chain import chains
from entramado.evidence.verify import verify_chain

app = typer.Typer(
    help="The message log: verification (archives and timestamps come with evidence).", no_args_is_help=True
)


@app.command()
@friendly
def verify(
    data_dir: Path | None = typer.Option(None, "--data-dir", "-d", help="A gateway's data folder."),
    database_url: str | None = typer.Option(None, help="Or the gateway's database URL."),
    chain: str | None = typer.Option(None, help="Only this chain (MEMBER/GATEWAY)."),
    anchor: Path | None = typer.Option(None, help="Trust anchor for the timestamps (default: DATA_DIR/anchor.pem)."),
    as_json: bool = JsonFlag,
) -> None:
    """Check the hash chain, every body digest, every signature, every batch root and timestamp;
    name the first bad record."""
    if database_url is None:
        if data_dir is None:
            raise typer.BadParameter("give --data-dir or --database-url")
        database_url = sqlite_url(data_dir / "gateway.db")
    engine = make_engine(database_url)
    anchor_file = anchor or (data_dir / "anchor.pem" if data_dir else None)
    trust = crypto.cert_from_pem(anchor_file.read_bytes()) if anchor_file and anchor_file.exists() else None
    reports = [verify_chain(engine, name, trust).as_dict() for name in ([chain] if chain else chains(engine))]
    emit(reports, True) if as_json else _show(reports)
    if not reports or not all(r["ok"] for r in reports):
        raise typer.Exit(1)


def _show(reports: list[dict[str, object]]) -> None:
    if not reports:
        typer.echo("no message log records found")
    for r in reports:
        if r["ok"]:
            typer.echo(
                f"{r['chain']}: OK — {r['records']} records, {r['signatures_verified']} signatures, "
                f"{r['timestamps_verified']} timestamped batches verified; "
                f"{r['records_not_yet_timestamped']} records not timestamped yet"
            )
        else:
            first = r["first_problem"]
            assert isinstance(first, dict)
            typer.echo(f"{r['chain']}: FAILED at record {first['seq']} ({first['kind']}): {first['detail']}")


@app.command()
@friendly
def archive(
    data_dir: Path = typer.Option(..., "--data-dir", "-d", help="The gateway's data folder."),
    out: Path | None = typer.Option(None, help="Archive folder (default: DATA_DIR/archives)."),
    retention_days: float = typer.Option(0.0, help="Keep archived records this long in the database."),
    keep: bool = typer.Option(False, help="Do not prune the database at all."),
    max_records: int = typer.Option(1_000_000, help="Records per archive file, at most (whole batches)."),
    as_json: bool = JsonFlag,
) -> None:
    """Move closed, timestamped batches into archive files and prune the database."""
    from entramado.evidence.archive import archive_chain
    from entramado.settings import gateway_settings

    settings = gateway_settings(data_dir)
    engine = make_engine(settings.db_url)
    retention = None if keep else dt.timedelta(days=retention_days)
    results = []
    for name in chains(engine):
        results += [
            r.as_dict()
            for r in archive_chain(
                engine, name, out or data_dir / "archives", max_records=max_records, retention=retention
            )
        ]
    if as_json:
        emit(results, True)
    else:
        for r in results:
            typer.echo(f"{r['path']}: {r['records']} records in {r['batches']} batches, sha256 {r['sha256']}")
        if not results:
            typer.echo("nothing to archive: no closed, timestamped batch")


@app.command("verify-archive")
@friendly
def verify_archive(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Archive files, any order."),
    anchor: Path = typer.Option(..., exists=True, dir_okay=False, help="The instance's CA certificate."),
    as_json: bool = JsonFlag,
) -> None:
    """Verify archives offline against the trust anchor: signatures, chain, Merkle roots, timestamps."""
    from entramado import crypto
    from entramado.evidence.offline import verify_archives

    report = verify_archives(list(files), crypto.cert_from_pem(anchor.read_bytes()))
    if as_json:
        emit(report.as_dict(), True)
    elif report.ok:
        typer.echo(
            f"OK — {report.files} archives, {report.records} records, {report.signatures} signatures, "
            f"{report.batches} batches, {report.timestamps} timestamps verified"
        )
    else:
        for p in report.problems[:20]:
            typer.echo(
                f"FAILED {p.file} line {p.line}"
                + (f" (seq {p.seq})" if p.seq is not None else "")
                + f": {p.kind}: {p.detail}"
            )
    if not report.ok:
        raise typer.Exit(1)


@app.command("verify-evidence")
@friendly
def verify_evidence(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="An evidence bundle (JSON)."),
    anchor: Path = typer.Option(..., exists=True, dir_okay=False, help="The instance's CA certificate."),
) -> None:
    """Check one exchange's evidence bundle offline: signatures, Merkle proofs, timestamps."""
    import orjson

    from entramado import crypto
    from entramado.evidence.bundle import verify_bundle

    try:
        evidence = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise BadRequest("not a JSON evidence bundle", str(exc)) from exc
    problems = verify_bundle(evidence, crypto.cert_from_pem(anchor.read_bytes()))
    for problem in problems:
        typer.echo(f"FAILED {problem}")
    if problems:
        raise typer.Exit(1)
    typer.echo(
        f"OK — {len(evidence['items'])} records of {evidence.get('x_road_id')}: signatures, proofs and timestamps hold"
    )
