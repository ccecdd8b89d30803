"""Lay out and run a whole network on loopback: used by the demo, the benchmark and the tests.

Provisioning goes through the same service calls the CLI and admin API use (the registry's
``Registry``, the gateway's key and CSR creation); only the approval is done in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import tomli_w

from entramado import crypto
from entramado.db import connect
from entramado.gateway.identity import GatewayFiles, create_keys
from entramado.registry.services import Registry, init_instance
from entramado.settings import registry_settings


def open_or_init_registry(data_dir: Path, instance: str, port: int, **settings: Any) -> Registry:
    if not (data_dir / "ca.key").exists():
        init_instance(data_dir, instance, port=port, **settings)
    conf = registry_settings(data_dir)
    return Registry(conf, connect(conf.db_url))


@dataclass(frozen=True)
class GatewayLayout:
    data_dir: Path
    member: str
    code: str
    consumer_port: int
    provider_port: int
    services: dict[str, str]  # SUBSYSTEM/SERVICE -> base URL

    @property
    def consumer_url(self) -> str:
        return f"http://127.0.0.1:{self.consumer_port}"


def provision_gateway(registry: Registry, registry_url: str, layout: GatewayLayout, **settings: Any) -> None:
    """Create a gateway's keys, register and approve it, and write its settings."""
    files = GatewayFiles(layout.data_dir)
    values: dict[str, Any] = {
        "member": layout.member,
        "code": layout.code,
        "address": f"https://127.0.0.1:{layout.provider_port}",
        "registry_url": registry_url,
        "consumer_port": layout.consumer_port,
        "provider_port": layout.provider_port,
        "services": {k: {"base_url": v} for k, v in layout.services.items()},
        **settings,
    }
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    if not files.sign_cert.exists():
        create_keys(files, layout.member, layout.code)
        reg = registry.submit_registration(
            layout.member,
            layout.code,
            values["address"],
            files.tls_csr.read_text(),
            files.sign_csr.read_text(),
        )
        values["registration_id"] = reg["id"]
        issued = registry.approve_registration("demo", reg["id"])
        files.tls_cert.write_text(issued["tls_cert"])
        files.sign_cert.write_text(issued["sign_cert"])
        files.anchor.write_text(crypto.cert_to_pem(registry.ca.cert))
    elif files.settings.exists():
        import tomllib

        values["registration_id"] = tomllib.loads(files.settings.read_text()).get("registration_id")
    files.settings.write_text(tomli_w.dumps({k: v for k, v in values.items() if v is not None}))


def seed_configuration(registry: Registry, layouts: list[GatewayLayout]) -> None:
    """Give every gateway the configuration that lists all of them, so none starts half-blind."""
    envelope = registry.current_configuration()
    for layout in layouts:
        GatewayFiles(layout.data_dir).config_cache.write_bytes(envelope)


class Process:
    """A child process of the network, its output in a log file, stopped with SIGTERM."""

    def __init__(
        self,
        name: str,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        ready_url: str = "",
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.ready_url = ready_url
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = log_path.open("ab")
        self.popen = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def wait_ready(self, url: str = "", timeout: float = 30.0) -> None:
        """Wait until ``url`` (default: the process's ``ready_url``) answers 200."""
        url = url or self.ready_url
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready at {url} after {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def start_registry(data_dir: Path, port: int, log_dir: Path, *, wait: bool = True) -> Process:
    """Start the registry; with ``wait`` false, call ``proc.wait_ready(proc.ready_url)`` later."""
    proc = Process(
        "registry",
        python("-m", "entramado", "registry", "serve", "-d", str(data_dir), "--port", str(port)),
        log_dir / "registry.log",
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )
    if wait:
        proc.wait_ready()
    return proc


def start_gateway(layout: GatewayLayout, log_dir: Path, name: str = "", *, wait: bool = True) -> Process:
    """Start a gateway; with ``wait`` false (to start several at once), call ``proc.wait_ready()`` later."""
    proc = Process(
        name or f"gateway {layout.member}",
        python("-m", "entramado", "gateway", "serve", "-d", str(layout.data_dir)),
        log_dir / f"gateway-{layout.member.replace('/', '_')}-{layout.code}.log",
        ready_url=f"{layout.consumer_url}/readyz",
    )
    if wait:
        proc.wait_ready()
    return proc
