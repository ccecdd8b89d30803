"""``entramado registry …``: the network authority's commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from entramado.cli_common import DataDir, JsonFlag, emit, friendly
from entramado.db import connect
from entramado.errors import BadRequest, NotFound
from entramado.registry.services import InstanceFiles, Registry, init_instance
from entramado.settings import registry_settings

app = typer.Typer(
    help="The network authority: members, gateways, services, grants, certificates.",
    no_args_is_help=True,
)
member_app = typer.Typer(help="Members (agencies).", no_args_is_help=True)
subsystem_app = typer.Typer(help="Members' subsystems.", no_args_is_help=True)
registration_app = typer.Typer(help="Gateways asking to join.", no_args_is_help=True)
service_app = typer.Typer(help="Published services.", no_args_is_help=True)
grant_app = typer.Typer(help="Access grants (default deny).", no_args_is_help=True)
app.add_typer(member_app, name="member")
app.add_typer(subsystem_app, name="subsystem")
app.add_typer(registration_app, name="registration")
app.add_typer(service_app, name="service")
app.add_typer(grant_app, name="grant")

ACTOR = "cli"


def open_registry(data_dir: Path) -> Registry:
    if not InstanceFiles(data_dir).ca_key.exists():
        raise NotFound("no instance", f"run `entramado registry init -d {data_dir}` first")
    settings = registry_settings(data_dir)
    return Registry(settings, connect(settings.db_url))


@app.command()
@friendly
def init(
    data_dir: Path = DataDir,
    instance: str = typer.Option("UY-DEMO", help="Instance code."),
    port: int = typer.Option(8080, help="Port `serve` listens on."),
) -> None:
    """Create an instance: network CA, configuration-signing key, admin token."""
    files = init_instance(data_dir, instance, port=port)
    open_registry(data_dir).refresh_configuration()
    typer.echo(f"instance {instance} created in {data_dir}; trust anchor: {files.ca_cert}")


@app.command()
@friendly
def serve(
    data_dir: Path = DataDir,
    host: str | None = typer.Option(None),
    port: int | None = typer.Option(None),
) -> None:
    """Run the registry's HTTP API."""
    import uvicorn

    from entramado.registry.api import create_app
    from entramado.web import configure_logging, private_files

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = registry_settings(data_dir, **overrides)
    configure_logging(settings.log_level)
    private_files()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


@app.command()
@friendly
def token(data_dir: Path = DataDir) -> None:
    """Print the admin API token."""
    typer.echo(open_registry(data_dir).admin_token)


@app.command()
@friendly
def audit(data_dir: Path = DataDir, limit: int = 50, as_json: bool = JsonFlag) -> None:
    """Show the newest changes."""
    emit(open_registry(data_dir).audit(limit), as_json, "audit")


@app.command()
@friendly
def gateways(data_dir: Path = DataDir, as_json: bool = JsonFlag) -> None:
    """List admitted gateways."""
    emit(open_registry(data_dir).list_gateways(), as_json, "gateways")


@app.command()
@friendly
def revoke(
    data_dir: Path = DataDir,
    key: str = typer.Argument(..., help="Certificate fingerprint or serial."),
    reason: str = "unspecified",
) -> None:
    """Revoke a certificate; peers refuse it from their next configuration refresh."""
    emit(open_registry(data_dir).revoke(ACTOR, key, reason), True)


@member_app.command("add")
@friendly
def member_add(member: str, name: str = typer.Option(...), data_dir: Path = DataDir) -> None:
    """Admit a member, e.g. UY-DEMO/GOB/DGI."""
    emit(open_registry(data_dir).add_member(ACTOR, member, name), True)


@member_app.command("list")
@friendly
def member_list(data_dir: Path = DataDir, as_json: bool = JsonFlag) -> None:
    """List members and their subsystems."""
    emit(open_registry(data_dir).list_members(), as_json, "members")


@subsystem_app.command("add")
@friendly
def subsystem_add(subsystem: str, data_dir: Path = DataDir) -> None:
    """Add a subsystem, e.g. UY-DEMO/GOB/DGI/tributos."""
    emit(open_registry(data_dir).add_subsystem(ACTOR, subsystem), True)


@registration_app.command("list")
@friendly
def registration_list(data_dir: Path = DataDir, status: str | None = None, as_json: bool = JsonFlag) -> None:
    """List gateways' requests to join (pending, approved, rejected)."""
    emit(open_registry(data_dir).list_registrations(status), as_json, "registrations")


@registration_app.command("approve")
@friendly
def registration_approve(registration_id: int, data_dir: Path = DataDir) -> None:
    """Issue the gateway's certificates and admit it."""
    result = open_registry(data_dir).approve_registration(ACTOR, registration_id)
    emit({k: v for k, v in result.items() if not k.endswith("_cert")}, True)


@registration_app.command("reject")
@friendly
def registration_reject(registration_id: int, reason: str = "unspecified", data_dir: Path = DataDir) -> None:
    """Refuse a gateway's request to join."""
    emit(open_registry(data_dir).reject_registration(ACTOR, registration_id, reason), True)


@service_app.command("publish")
@friendly
def service_publish(
    service: str,
    openapi: Path = typer.Option(..., exists=True, dir_okay=False, help="OpenAPI 3.x JSON file."),
    personal_data: list[str] = typer.Option([], "--personal-data", help="A personal-data category (repeat)."),
    version: str | None = None,
    data_dir: Path = DataDir,
) -> None:
    """Publish a service, e.g. UY-DEMO/GOB/DGI/tributos/ingresos."""
    try:
        document = json.loads(openapi.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("OpenAPI file is not JSON", f"{openapi}: {exc}") from exc
    emit(
        open_registry(data_dir).publish_service(ACTOR, service, document, personal_data, version),
        True,
    )


@grant_app.command("add")
@friendly
def grant_add(
    client: str = typer.Option(..., help="Client subsystem."),
    service: str = typer.Option(..., help="Service identifier."),
    purpose: list[str] = typer.Option([], "--purpose", help="An allowed purpose (repeat)."),
    method: str | None = typer.Option(None, help="Only this HTTP method."),
    path: str | None = typer.Option(None, help="Only this path pattern, e.g. /personas/{ci} or /x/**."),
    data_dir: Path = DataDir,
) -> None:
    """Let a client subsystem call a service, or one endpoint of it, for the given purposes."""
    emit(open_registry(data_dir).add_grant(ACTOR, client, service, purpose, method, path), True)


@grant_app.command("delete")
@friendly
def grant_delete(grant_id: int, data_dir: Path = DataDir) -> None:
    open_registry(data_dir).delete_grant(ACTOR, grant_id)
    typer.echo(f"grant {grant_id} deleted")
