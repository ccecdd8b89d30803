"""The exchange network end to end: registry, two gateways and a provider as real processes on
loopback, mutual TLS 1.3 between the gateways, on each database backend.

Tests run in file order; the last two break the network on purpose (revocation, registry down).
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from entramado import crypto
from entramado.bench.exchange import free_port
from entramado.db import make_engine
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
from entramado.evidence.chain import chains
from entramado.evidence.verify import verify_chain
from entramado.gateway import signatures as sig
from entramado.gateway.identity import GatewayFiles, GatewayIdentity
from entramado.settings import gateway_settings
from tests.conftest import BACKENDS, PostgresDatabases, new_database

BASE = "UY-DEMO/GOB"
CLIENT = f"{BASE}/BPS/prestaciones"
INGRESOS = f"{BASE}/DGI/tributos/ingresos"
ABIERTO = f"{BASE}/DGI/tributos/abierto"
CAIDO = f"{BASE}/DGI/tributos/caido"
PERSONAL = {
    "X-Road-Client": CLIENT,
    "Entramado-Purpose": "prestaciones-sociales",
    "Entramado-Data-Subject": "UY-CI:12345672",
}
MAX_BODY = 64 * 1024


@dataclass
class Network:
    work: Path
    registry_dir: Path
    registry_proc: Process
    bps: GatewayLayout
    dgi: GatewayLayout
    procs: list[Process]
    db_urls: dict[str, str]
    logs: Path

    def url(self, path: str) -> str:
        return f"{self.bps.consumer_url}{path}"

    def call(self, service: str, path: str, headers: dict[str, str] | None = None, **kwargs: object) -> httpx.Response:
        return httpx.request(  # type: ignore[arg-type]
            kwargs.pop("method", "GET"),
            self.url(f"/r1/{service}{path}"),
            headers=headers or PERSONAL,
            timeout=15,
            **kwargs,
        )


def _openapi(paths: list[str]) -> dict[str, object]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {p: {"get": {}, "post": {}} for p in paths},
    }


@pytest.fixture(scope="module", params=BACKENDS)
def network(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres: PostgresDatabases | None
) -> Iterator[Network]:
    work = tmp_path_factory.mktemp(f"net-{request.param}")
    urls = {role: new_database(request.param, work, postgres) for role in ("registry", "bps", "dgi")}
    registry_port, provider_port = free_port(), free_port()
    registry = open_or_init_registry(
        work / "registry", "UY-DEMO", registry_port, database_url=urls["registry"], config_validity=12, config_refresh=1
    )
    for member, sub in (("BPS", "prestaciones"), ("BPS", "otro"), ("DGI", "tributos")):
        if not any(m["id"] == f"{BASE}/{member}" for m in registry.list_members()):
            registry.add_member("test", f"{BASE}/{member}", member)
        registry.add_subsystem("test", f"{BASE}/{member}/{sub}")
    registry.publish_service("test", INGRESOS, _openapi(["/personas/{ci}/ingresos"]), ["ingresos"])
    registry.publish_service("test", ABIERTO, _openapi(["/echo", "/slow", "/big"]), [])
    registry.publish_service("test", CAIDO, _openapi(["/x"]), [])
    registry.add_grant("test", CLIENT, INGRESOS, ["prestaciones-sociales"], "GET", "/personas/{ci}/ingresos")
    registry.add_grant("test", CLIENT, ABIERTO, [])
    registry.add_grant("test", CLIENT, CAIDO, [])
    provider_url = f"http://127.0.0.1:{provider_port}"
    common = {
        "poll_interval": 0.5,
        "service_timeout": 1.5,
        "peer_timeout": 8.0,
        "max_body_size": MAX_BODY,
        "replay_window": 60,
        "log_body_limit": 1024,
        "timestamp_interval": 0.3,
    }
    bps = GatewayLayout(work / "bps", f"{BASE}/BPS", "gw1", free_port(), free_port(), {})
    dgi = GatewayLayout(
        work / "dgi",
        f"{BASE}/DGI",
        "gw1",
        free_port(),
        free_port(),
        {
            "tributos/ingresos": provider_url,
            "tributos/abierto": provider_url,
            "tributos/caido": f"http://127.0.0.1:{free_port()}",
        },
    )
    registry_url = f"http://127.0.0.1:{registry_port}"
    provision_gateway(registry, registry_url, bps, database_url=urls["bps"], **common)
    provision_gateway(registry, registry_url, dgi, database_url=urls["dgi"], **common)
    seed_configuration(registry, [bps, dgi])
    registry.engine.dispose()

    logs = work / "logs"
    procs: list[Process] = []
    try:
        registry_proc = start_registry(work / "registry", registry_port, logs)
        procs.append(registry_proc)
        app_dir = str(Path(__file__).parent)
        provider = Process(
            "provider",
            python(
                "-m",
                "uvicorn",
                "--app-dir",
                app_dir,
                "provider_app:app",
                "--port",
                str(provider_port),
                "--log-level",
                "warning",
            ),
            logs / "provider.log",
        )
        procs.append(provider)
        provider.wait_ready(f"{provider_url}/openapi.json")
        procs.append(start_gateway(dgi, logs, name="dgi"))
        procs.append(start_gateway(bps, logs))
        yield Network(work, work / "registry", registry_proc, bps, dgi, procs, urls, logs)
    finally:
        for proc in reversed(procs):
            proc.stop()


def error_type(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"type", "message", "detail"}, body
    assert response.headers["X-Road-Error"] == body["type"]
    return str(body["type"])


# --- what a client system sees -------------------------------------------------------------


def test_exchange(network: Network) -> None:
    response = network.call(INGRESOS, "/personas/12345672/ingresos", {**PERSONAL, "X-Road-UserId": "UY-CI:11111111"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ci"] == "12345672"
    assert body["received"]["x-road-client"] == CLIENT
    assert body["received"]["entramado-purpose"] == "prestaciones-sociales"
    assert body["received"]["entramado-data-subject"] == "UY-CI:12345672"
    assert body["received"]["x-road-userid"] == "UY-CI:11111111"
    assert response.headers["X-Road-Service"] == INGRESOS
    assert response.headers["X-Road-Request-Id"] == response.headers["X-Road-Id"] == body["received"]["x-road-id"]
    assert response.headers["X-Road-Request-Hash"].startswith("sha-256=:")


def test_post_body_and_client_message_id(network: Network) -> None:
    payload = json.dumps({"a": "ñandú"}).encode()
    headers = {"X-Road-Client": CLIENT, "X-Road-Id": "client-chosen-1", "Content-Type": "application/json"}
    response = network.call(ABIERTO, "/echo", headers, method="POST", content=payload)
    assert response.status_code == 200 and response.content == payload
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Road-Id"] == "client-chosen-1"


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({"X-Road-Client": CLIENT, "Entramado-Data-Subject": "UY-CI:1"}, 400, "Client.MissingPurpose"),
        ({"X-Road-Client": CLIENT, "Entramado-Purpose": "prestaciones-sociales"}, 400, "Client.MissingDataSubject"),
        ({**PERSONAL, "Entramado-Purpose": "curiosidad"}, 403, "Server.ServerProxy.AccessDenied"),
        ({**PERSONAL, "X-Road-Client": f"{BASE}/BPS/otro"}, 403, "Server.ServerProxy.AccessDenied"),
        ({**PERSONAL, "X-Road-Client": f"{BASE}/DGI/tributos"}, 403, "Client.UnknownClient"),
        ({**PERSONAL, "X-Road-Client": f"{BASE}/BPS/nadie"}, 403, "Client.UnknownClient"),
        ({**PERSONAL, "X-Road-Client": "UY-DEMO/GOB"}, 400, "Client.BadRequest"),
        ({k: v for k, v in PERSONAL.items() if k != "X-Road-Client"}, 400, "Client.BadRequest"),
        ({**PERSONAL, "X-Road-Id": "bad id with spaces"}, 400, "Client.BadRequest"),
        ({**PERSONAL, "Entramado-Data-Subject": "x" * 201}, 400, "Client.BadRequest"),
    ],
)
def test_refusals(network: Network, headers: dict[str, str], status: int, kind: str) -> None:
    response = network.call(INGRESOS, "/personas/12345672/ingresos", headers)
    assert response.status_code == status, response.text
    assert error_type(response) == kind


def test_only_published_operations_pass(network: Network) -> None:
    """The provider system serves /personas/… for another service; this one does not publish it."""
    response = network.call(ABIERTO, "/personas/12345672/ingresos", {"X-Road-Client": CLIENT})
    assert response.status_code == 403 and error_type(response) == "Server.ServerProxy.AccessDenied"
    assert "not an operation" in response.json()["detail"]
    response = network.call(ABIERTO, "/openapi.json", {"X-Road-Client": CLIENT})
    assert response.status_code == 403


def test_methods_that_cannot_be_signed_end_to_end(network: Network) -> None:
    response = network.call(INGRESOS, "/personas/12345672/ingresos", method="HEAD")
    assert response.status_code == 405 and response.headers["X-Road-Error"] == "Client.MethodNotAllowed"
    response = httpx.delete(network.url(f"/r1/{BASE}/DGI/tributos/listMethods"), headers={"X-Road-Client": CLIENT})
    assert response.status_code == 405 and error_type(response) == "Client.MethodNotAllowed"


def test_repeated_and_fragment_refused(network: Network) -> None:
    head = "".join(f"{k}: {v}\r\n" for k, v in PERSONAL.items())
    twice = f"GET /r1/{INGRESOS}/personas/1/ingresos HTTP/1.1\r\nHost: x\r\n{head}Entramado-Purpose: otra\r\n\r\n"
    status, body = raw_http(network.bps.consumer_port, twice.encode())
    assert status == 400 and b"repeated header" in body
    fragment = f"GET /r1/{INGRESOS}/personas/1/ingresos#x HTTP/1.1\r\nHost: x\r\n{head}\r\n"
    status, body = raw_http(network.bps.consumer_port, fragment.encode())
    assert status == 400 and b"fragment" in body


def test_metrics_labels_stay_bounded(network: Network) -> None:
    for i in range(5):
        network.call(f"{BASE}/DGI/tributos/rnd{i}", "/x", {"X-Road-Client": f"A{i}/B/C/D"})
    metrics = httpx.get(network.url("/metrics")).text
    assert "rnd" not in metrics and 'client="A' not in metrics


def test_endpoint_grant_limits_path(network: Network) -> None:
    response = network.call(INGRESOS, "/personas/12345672/otra-cosa")
    assert response.status_code == 403 and error_type(response) == "Server.ServerProxy.AccessDenied"


def test_unknown_service_and_malformed_identifier(network: Network) -> None:
    response = network.call(f"{BASE}/DGI/tributos/nada", "/x")
    assert response.status_code == 404 and error_type(response) == "Client.UnknownService"
    response = httpx.get(network.url("/r1/UY-DEMO/GOB/D%20GI/tributos/ingresos/x"), headers=PERSONAL)
    assert response.status_code == 400 and error_type(response) == "Client.BadRequest"
    response = httpx.get(network.url("/nowhere"), headers=PERSONAL)
    assert response.status_code == 404 and error_type(response) == "Client.NotFound"


def raw_http(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "path",
    [
        f"/r1/{INGRESOS}/personas/../../../etc/passwd",
        f"/r1/{INGRESOS}/personas/%2e%2e/%2e%2e/admin",
        f"/r1/{INGRESOS}/personas%2F..%2Fadmin",
    ],
)
def test_path_traversal_refused(network: Network, path: str) -> None:
    head = "".join(f"{k}: {v}\r\n" for k, v in PERSONAL.items())
    status, body = raw_http(network.bps.consumer_port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
    assert status == 400
    assert json.loads(body.split(b"\r\n\r\n")[0] if body.startswith(b"{") else body)["type"] == "Client.BadRequest"


@pytest.mark.parametrize("value", ["a\rInjected: yes", "a\x00b", "a\x01b", "a\x7fb"])
def test_header_injection_refused(network: Network, value: str) -> None:
    """Bare CR, NUL and control characters never reach the gateway: the HTTP layer answers 400."""
    request = (
        f"GET /r1/{INGRESOS}/personas/1/ingresos HTTP/1.1\r\nHost: x\r\nX-Road-Client: {CLIENT}\r\n"
        f"X-Road-UserId: {value}\r\n\r\n"
    ).encode()
    status, _ = raw_http(network.bps.consumer_port, request)
    assert status == 400
    assert network.call(INGRESOS, "/personas/12345672/ingresos").status_code == 200  # still serving


def test_oversized_body(network: Network) -> None:
    headers = {"X-Road-Client": CLIENT}
    response = network.call(ABIERTO, "/echo", headers, method="POST", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413 and error_type(response) == "Client.PayloadTooLarge"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"y" * 1024

    response = network.call(ABIERTO, "/echo", headers, method="POST", content=chunks())
    assert response.status_code == 413 and error_type(response) == "Client.PayloadTooLarge"


def test_large_response_is_refused(network: Network) -> None:
    response = network.call(ABIERTO, "/big", {"X-Road-Client": CLIENT})
    assert response.status_code == 502 and error_type(response) == "Server.ServerProxy.ServiceFailed"


def test_provider_down_and_slow(network: Network) -> None:
    response = network.call(CAIDO, "/x", {"X-Road-Client": CLIENT})
    assert response.status_code == 502 and error_type(response) == "Server.ServerProxy.ServiceFailed"
    started = time.monotonic()
    response = network.call(ABIERTO, "/slow", {"X-Road-Client": CLIENT})
    assert response.status_code == 504 and error_type(response) == "Server.ServerProxy.ServiceTimeout"
    assert time.monotonic() - started < 3
    assert network.call(INGRESOS, "/personas/12345672/ingresos").status_code == 200


# --- metaservices and operations -------------------------------------------------------------


def test_metaservices(network: Network) -> None:
    clients = httpx.get(network.url("/listClients")).json()["member"]
    assert {
        "xroad_instance": "UY-DEMO",
        "member_class": "GOB",
        "member_code": "BPS",
        "subsystem_code": "prestaciones",
        "object_type": "SUBSYSTEM",
    } in [c["id"] for c in clients]
    methods = httpx.get(network.url(f"/r1/{BASE}/DGI/tributos/listMethods"), headers={"X-Road-Client": CLIENT}).json()
    assert {m["service_code"] for m in methods["service"]} == {"ingresos", "abierto", "caido"}
    allowed = httpx.get(
        network.url(f"/r1/{BASE}/DGI/tributos/allowedMethods"), headers={"X-Road-Client": f"{BASE}/BPS/otro"}
    ).json()
    assert allowed == {"service": []}
    allowed = httpx.get(
        network.url(f"/r1/{BASE}/DGI/tributos/allowedMethods"), headers={"X-Road-Client": CLIENT}
    ).json()
    ingresos = next(s for s in allowed["service"] if s["service_code"] == "ingresos")
    assert ingresos["endpoints"] == [
        {"method": "GET", "path": "/personas/{ci}/ingresos", "purposes": ["prestaciones-sociales"]}
    ]
    openapi = httpx.get(
        network.url(f"/r1/{BASE}/DGI/tributos/getOpenAPI?serviceCode=ingresos"),
        headers={"X-Road-Client": CLIENT},
        timeout=10,
    )
    assert openapi.status_code == 200 and openapi.json()["info"]["title"] == "test provider"
    assert list(openapi.json()["paths"]) == ["/personas/{ci}/ingresos"]  # only what the network publishes
    denied = httpx.get(
        network.url(f"/r1/{BASE}/DGI/tributos/getOpenAPI?serviceCode=ingresos"),
        headers={"X-Road-Client": f"{BASE}/BPS/otro"},
        timeout=10,
    )
    assert denied.status_code == 403 and error_type(denied) == "Server.ServerProxy.AccessDenied"


def test_operations_endpoints(network: Network) -> None:
    assert httpx.get(network.url("/healthz")).json()["status"] == "ok"
    ready = httpx.get(network.url("/readyz")).json()
    assert ready["ready"] and ready["config_version"] >= 1
    metrics = httpx.get(network.url("/metrics")).text
    assert (
        f'entramado_gateway_requests_total{{client="{CLIENT}",service="{INGRESOS}",side="client",status="200"}}'
        in metrics
    )
    assert 'entramado_gateway_errors_total{side="client",type="Client.MissingPurpose"}' in metrics
    assert "entramado_gateway_latency_seconds_bucket" in metrics


# --- attacks on the provider side ---------------------------------------------------------------


def _identity(layout: GatewayLayout) -> GatewayIdentity:
    return GatewayIdentity(GatewayFiles(layout.data_dir))


def _signed_request(identity: GatewayIdentity, xroad_id: str, path: str) -> dict[str, str]:
    headers = {k.lower(): v for k, v in PERSONAL.items()}
    headers["x-road-id"] = xroad_id
    headers["content-digest"] = sig.content_digest(b"")
    signed = sig.sign(
        sig.HttpMessage(headers, method="GET", path=path), identity.sign_key, identity.key_id, int(time.time())
    )
    return {**headers, "signature-input": signed.signature_input, "signature": signed.signature}


def _peer_client(identity: GatewayIdentity) -> httpx.Client:
    return httpx.Client(verify=identity.client_context, timeout=10)


def test_replayed_message_refused(network: Network) -> None:
    bps = _identity(network.bps)
    path = f"/r1/{INGRESOS}/personas/12345672/ingresos"
    headers = _signed_request(bps, f"replay-{time.time_ns()}", path)
    with _peer_client(bps) as client:
        first = client.get(f"https://127.0.0.1:{network.dgi.provider_port}{path}", headers=headers)
        assert first.status_code == 200, first.text
        second = client.get(f"https://127.0.0.1:{network.dgi.provider_port}{path}", headers=headers)
    assert second.status_code == 409 and error_type(second) == "Server.ServerProxy.ReplayedMessage"
    # A restart of the provider gateway does not reopen the window.
    old = next(p for p in network.procs if p.name == "dgi")
    old.stop()
    network.procs[network.procs.index(old)] = start_gateway(network.dgi, network.logs, name="dgi")
    with _peer_client(bps) as client:
        third = client.get(f"https://127.0.0.1:{network.dgi.provider_port}{path}", headers=headers)
    assert third.status_code == 409, third.text
    # the refusal itself is signed by the provider gateway and bound to the request
    assert second.headers["x-road-request-hash"] == sig.request_hash(headers["signature"])


def test_bad_signature_refused(network: Network) -> None:
    bps = _identity(network.bps)
    path = f"/r1/{INGRESOS}/personas/12345672/ingresos"
    headers = _signed_request(bps, f"tamper-{time.time_ns()}", path)
    headers["entramado-purpose"] = "otra"  # changed after signing
    with _peer_client(bps) as client:
        response = client.get(f"https://127.0.0.1:{network.dgi.provider_port}{path}", headers=headers)
        assert response.status_code == 403 and error_type(response) == "Server.ServerProxy.InvalidSignature"
        del headers["signature"]
        response = client.get(f"https://127.0.0.1:{network.dgi.provider_port}{path}", headers=headers)
        assert response.status_code == 403 and error_type(response) == "Server.ServerProxy.InvalidSignature"


def test_gateway_cannot_speak_for_another_member(network: Network) -> None:
    bps = _identity(network.bps)
    path = f"/r1/{INGRESOS}/personas/12345672/ingresos"
    headers = _signed_request(bps, f"other-{time.time_ns()}", path)
    headers["x-road-client"] = f"{BASE}/DGI/tributos"
    with _peer_client(bps) as client:
        response = client.get(f"https://127.0.0.1:{network.dgi.provider_port}{path}", headers=headers)
    assert response.status_code == 403 and error_type(response) == "Server.ServerProxy.SslAuthenticationFailed"


def test_untrusted_client_certificate_refused(network: Network, tmp_path: Path) -> None:
    rogue = crypto.CertificateAuthority.create("UY-DEMO")
    key = crypto.new_tls_key()
    cert = rogue.issue(crypto.make_csr(key, f"{BASE}/BPS/gw1", crypto.ROLE_TLS), crypto.ROLE_TLS)
    (tmp_path / "k.pem").write_bytes(crypto.key_to_pem(key))
    (tmp_path / "c.pem").write_text(crypto.cert_to_pem(cert))
    ctx = ssl.create_default_context(cafile=str(network.dgi.data_dir / "anchor.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    for context in (ctx, _no_client_cert(network)):
        with (
            httpx.Client(verify=context, timeout=5) as client,
            pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
        ):
            client.get(f"https://127.0.0.1:{network.dgi.provider_port}/r1/{INGRESOS}/personas/1/ingresos")
    assert network.call(INGRESOS, "/personas/12345672/ingresos").status_code == 200


def _no_client_cert(network: Network) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(network.dgi.data_dir / "anchor.pem"))
    ctx.check_hostname = False
    return ctx


def test_message_logs_verify_and_hold_refusals(network: Network) -> None:
    for layout, url in ((network.bps, network.db_urls["bps"]), (network.dgi, network.db_urls["dgi"])):
        engine = make_engine(url)
        try:
            for chain in chains(engine):
                report = verify_chain(engine, chain)
                assert report.ok, report.problems[:3]
                assert report.records > 10 and report.signatures > 5
            from sqlalchemy import func, select

            from entramado.evidence.models import LogRecord

            with engine.connect() as conn:
                kinds = set(conn.scalars(select(LogRecord.error_type).where(LogRecord.error_type.is_not(None))))
                assert conn.scalar(select(func.count()).select_from(LogRecord)) > 10
        finally:
            engine.dispose()
        expected = "Client.MissingPurpose" if layout is network.bps else "Server.ServerProxy.ReplayedMessage"
        assert expected in kinds, kinds


# --- evidence: timestamps and bundles ------------------------------------------------------------


def _wait_stamped(network: Network) -> None:
    """Wait until every record logged so far is under a timestamped batch."""
    head = httpx.get(network.url("/readyz")).json()["log_head_seq"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        stamp = httpx.get(network.url("/readyz")).json()["timestamp"]
        if stamp["stamped_through_seq"] >= head:
            return
        time.sleep(0.2)
    raise AssertionError(f"message log not timestamped through {head}: {stamp}")


def test_message_log_is_timestamped_and_openssl_agrees(network: Network, tmp_path: Path) -> None:
    network.call(INGRESOS, "/personas/12345672/ingresos")
    _wait_stamped(network)
    from sqlalchemy import select

    from entramado.evidence.models import LogBatch

    engine = make_engine(network.db_urls["bps"])
    try:
        with engine.connect() as conn:
            root, token = conn.execute(
                select(LogBatch.root, LogBatch.token).order_by(LogBatch.first_seq.desc())
            ).first()
    finally:
        engine.dispose()
    (tmp_path / "token.der").write_bytes(token)
    args = [
        "openssl",
        "ts",
        "-verify",
        "-token_in",
        "-in",
        "token.der",
        "-digest",
        root,
        "-CAfile",
        str(network.registry_dir / "ca.pem"),
        "-untrusted",
        str(network.registry_dir / "tsa.pem"),
    ]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    metrics = httpx.get(network.url("/metrics")).text
    assert "entramado_gateway_timestamp_backlog_records 0.0" in metrics


def test_evidence_bundle_for_one_exchange(network: Network, tmp_path: Path) -> None:
    response = network.call(INGRESOS, "/personas/12345672/ingresos", {**PERSONAL, "X-Road-Id": f"ev-{time.time_ns()}"})
    xroad_id = response.headers["X-Road-Id"]
    _wait_stamped(network)
    url = network.url(f"/admin/evidence/{xroad_id}")
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    token = (network.bps.data_dir / "admin-token").read_text().strip()
    evidence = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()
    assert {item["record"]["kind"] for item in evidence["items"]} == {"request", "response"}
    assert all(item["proof"] is not None for item in evidence["items"])
    (tmp_path / "evidence.json").write_text(json.dumps(evidence))
    anchor = str(network.registry_dir / "ca.pem")
    ok = subprocess.run(
        [*python("-m", "entramado", "log", "verify-evidence", "evidence.json", "--anchor", anchor)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    evidence["items"][0]["record"]["purpose"] = "otra"
    (tmp_path / "evidence.json").write_text(json.dumps(evidence))
    bad = subprocess.run(
        [*python("-m", "entramado", "log", "verify-evidence", "evidence.json", "--anchor", anchor)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "does not match its hash" in bad.stdout
    missing = httpx.get(network.url("/admin/evidence/nope"), headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and error_type(missing) == "Client.NotFound"


# --- destructive: revocation, then the registry goes away -------------------------------------


def test_revoked_gateway_refused_within_one_refresh(network: Network) -> None:
    settings = gateway_settings(network.bps.data_dir)
    assert settings.poll_interval == 0.5
    registry = open_or_init_registry(network.registry_dir, "UY-DEMO", 0)
    tls_fingerprint = _identity(network.bps).tls_fingerprint
    registry.revoke("test", tls_fingerprint, "key compromise")
    registry.engine.dispose()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = network.call(INGRESOS, "/personas/12345672/ingresos")
        if response.status_code != 200:
            break
        time.sleep(0.2)
    assert response.status_code == 403, response.text
    assert error_type(response) == "Server.ServerProxy.SslAuthenticationFailed"


def test_registry_down_then_configuration_expires(network: Network) -> None:
    network.registry_proc.stop()
    # The gateway keeps answering from its cached configuration...
    assert httpx.get(network.url("/listClients")).status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = httpx.get(network.url("/listClients"))
        if response.status_code != 200:
            break
        time.sleep(0.5)
    # ...until it expires, then refuses clearly.
    assert response.status_code == 503, response.text
    assert error_type(response) == "Server.ClientProxy.ConfigurationExpired"
    ready = httpx.get(network.url("/readyz"))
    assert ready.status_code == 503 and ready.json()["registry_last_error"]
