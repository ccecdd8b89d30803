"""``entramado gateway …``: an agency's gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w
import typer
from yarl import URL

from entramado.cli_common import DataDir, friendly
from entramado.errors import BadRequest, Conflict
from entramado.gateway.identity import GatewayFiles, create_keys
from entramado.ids import MemberId, check_code
from entramado.settings import gateway_settings

app = typer.Typer(help="An agency's gateway: keys, registration, local services, serving.", no_args_is_help=True)


def write_settings(data_dir: Path, values: dict[str, Any]) -> None:
    GatewayFiles(data_dir).settings.write_text(tomli_w.dumps(values))


@app.command()
@friendly
def init(
    data_dir: Path = DataDir,
    member: str = typer.Option(..., help="INSTANCE/CLASS/MEMBER this gateway serves."),
    code: str = typer.Option("gw", help="Gateway code, unique within the member."),
    address: str = typer.Option(..., help="https://host:port where peer gateways reach this one."),
    registry_url: str = typer.Option(..., help="The registry's URL."),
    anchor: Path = typer.Option(..., exists=True, dir_okay=False, help="The instance's CA certificate."),
    consumer_port: int = typer.Option(8000, help="Port for the agency's own systems (plain HTTP, internal)."),
    provider_port: int | None = typer.Option(None, help="Port peers connect to (default: the address's port)."),
    provider_host: str = typer.Option("0.0.0.0", help="Interface peers connect to."),  # noqa: S104
) -> None:
    """Create the gateway's TLS and signing keys and their CSRs."""
    MemberId.parse(member)
    check_code(code, "gateway")
    if not address.startswith("https://"):
        raise BadRequest("invalid address", "peers reach a gateway at an https:// address")
    files = GatewayFiles(data_dir)
    if files.sign_key.exists():
        raise Conflict("gateway exists", f"{data_dir} already holds a gateway")
    data_dir.mkdir(parents=True, exist_ok=True)
    create_keys(files, member, code)
    files.anchor.write_bytes(anchor.read_bytes())
    write_settings(
        data_dir,
        {
            "member": member,
            "code": code,
            "address": address,
            "registry_url": registry_url,
            "consumer_port": consumer_port,
            "provider_port": provider_port or URL(address).port or 443,
            "provider_host": provider_host,
        },
    )
    typer.echo(f"keys and CSRs in {data_dir}; next: entramado gateway register -d {data_dir}")


@app.command()
@friendly
def register(data_dir: Path = DataDir) -> None:
    """Send the CSRs to the registry; the authority then approves the registration."""
    settings = gateway_settings(data_dir)
    files = GatewayFiles(data_dir)
    body = {
        "member": settings.member,
        "gateway_code": settings.code,
        "address": settings.address,
        "tls_csr": files.tls_csr.read_text(),
        "sign_csr": files.sign_csr.read_text(),
    }

    async def post() -> dict[str, Any]:
        url = settings.registry_url.rstrip("/") + "/api/v1/registrations"
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status != 202:
                raise BadRequest(answer.get("message", "registration refused"), answer.get("detail", ""))
            return answer

    answer = asyncio.run(post())
    values = settings.model_dump(mode="json", exclude={"data_dir"}, exclude_unset=True)
    values["registration_id"] = answer["id"]
    write_settings(data_dir, values)
    typer.echo(
        f"registration {answer['id']} pending; the authority approves it with "
        f"`entramado registry registration approve {answer['id']}`"
    )


@app.command("fetch-certs")
@friendly
def fetch_certs(data_dir: Path = DataDir) -> None:
    """Collect the certificates once the registration is approved."""
    from entramado.gateway.run import fetch_certificates

    if asyncio.run(fetch_certificates(gateway_settings(data_dir))):
        typer.echo("certificates installed; start with `entramado gateway serve`")
    else:
        typer.echo("registration still pending")
        raise typer.Exit(2)


@app.command("add-service")
@friendly
def add_service(
    data_dir: Path = DataDir,
    service: str = typer.Argument(..., help="SUBSYSTEM/SERVICE of this gateway's member."),
    base_url: str = typer.Option(..., help="Where the agency's own system serves it."),
    openapi_path: str = "/openapi.json",
) -> None:
    """Tell the gateway where one of its member's services runs."""
    subsystem, _, code = service.partition("/")
    check_code(subsystem, "subsystem")
    check_code(code, "service")
    settings = gateway_settings(data_dir)
    values = settings.model_dump(mode="json", exclude={"data_dir"}, exclude_unset=True)
    values.setdefault("services", {})[service] = {
        "base_url": base_url,
        "openapi_path": openapi_path,
    }
    gateway_settings(data_dir, **values)  # validate before writing
    write_settings(data_dir, values)
    typer.echo(f"{service} -> {base_url}")


@app.command()
@friendly
def token(data_dir: Path = DataDir) -> None:
    """Print the admin token of this gateway's admin API (evidence bundles)."""
    from entramado.gateway.identity import admin_token

    typer.echo(admin_token(GatewayFiles(data_dir)))


@app.command()
@friendly
def serve(data_dir: Path = DataDir) -> None:
    """Run the gateway (consumer port for local systems, provider port for peers)."""
    from entramado.gateway.run import run
    from entramado.web import configure_logging, private_files

    settings = gateway_settings(data_dir)
    configure_logging(settings.log_level)
    private_files()
    run(settings)
