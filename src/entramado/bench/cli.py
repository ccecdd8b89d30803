"""``entramado bench …``: measurements that back the figures in docs/benchmarks.md."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks; each prints JSON.", no_args_is_help=True)
