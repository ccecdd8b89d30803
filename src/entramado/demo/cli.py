"""``entramado demo``: the whole network on loopback, in one command."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from entramado.cli_common import friendly
from entramado.demo import index
from entramado.demo.agencies import (
    AGENCIES,
    GRANTS,
    INDEX_MEMBER,
    INDEX_SERVICE,
    INDEX_SUBSYSTEM,
    NOTIFICATIONS_PATH,
    SUBSCRIBERS,
    agency_app,
)
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
from entramado.registry.config import open_config
from entramado.registry.services import Registry

INSTANCE = "UY-DEMO"
# The command as installed next to this interpreter: it works whether or not the venv is active.
ENTRAMADO = shlex.quote(str(Path(sys.executable).parent / "entramado"))
MEMBER_CLASS = "GOB"
BASE = f"{INSTANCE}/{MEMBER_CLASS}"
# Ports, from --base-port: registry +0, gateways' consumer ports +1..+4 and peer ports +11..+14, the agencies'
# systems +21..+24, the person index +30.
INDEX_PORT_OFFSET = 30


@friendly
def demo(
    data_dir: Path = typer.Option(Path("demo-data"), "--data-dir", "-d", help="Where the demo keeps its state."),
    base_port: int = typer.Option(8080, help="Registry port; the others follow it."),
    check: bool = typer.Option(False, help="Start, make one call through the network, stop (for scripts)."),
) -> None:
    """Start the registry, four agencies' gateways and their systems, and the person index, on loopback."""
    data_dir = data_dir.resolve()
    logs = data_dir / "logs"
    identity_dir = data_dir / "identity"
    registry_url = f"http://127.0.0.1:{base_port}"
    index_url = f"http://127.0.0.1:{base_port + INDEX_PORT_OFFSET}"
    registry = open_or_init_registry(data_dir / "registry", INSTANCE, base_port)
    layouts: dict[str, GatewayLayout] = {}
    service_ports: dict[str, int] = {}
    members = {m["id"]: m["subsystems"] for m in registry.list_members()}
    for i, agency in enumerate(AGENCIES, start=1):
        member = f"{BASE}/{agency.code}"
        service_ports[agency.code] = base_port + 20 + i
        if member not in members:
            registry.add_member("demo", member, agency.name)
        for sub in agency.subsystems:
            if sub not in members.get(member, []):  # also a subsystem added since the state was made
                registry.add_subsystem("demo", f"{member}/{sub}")
        services = {
            f"{s.subsystem}/{s.code}": f"http://127.0.0.1:{service_ports[agency.code]}" for s in agency.services
        }
        if agency.code == INDEX_MEMBER:
            services[INDEX_SERVICE.removeprefix(f"{INDEX_MEMBER}/")] = index_url
        layouts[agency.code] = GatewayLayout(
            data_dir / "gateways" / agency.code, member, "gw1", base_port + i, base_port + 10 + i, services
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
        # Everything starts at once; the first start links the person index's sources meanwhile.
        procs.append(start_registry(data_dir / "registry", base_port, logs, wait=False))
        procs.append(
            Process(
                "agency systems",
                python("-m", "entramado.demo.agencies", *(f"{code}={port}" for code, port in service_ports.items())),
                logs / "agencies.log",
                ready_url=f"http://127.0.0.1:{service_ports['IM']}/tramites",
            )
        )
        procs.extend(start_gateway(layout, logs, wait=False) for layout in layouts.values())
        with console.status("person index…") as status:
            example, seconds = index.prepare(identity_dir, lambda text: status.update(f"person index: {text}…"))
        if seconds is not None:
            console.print(f"person index: first start, sources written and linked in {seconds:.1f} s")
        index.write_settings(
            identity_dir, base_port + INDEX_PORT_OFFSET, layouts["DNIC"].consumer_url, f"{BASE}/{INDEX_SUBSYSTEM}"
        )
        procs.append(
            Process(
                "person index",
                python("-m", "entramado", "identity", "serve", "-d", str(identity_dir)),
                logs / "identity.log",
                ready_url=f"{index_url}/readyz",
            )
        )
        for proc in procs:
            proc.wait_ready(timeout=60)
        _subscribe(console, layouts)
        _show(console, registry_url, index_url, layouts, service_ports, example)
        if check:
            _check(layouts, example)
            return
        console.print("\n[green]Running.[/green] Press Ctrl-C to stop; `entramado demo` starts again from this state.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.popen.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p.name for p in procs if p.popen.poll() is not None]
        console.print(f"[red]stopped:[/red] {', '.join(dead)} exited; see {logs}")
    except KeyboardInterrupt:
        console.print("\nstopping…")
    except (RuntimeError, TimeoutError, OSError) as exc:  # a part did not start, or a start-up call failed
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        # A second signal must not cut the stop short (Ctrl-C twice, or `timeout`, which signals the demo and then its
        # whole process group): the parts run in sessions of their own and would be left holding their ports.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(procs):
            proc.stop()


def _subscribe(console: Console, layouts: dict[str, GatewayLayout]) -> None:
    """Each subscribing agency's system, through its own gateway, tells the index where it takes notifications
    and follows every person it holds a record of (persons added since the last start too)."""
    added = []
    for code, sub in SUBSCRIBERS.items():
        client = f"{BASE}/{code}/{sub}"
        count = index.subscribe(layouts[code].consumer_url, client, code, f"{BASE}/{INDEX_SERVICE}", f"{client}/avisos")
        added.append(f"{code} +{count}")
    console.print(
        f"person index: subscriptions through the network, persons newly followed: {', '.join(added)}", soft_wrap=True
    )


def _publish_services(registry: Registry) -> None:
    """Publish the agencies' services, the person index and the grants that are not published yet."""
    published = {m["id"] for m in registry.list_members()}
    existing = {g["client"] + ">" + g["service"] for g in _grants(registry)}
    for agency in AGENCIES:
        member = f"{BASE}/{agency.code}"
        assert member in published
        openapi = agency_app(agency.code, {}).openapi()  # the description does not depend on the persons held
        for service in agency.services:
            document = {
                **openapi,
                "paths": _operations(agency.code, service.code, openapi["paths"]),
                "info": {**openapi["info"], "title": f"{agency.code} {service.code}"},
            }
            registry.publish_service(
                "demo", f"{member}/{service.subsystem}/{service.code}", document, list(service.personal_data)
            )
    registry.publish_service("demo", f"{BASE}/{INDEX_SERVICE}", index.openapi(), list(index.PERSONAL_DATA))
    for client, target, purposes, method, path in GRANTS:
        client_id = f"{BASE}/{client}"
        service_id = f"{BASE}/{target}"
        if f"{client_id}>{service_id}" not in existing:
            registry.add_grant("demo", client_id, service_id, list(purposes), method, path)


def _grants(registry: Registry) -> list[dict[str, str]]:
    config = open_config(registry.current_configuration(), registry.ca.cert)
    return list(config.document["grants"])


def _operations(agency: str, service: str, paths: dict[str, Any]) -> dict[str, Any]:
    """The operations of an agency system's OpenAPI that make up one of its services."""
    out: dict[str, Any] = {}
    for path, operations in paths.items():
        if path == NOTIFICATIONS_PATH:  # only taking notifications is offered; their list stays local
            if service == "avisos":
                out[path] = {m: op for m, op in operations.items() if m == "post"}
        elif service != "avisos" and (agency != "IM" or path.startswith("/tramites") == (service == "catalogo")):
            out[path] = operations
    return out


def _show(
    console: Console,
    registry_url: str,
    index_url: str,
    layouts: dict[str, GatewayLayout],
    ports: dict[str, int],
    example: index.Example,
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
    table.add_row("person index", f"{BASE}/{INDEX_SUBSYSTEM}", f"{index_url}/docs")
    console.print(table)
    console.print("\n[bold]Try these calls[/bold] (an agency's system calling its own gateway):")
    for text, cmd in _calls(layouts, example.ci):
        console.print(f"# {text}\n{cmd}\n", soft_wrap=True, highlight=False, markup=False)
    console.print("[bold]The person index, and a citizen who moves house[/bold]:")
    for text, cmd in _index_calls(layouts, ports, example):
        console.print(f"# {text}\n{cmd}\n", soft_wrap=True, highlight=False, markup=False)


def _calls(layouts: dict[str, GatewayLayout], ci: str) -> list[tuple[str, str]]:
    bps, im = layouts["BPS"].consumer_url, layouts["IM"].consumer_url
    base = BASE
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


def _index_calls(
    layouts: dict[str, GatewayLayout], ports: dict[str, int], example: index.Example
) -> list[tuple[str, str]]:
    bps = layouts["BPS"].consumer_url
    at_bps, at_im = (f"{layouts[a].consumer_url}/r1/{BASE}/{INDEX_SERVICE}" for a in ("BPS", "IM"))
    pid, ci = example.person_id, example.ci
    as_bps = f"-H 'X-Road-Client: {BASE}/BPS/prestaciones' -H 'Entramado-Purpose: {index.PURPOSE}'"
    as_im = f"-H 'X-Road-Client: {BASE}/IM/tramites' -H 'Entramado-Purpose: {index.PURPOSE}'"
    json_body = "-H 'Content-Type: application/json' -d "
    match = shlex.quote(json.dumps({"fields": example.fields}, ensure_ascii=False))
    move = shlex.quote(json.dumps(example.move, ensure_ascii=False))
    token = f"$({ENTRAMADO} gateway token -d {shlex.quote(str(layouts['BPS'].data_dir))})"
    return [
        (
            f"BPS finds a person in the person index ({INDEX_SERVICE}): decision, person id, and the weight of each "
            "comparison",
            f"curl -s {as_bps} -H 'Entramado-Data-Subject: UY-CI:{ci}' {json_body}{match} {at_bps}/persons/match",
        ),
        (
            "...and reads the golden record: one name, one address, with the record behind each value",
            f"curl -s {as_bps} -H 'Entramado-Data-Subject: ENTRAMADO-PID:{pid}' {at_bps}/persons/{pid}",
        ),
        (
            "The person moves house and tells the municipality: IM's system sends the new address to the index",
            f"curl -s {as_im} -H 'Entramado-Data-Subject: UY-CI:{ci}' {json_body}{move} {at_im}/records",
        ),
        (
            "...the index tells BPS and DGI, which follow the person, through the network; each system acknowledges "
            "(x_road_id names the exchange)",
            f"curl -s http://127.0.0.1:{ports['BPS']}{NOTIFICATIONS_PATH} ; "
            f"curl -s http://127.0.0.1:{ports['DGI']}{NOTIFICATIONS_PATH}",
        ),
        (
            "...the index shows each delivery acknowledged",
            f"curl -s {as_bps} -H 'Entramado-Data-Subject: ENTRAMADO-PID:{pid}' {at_bps}/persons/{pid}/notifications",
        ),
        (
            "...and each delivery is signed and logged at both ends: the evidence at BPS's gateway",
            f'curl -s -H "Authorization: Bearer {token}" {bps}/admin/evidence/<x_road_id>',
        ),
    ]


def _check(layouts: dict[str, GatewayLayout], example: index.Example) -> None:
    """Two exchanges between agencies and one match in the person index, all through BPS's gateway and all about
    the example person."""
    import urllib.request

    bps = layouts["BPS"].consumer_url
    ci = example.ci
    calls: list[tuple[str, dict[str, str], bytes | None]] = [
        (
            f"{bps}/r1/{BASE}/DNIC/identificacion/personas/personas/{ci}",
            {"Entramado-Purpose": "prestaciones-sociales", "Entramado-Data-Subject": f"UY-CI:{ci}"},
            None,
        ),
        (
            f"{bps}/r1/{BASE}/DGI/tributos/ingresos/personas/{ci}/ingresos",
            {"Entramado-Purpose": "prestaciones-sociales", "Entramado-Data-Subject": f"UY-CI:{ci}"},
            None,
        ),
        (
            f"{bps}/r1/{BASE}/{INDEX_SERVICE}/persons/match",
            {
                "Entramado-Purpose": index.PURPOSE,
                "Entramado-Data-Subject": f"UY-CI:{example.ci}",
                "Content-Type": "application/json",
            },
            json.dumps({"fields": example.fields}).encode(),
        ),
    ]
    for url, headers, data in calls:
        request = urllib.request.Request(  # noqa: S310 - an http URL on loopback
            url, data=data, headers={"X-Road-Client": f"{BASE}/BPS/prestaciones", **headers}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            body = resp.read().decode()
            if data is not None:  # the match: its decision and person, not the evidence
                found = json.loads(body)
                body = f"{found['decision']} {found['person_id']}"
            print(f"check: {resp.status} {resp.headers['X-Road-Service']} {body}")
