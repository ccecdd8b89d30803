"""Helpers every CLI group shares: JSON output and turning errors into a clear message."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from entramado.errors import EntramadoError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(stderr=True)


def emit(data: Any, as_json: bool, title: str = "") -> None:
    """Print ``data`` as JSON (for scripts) or as a readable table."""
    if as_json or not isinstance(data, list) or not data or not isinstance(data[0], dict):
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=title or None)
    for column in data[0]:
        table.add_column(str(column))
    for row in data:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Show an ``EntramadoError`` as one line and exit 1, never as a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EntramadoError as exc:
            console.print(f"[red]error[/red] {exc.type}: {exc.message}" + (f" ({exc.detail})" if exc.detail else ""))
            sys.exit(1)
        except OperationalError as exc:
            console.print(f"[red]error[/red] database unavailable: {exc.orig}")
            sys.exit(1)

    return wrapper


DataDir = typer.Option(..., "--data-dir", "-d", help="The role's data folder.")
JsonFlag = typer.Option(False, "--json", help="Print JSON for scripts.")
