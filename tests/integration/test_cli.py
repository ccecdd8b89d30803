"""The command line as an operator uses it: real subprocesses, clear errors, JSON for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from entramado.bench.exchange import free_port


def entramado(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "entramado", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def test_registry_cli(tmp_path: Path) -> None:
    data = str(tmp_path / "reg")
    entramado("registry", "init", "-d", data, "--instance", "UY-TEST")
    entramado("registry", "member", "add", "UY-TEST/GOB/DGI", "--name", "DGI", "-d", data)
    entramado("registry", "subsystem", "add", "UY-TEST/GOB/DGI/tributos", "-d", data)
    members = json.loads(entramado("registry", "member", "list", "-d", data, "--json").stdout)
    assert members == [{"id": "UY-TEST/GOB/DGI", "name": "DGI", "subsystems": ["tributos"]}]
    openapi = tmp_path / "openapi.json"
    openapi.write_text(
        json.dumps({"openapi": "3.0.3", "info": {"title": "x", "version": "2"}, "paths": {"/a/{b}": {"get": {}}}})
    )
    published = json.loads(
        entramado(
            "registry",
            "service",
            "publish",
            "UY-TEST/GOB/DGI/tributos/x",
            "--openapi",
            str(openapi),
            "--personal-data",
            "ingresos",
            "-d",
            data,
        ).stdout
    )
    assert published["version"] == "2"
    granted = json.loads(
        entramado(
            "registry",
            "grant",
            "add",
            "--client",
            "UY-TEST/GOB/DGI/tributos",
            "--service",
            "UY-TEST/GOB/DGI/tributos/x",
            "--purpose",
            "p1",
            "-d",
            data,
        ).stdout
    )
    assert granted["purposes"] == ["p1"]
    audit = json.loads(entramado("registry", "audit", "-d", data, "--json").stdout)
    assert audit[0]["action"] == "registry:grant:create"


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    data = str(tmp_path / "reg")
    entramado("registry", "init", "-d", data)
    again = entramado("registry", "init", "-d", data, check=False)
    assert again.returncode == 1 and "Client.Conflict" in again.stderr and "Traceback" not in again.stderr
    bad = entramado("registry", "member", "add", "nonsense", "--name", "x", "-d", data, check=False)
    assert bad.returncode == 1 and "invalid member identifier" in bad.stderr and "Traceback" not in bad.stderr
    empty = tmp_path / "empty"
    missing = entramado("registry", "member", "list", "-d", str(empty), check=False)
    assert missing.returncode == 1 and "registry init" in missing.stderr


def test_gateway_register_and_approve_over_http(tmp_path: Path) -> None:
    """The documented joining flow: init, register, approve, fetch-certs, with a registry serving."""
    data = tmp_path / "reg"
    port = free_port()
    entramado("registry", "init", "-d", str(data), "--port", str(port))
    entramado("registry", "member", "add", "UY-DEMO/GOB/IM", "--name", "IM", "-d", str(data))
    server = subprocess.Popen(
        [sys.executable, "-m", "entramado", "registry", "serve", "-d", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from entramado.demo.network import Process

        Process.wait_ready(_Fake(server), f"http://127.0.0.1:{port}/readyz")  # type: ignore[arg-type]
        gw = str(tmp_path / "gw")
        entramado(
            "gateway",
            "init",
            "-d",
            gw,
            "--member",
            "UY-DEMO/GOB/IM",
            "--address",
            "https://127.0.0.1:9443",
            "--registry-url",
            f"http://127.0.0.1:{port}",
            "--anchor",
            str(data / "ca.pem"),
        )
        registered = entramado("gateway", "register", "-d", gw)
        assert "pending" in registered.stdout
        pending = entramado("gateway", "fetch-certs", "-d", gw, check=False)
        assert pending.returncode == 2
        registrations = json.loads(entramado("registry", "registration", "list", "-d", str(data), "--json").stdout)
        entramado("registry", "registration", "approve", str(registrations[0]["id"]), "-d", str(data))
        entramado("gateway", "fetch-certs", "-d", gw)
        assert (tmp_path / "gw" / "tls.pem").exists() and (tmp_path / "gw" / "sign.pem").exists()
        entramado("gateway", "add-service", "-d", gw, "tramites/catalogo", "--base-url", "http://127.0.0.1:9000")
        bad = entramado("gateway", "add-service", "-d", gw, "tramites/../x", "--base-url", "http://x", check=False)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
    finally:
        server.terminate()
        server.wait(10)


class _Fake:
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen, self.name, self.log_path = popen, "registry", "-"
