"""``entramado log …``: check a gateway's message log."""

from __future__ import annotations

from pathlib import Path

import typer

from entramado.cli_common import JsonFlag, emit, friendly
from entramado.db import make_engine, sqlite_url
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
    as_json: bool = JsonFlag,
) -> None:
    """Check the hash chain, every body digest and every signature; name the first bad record."""
    if database_url is None:
        if data_dir is None:
            raise typer.BadParameter("give --data-dir or --database-url")
        database_url = sqlite_url(data_dir / "gateway.db")
    engine = make_engine(database_url)
    reports = [verify_chain(engine, name).as_dict() for name in ([chain] if chain else chains(engine))]
    emit(reports, True) if as_json else _show(reports)
    if not reports or not all(r["ok"] for r in reports):
        raise typer.Exit(1)


def _show(reports: list[dict[str, object]]) -> None:
    if not reports:
        typer.echo("no message log records found")
    for r in reports:
        if r["ok"]:
            typer.echo(f"{r['chain']}: OK — {r['records']} records, {r['signatures_verified']} signatures verified")
        else:
            first = r["first_problem"]
            assert isinstance(first, dict)
            typer.echo(f"{r['chain']}: FAILED at record {first['seq']} ({first['kind']}): {first['detail']}")
