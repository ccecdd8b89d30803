"""``entramado demo``: the whole network on loopback, in one command."""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from entramado.cli_common import friendly
from entramado.demo.agencies import AGENCIES, APPS, GRANTS
from entramado.demo.network import (
    GatewayLayout,
    Process,
    open_or_init_registry,
    provision_gateway,
    python,
    seed_configuration,
    start_gateway,
    start_registry,
)
from entramado.demo.population import generate
from entramado.registry.config import open_config
from entramado.registry.services import Registry

INSTANCE = "UY-DEMO"
# The command as installed next to this interpreter: it works whether or not the venv is active.
ENTRAMADO = shlex.quote(str(Path(sys.executable).parent / "entramado"))
MEMBER_CLASS = "GOB"


@friendly
def demo(
    data_dir: Path = typer.Option(Path("demo-data"), "--data-dir", "-d", help="Where the demo keeps its state."),
    base_port: int = typer.Option(8080, help="Registry port; the others follow it."),
    check: bool = typer.Option(False, help="Start, make one call through the network, stop (for scripts)."),
) -> None:
    """Start the registry, four agencies' gateways and their systems on loopback."""
    data_dir = data_dir.resolve()
    logs = data_dir / "logs"
    registry_url = f"http://127.0.0.1:{base_port}"
    registry = open_or_init_registry(data_dir / "registry", INSTANCE, base_port)
    layouts: dict[str, GatewayLayout] = {}
    service_ports: dict[str, int] = {}
    for i, agency in enumerate(AGENCIES, start=1):
        member = f"{INSTANCE}/{MEMBER_CLASS}/{agency.code}"
        service_ports[agency.code] = base_port + 20 + i
        if not any(m["id"] == member for m in registry.list_members()):
            registry.add_member("demo", member, agency.name)
            for sub in agency.subsystems:
                registry.add_subsystem("demo", f"{member}/{sub}")
        layouts[agency.code] = GatewayLayout(
            data_dir / "gateways" / agency.code,
            member,
            "gw1",
            base_port + i,
            base_port + 10 + i,
            {f"{s.subsystem}/{s.code}": f"http://127.0.0.1:{service_ports[agency.code]}" for s in agency.services},
        )
    _publish_services(registry)
    for layout in layouts.values():
        provision_gateway(registry, registry_url, layout)
    seed_configuration(registry, list(layouts.values()))
    registry.engine.dispose()

    console = Console()
    procs: list[Process] = []
    try:
        console.print(f"[bold]Entramado demo[/bold] — state in {data_dir}, logs in {logs}")
        procs.append(start_registry(data_dir / "registry", base_port, logs))
        agencies = Process(
            "agency systems",
            python("-m", "entramado.demo.agencies", *(f"{code}={port}" for code, port in service_ports.items())),
            logs / "agencies.log",
        )
        procs.append(agencies)
        agencies.wait_ready(f"http://127.0.0.1:{service_ports['IM']}/tramites")
        for layout in layouts.values():
            procs.append(start_gateway(layout, logs))
        person = next(iter(generate().values()))
        _show(console, registry_url, layouts, service_ports, person.ci)
        if check:
            _check(layouts, person.ci)
            return
        console.print("\n[green]Running.[/green] Press Ctrl-C to stop; `entramado demo` starts again from this state.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.popen.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p.name for p in procs if p.popen.poll() is not None]
        console.print(f"[red]stopped:[/red] {', '.join(dead)} exited; see {logs}")
    except KeyboardInterrupt:
        console.print("\nstopping…")
    finally:
        for proc in reversed(procs):
            proc.stop()


def _publish_services(registry: Registry) -> None:
    """Publish the agencies' services and grants that are not published yet."""
    people = generate(1)
    published = {m["id"] for m in registry.list_members()}
    existing = {g["client"] + ">" + g["service"] for g in _grants(registry)}
    for agency in AGENCIES:
        member = f"{INSTANCE}/{MEMBER_CLASS}/{agency.code}"
        assert member in published
        openapi = APPS[agency.code](people).openapi()
        for service in agency.services:
            paths = {p: v for p, v in openapi["paths"].items() if _belongs(agency.code, service.code, p)}
            document = {
                **openapi,
                "paths": paths,
                "info": {**openapi["info"], "title": f"{agency.code} {service.code}"},
            }
            registry.publish_service(
                "demo", f"{member}/{service.subsystem}/{service.code}", document, list(service.personal_data)
            )
    for client, target, purposes, method, path in GRANTS:
        client_id = f"{INSTANCE}/{MEMBER_CLASS}/{client}"
        service_id = f"{INSTANCE}/{MEMBER_CLASS}/{target}"
        if f"{client_id}>{service_id}" not in existing:
            registry.add_grant("demo", client_id, service_id, list(purposes), method, path)


def _grants(registry: Registry) -> list[dict[str, str]]:
    config = open_config(registry.current_configuration(), registry.ca.cert)
    return list(config.document["grants"])


def _belongs(agency: str, service: str, path: str) -> bool:
    if agency == "IM":
        return path.startswith("/tramites") == (service == "catalogo")
    return True


def _show(
    console: Console,
    registry_url: str,
    layouts: dict[str, GatewayLayout],
    ports: dict[str, int],
    ci: str,
) -> None:
    table = Table(title="What runs where")
    for column in ("part", "member", "address"):
        table.add_column(column)
    table.add_row("registry", "network authority", registry_url)
    for code, layout in layouts.items():
        table.add_row(f"gateway {code} (consumer)", layout.member, layout.consumer_url)
        table.add_row(
            f"gateway {code} (peers, mTLS)",
            layout.member,
            f"https://127.0.0.1:{layout.provider_port}",
        )
        table.add_row(f"{code} system", layout.member, f"http://127.0.0.1:{ports[code]}/docs")
    console.print(table)
    console.print("\n[bold]Try these calls[/bold] (an agency's system calling its own gateway):")
    for text, cmd in _calls(layouts, ci):
        console.print(f"# {text}\n{cmd}\n", soft_wrap=True, highlight=False, markup=False)


def _calls(layouts: dict[str, GatewayLayout], ci: str) -> list[tuple[str, str]]:
    bps, im = layouts["BPS"].consumer_url, layouts["IM"].consumer_url
    base = f"{INSTANCE}/{MEMBER_CLASS}"
    hdr = f"-H 'X-Road-Client: {base}/BPS/prestaciones'"
    personal = f"-H 'Entramado-Purpose: prestaciones-sociales' -H 'Entramado-Data-Subject: UY-CI:{ci}'"
    return [
        (
            "BPS reads a person's declared income from DGI",
            f"curl -i {hdr} {personal} {bps}/r1/{base}/DGI/tributos/ingresos/personas/{ci}/ingresos",
        ),
        (
            "...and identity data from DNIC",
            f"curl -s {hdr} {personal} {bps}/r1/{base}/DNIC/identificacion/personas/personas/{ci}",
        ),
        (
            "Refused: no purpose given (400 Client.MissingPurpose)",
            f"curl -s {hdr} -H 'Entramado-Data-Subject: UY-CI:{ci}' "
            f"{bps}/r1/{base}/DGI/tributos/ingresos/personas/{ci}/ingresos",
        ),
        (
            "Refused: IM holds no grant on DGI's income (403 Server.ServerProxy.AccessDenied)",
            f"curl -s -H 'X-Road-Client: {base}/IM/tramites' -H 'Entramado-Purpose: tramite-municipal' "
            f"-H 'Entramado-Data-Subject: UY-CI:{ci}' {im}/r1/{base}/DGI/tributos/ingresos/personas/{ci}/ingresos",
        ),
        ("Metaservices", f"curl -s {bps}/listClients ; curl -s {hdr} {bps}/r1/{base}/DGI/tributos/allowedMethods"),
        (
            "The service's OpenAPI, fetched from the provider through the network",
            f"curl -s {hdr} '{bps}/r1/{base}/DGI/tributos/getOpenAPI?serviceCode=ingresos'",
        ),
        (
            "Check every gateway's message log",
            f"for a in DNIC BPS DGI IM; do {ENTRAMADO} log verify -d "
            + shlex.quote(str(layouts["BPS"].data_dir.parent))
            + "/$a; done",
        ),
    ]


def _check(layouts: dict[str, GatewayLayout], ci: str) -> None:
    import urllib.request

    base = f"{INSTANCE}/{MEMBER_CLASS}"
    url = f"{layouts['BPS'].consumer_url}/r1/{base}/DGI/tributos/ingresos/personas/{ci}/ingresos"
    request = urllib.request.Request(  # noqa: S310 - an http URL on loopback
        url,
        headers={
            "X-Road-Client": f"{base}/BPS/prestaciones",
            "Entramado-Purpose": "prestaciones-sociales",
            "Entramado-Data-Subject": f"UY-CI:{ci}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        body = resp.read().decode()
        print(f"check: {resp.status} {resp.headers['X-Road-Service']} {body}")
