"""The ``entramado`` command."""

from __future__ import annotations

import typer

from entramado.bench.cli import app as bench_app
from entramado.demo.cli import demo
from entramado.evidence.cli import app as log_app
from entramado.gateway.cli import app as gateway_app
from entramado.identity.cli import app as identity_app
from entramado.registry.cli import app as registry_app

app = typer.Typer(help="Entramado: networked government on one secure, audited network.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(gateway_app, name="gateway")
app.add_typer(log_app, name="log")
app.add_typer(identity_app, name="identity")
app.add_typer(bench_app, name="bench")
app.command()(demo)


def main() -> None:
    app()
