"""``entramado identity …``: the person index's commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.console import Console

from entramado.cli_common import JsonFlag, emit, friendly
from entramado.db import connect
from entramado.identity import services
from entramado.identity.mapping import MappingError, load_mapping
from entramado.identity.pipeline import LinkConfig
from entramado.settings import IdentitySettings, identity_settings

app = typer.Typer(help="The national person index: link, review, persons.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue of uncertain pairs.", no_args_is_help=True)
app.add_typer(review_app, name="review")

IdentityDir = typer.Option(Path("identity-data"), "--data-dir", "-d", help="The index's data folder (SQLite).")
DatabaseUrl = typer.Option(None, "--database-url", help="Or a database URL (postgresql://…).")


def _settings(data_dir: Path, database_url: str | None) -> IdentitySettings:
    data_dir.mkdir(parents=True, exist_ok=True)
    overrides = {"database_url": database_url} if database_url else {}
    return identity_settings(data_dir, **overrides)


@app.command()
@friendly
def link(
    mapping: Path = typer.Option(..., "--mapping", "-m", help="MAPPING.toml listing the sources."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV: source,record_id,person_id per linked record."),
    errors: Path | None = typer.Option(None, "--errors", help="CSV of rejected rows with the reason."),
    data_dir: Path = IdentityDir,
    database_url: str | None = DatabaseUrl,
    backend: str | None = typer.Option(None, help="duckdb (default) or spark."),
    retrain: bool = typer.Option(False, help="Train the model again instead of reusing the last run's."),
    as_json: bool = JsonFlag,
) -> None:
    """Link every record of the sources into persons, keeping the ids of persons whose records did not change."""
    try:
        sources = load_mapping(mapping)
    except MappingError as error:
        raise typer.BadParameter(str(error), param_hint="--mapping") from None
    settings = _settings(data_dir, database_url)
    config = LinkConfig(
        backend=backend or settings.backend,  # type: ignore[arg-type]
        match_weight=settings.match_weight,
        review_weight=settings.review_weight,
        retrain=retrain,
        households=settings.household_rules,
    )
    if config.backend not in {"duckdb", "spark"}:
        raise typer.BadParameter("backend must be duckdb or spark", param_hint="--backend")
    spark = None
    if config.backend == "spark":
        from entramado.identity.spark import spark_session

        spark = spark_session(checkpoint_dir=data_dir / "spark-checkpoints")
    engine = connect(settings.db_url)
    console = Console(stderr=True)
    with console.status("linking…") as status:
        report = services.link_mapping(
            engine, sources, config=config, progress=lambda stage: status.update(f"linking: {stage}…"), spark=spark
        )
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("source", "record_id", "person_id"))
        writer.writerows(report.assignments)
    if errors is not None:
        with errors.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("source", "file", "row", "column", "record_id", "reason"))
            writer.writerows(
                (r.source, str(r.path), r.row, r.column or "", r.record_id or "", r.reason) for r in report.rejections
            )
    summary = report.as_dict()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    records, ids = summary["records"], summary["ids"]
    typer.echo(
        f"{records['read']} records read: {records['linked']} linked into {summary['persons']} persons, "
        f"{records['rejected']} rejected" + (f" (see {errors})" if errors else "")
    )
    typer.echo(
        f"ids: {ids['kept']} kept, {ids['created']} new, {ids['merged']} merged, {ids['split']} split, "
        f"{ids['retired']} retired; {summary['reviews_opened']} pairs sent to review"
    )
    model = summary["model"]
    if model["trained"]:
        labels = model["labels"]
        typer.echo("model: trained" + (f" with {labels} officials' decisions as labels" if labels else ""))
    else:
        typer.echo("model: the last run's, reused (--retrain to train it again)")
    typer.echo("seconds: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()))


@app.command()
@friendly
def person(
    person_id: str,
    data_dir: Path = IdentityDir,
    database_url: str | None = DatabaseUrl,
    records: bool = typer.Option(False, help="Show the person's source records too."),
) -> None:
    """A person's golden record (a merged id shows the person it became)."""
    engine = connect(_settings(data_dir, database_url).db_url)
    data = services.get_person(engine, person_id)
    if records:
        data["records"] = services.get_person_records(engine, person_id)["records"]
    data["history"] = services.person_history(engine, person_id)
    print(json.dumps(data, indent=2, ensure_ascii=False))


@review_app.command("list")
@friendly
def review_list(
    data_dir: Path = IdentityDir,
    database_url: str | None = DatabaseUrl,
    status: str = typer.Option("open", help="open or decided"),
    limit: int = typer.Option(20, min=1, max=1000),
    as_json: bool = JsonFlag,
) -> None:
    """Pairs waiting for an official, strongest first."""
    engine = connect(_settings(data_dir, database_url).db_url)
    reviews = services.list_reviews(engine, status=status, limit=limit)
    if as_json:
        emit(reviews, True)
        return
    emit(
        [
            {
                "id": r["id"],
                "kind": r["kind"],
                "a": f"{r['a']['source']}:{r['a']['record_id']}",
                "b": f"{r['b']['source']}:{r['b']['record_id']}",
                "probability": r["probability"],
                "decision": r["decision"] or "",
            }
            for r in reviews
        ],
        False,
        "review queue",
    )


@review_app.command("decide")
@friendly
def review_decide(
    review_id: int,
    decision: str = typer.Argument(..., help="same or different"),
    by: str = typer.Option(..., "--by", help="Who decides (an official's id)."),
    data_dir: Path = IdentityDir,
    database_url: str | None = DatabaseUrl,
) -> None:
    """Decide a pair; final, and binding on every later run."""
    engine = connect(_settings(data_dir, database_url).db_url)
    print(json.dumps(services.decide_review(engine, review_id, decision, by), indent=2))


@app.command()
@friendly
def serve(
    data_dir: Path = IdentityDir,
    database_url: str | None = DatabaseUrl,
    host: str | None = typer.Option(None),
    port: int | None = typer.Option(None),
) -> None:
    """Run the person index's HTTP API (real-time matching, persons, review queue)."""
    import uvicorn

    from entramado.identity.api import create_app
    from entramado.web import configure_logging, private_files

    data_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if database_url:
        overrides["database_url"] = database_url
    settings = identity_settings(data_dir, **overrides)
    configure_logging(settings.log_level)
    private_files()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
