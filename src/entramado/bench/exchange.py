"""``entramado bench exchange``: the secure exchange against a direct call and a plain proxy chain.

All three run in the same invocation, on loopback, with the same load generator: ``wrk`` when it
is installed (it costs the machine least), else a Python load generator in its own process.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

INSTANCE = "UY-BENCH"
CLIENT = f"{INSTANCE}/GOB/BPS/prestaciones"
SERVICE = f"{INSTANCE}/GOB/DGI/tributos/ingresos"
PATH = "/personas/12345672/ingresos"
HEADERS = {
    "X-Road-Client": CLIENT,
    "Entramado-Purpose": "prestaciones-sociales",
    "Entramado-Data-Subject": "UY-CI:12345672",
}

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"socket_errors":%d,"non_2xx":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Load:
    url: str
    headers: dict[str, str]


def run_load(load: Load, duration: float, connections: int, work: Path) -> dict[str, Any]:
    """Drive ``load`` for ``duration`` seconds; return throughput and latency percentiles (ms)."""
    wrk = shutil.which("wrk")
    if wrk:
        script = work / "report.lua"
        script.write_text(WRK_SCRIPT)
        args = [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
        ]
        for name, value in load.headers.items():
            args += ["-H", f"{name}: {value}"]
        out = subprocess.run([*args, load.url], capture_output=True, text=True, check=True).stdout
        raw = json.loads(out.strip().splitlines()[-1])
        generator = "wrk"
    else:
        cmd = python(
            "-m",
            "entramado.bench.load",
            load.url,
            str(duration),
            str(connections),
            json.dumps(load.headers),
        )
        raw = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        generator = "python-aiohttp"
    seconds = raw["duration_us"] / 1e6
    return {
        "generator": generator,
        "connections": connections,
        "requests": raw["requests"],
        "errors": raw["socket_errors"] + raw["non_2xx"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 3),
        "p95_ms": round(raw["p95_us"] / 1000, 3),
        "p99_ms": round(raw["p99_us"] / 1000, 3),
    }


def bench_exchange(
    duration: float, connections: int, keep: Path | None = None, evidence_rounds: int = 0
) -> dict[str, Any]:
    work = keep or Path(tempfile.mkdtemp(prefix="entramado-bench-"))
    logs = work / "logs"
    procs: list[Process] = []
    try:
        registry_port = free_port()
        registry = open_or_init_registry(work / "registry", INSTANCE, registry_port)
        for member, sub in (("BPS", "prestaciones"), ("DGI", "tributos")):
            registry.add_member("bench", f"{INSTANCE}/GOB/{member}", member)
            registry.add_subsystem("bench", f"{INSTANCE}/GOB/{member}/{sub}")
        openapi = {
            "openapi": "3.1.0",
            "info": {"title": "ingresos", "version": "1"},
            "paths": {"/personas/{ci}/ingresos": {"get": {"responses": {"200": {"description": "ok"}}}}},
        }
        registry.publish_service("bench", SERVICE, openapi, ["ingresos"])
        registry.add_grant("bench", CLIENT, SERVICE, ["prestaciones-sociales"], "GET", "/personas/{ci}/ingresos")
        provider_port = free_port()
        provider_url = f"http://127.0.0.1:{provider_port}"
        client_gw = GatewayLayout(work / "gw-bps", f"{INSTANCE}/GOB/BPS", "gw1", free_port(), free_port(), {})
        provider_gw = GatewayLayout(
            work / "gw-dgi", f"{INSTANCE}/GOB/DGI", "gw1", free_port(), free_port(), {"tributos/ingresos": provider_url}
        )
        registry_url = f"http://127.0.0.1:{registry_port}"
        # The first pair runs without timestamping or archiving; the second (when measured) with
        # both, archiving every 5 s and pruning at once, so that both costs are inside the run.
        plain_evidence = {"timestamping": False, "log_level": "WARNING"}
        for layout in (client_gw, provider_gw):
            provision_gateway(registry, registry_url, layout, **plain_evidence)
        pairs = [(client_gw, provider_gw)]
        if evidence_rounds:
            ts_client = GatewayLayout(work / "gw-bps-ts", f"{INSTANCE}/GOB/BPS", "gw2", free_port(), free_port(), {})
            ts_provider = GatewayLayout(
                work / "gw-dgi-ts",
                f"{INSTANCE}/GOB/DGI",
                "gw2",
                free_port(),
                free_port(),
                {"tributos/ingresos": provider_url},
            )
            with_evidence = {
                "timestamping": True,
                "timestamp_interval": 1.0,
                "archive_interval": 5.0,
                "archive_retention_days": 0.0,
                "log_level": "WARNING",
            }
            for layout in (ts_client, ts_provider):
                provision_gateway(registry, registry_url, layout, **with_evidence)
            pairs.append((ts_client, ts_provider))
        seed_configuration(registry, [layout for pair in pairs for layout in pair])
        registry.engine.dispose()

        procs.append(start_registry(work / "registry", registry_port, logs))
        provider = Process(
            "provider", python("-m", "entramado.bench.peers", "provider", str(provider_port)), logs / "provider.log"
        )
        procs.append(provider)
        provider.wait_ready(provider_url + PATH)
        proxy2_port, proxy1_port = free_port(), free_port()
        for port, upstream in (
            (proxy2_port, provider_url),
            (proxy1_port, f"http://127.0.0.1:{proxy2_port}"),
        ):
            proxy = Process(
                f"proxy {port}",
                python("-m", "entramado.bench.peers", "proxy", str(port), upstream),
                logs / f"proxy-{port}.log",
            )
            procs.append(proxy)
            proxy.wait_ready(f"http://127.0.0.1:{port}{PATH}")
        for pair in pairs:
            for layout in reversed(pair):
                procs.append(start_gateway(layout, logs, name=f"gateway {layout.data_dir.name}"))

        loads = {
            "secure_exchange": Load(f"{client_gw.consumer_url}/r1/{SERVICE}{PATH}", HEADERS),
            "direct": Load(provider_url + PATH, HEADERS),
            "plain_two_hop_proxy": Load(f"http://127.0.0.1:{proxy1_port}{PATH}", HEADERS),
        }
        for load in loads.values():  # warm up pools, caches and the message log
            run_load(load, 1, connections, work)
        throughput = {name: run_load(load, duration, connections, work) for name, load in loads.items()}
        latency = {name: run_load(load, max(2.0, duration / 2), 1, work) for name, load in loads.items()}
        evidence = None
        if evidence_rounds:
            # Alternate off/on rounds so that drift of a noisy machine hits both alike.
            with_ts = Load(f"{pairs[1][0].consumer_url}/r1/{SERVICE}{PATH}", HEADERS)
            run_load(with_ts, 1, connections, work)
            rounds: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for _ in range(evidence_rounds):
                rounds["off"].append(run_load(loads["secure_exchange"], duration, connections, work))
                rounds["on"].append(run_load(with_ts, duration, connections, work))
            evidence = _evidence_summary(rounds, pairs[1])
    finally:
        for proc in reversed(procs):
            proc.stop()
    secure, plain = throughput["secure_exchange"], throughput["plain_two_hop_proxy"]
    added_p50 = round(latency["secure_exchange"]["p50_ms"] - latency["direct"]["p50_ms"], 3)
    ratio = round(secure["rps"] / plain["rps"], 3) if plain["rps"] else 0.0
    records = _log_records(client_gw.data_dir) + _log_records(provider_gw.data_dir)
    return {
        "benchmark": "exchange",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "duration_s": duration,
        "throughput": throughput,
        "latency_one_connection": latency,
        "secure_vs_plain_ratio": ratio,
        "added_latency_p50_ms": added_p50,
        "message_log_records": records,
        "targets": {
            "secure_rps_at_least_2000": secure["rps"] >= 2000,
            "added_p50_at_most_3ms": added_p50 <= 3.0,
            "secure_at_least_60pct_of_plain": ratio >= 0.6,
            "no_errors": all(r["errors"] == 0 for r in (*throughput.values(), *latency.values())),
        },
        "work_dir": str(work) if keep else None,
        **({"timestamping_and_archiving": evidence} if evidence else {}),
    }


def _evidence_summary(
    rounds: dict[str, list[dict[str, Any]]], pair: tuple[GatewayLayout, GatewayLayout]
) -> dict[str, Any]:
    from entramado.db import make_engine, sqlite_url
    from entramado.evidence.models import LogArchive, LogBatch

    off = sum(r["rps"] for r in rounds["off"]) / len(rounds["off"])
    on = sum(r["rps"] for r in rounds["on"]) / len(rounds["on"])
    engine = make_engine(sqlite_url(pair[0].data_dir / "gateway.db"))
    try:
        from sqlalchemy import func, select

        with engine.connect() as conn:
            batches = conn.scalar(select(func.count()).select_from(LogBatch))
            archives = conn.scalar(select(func.count()).select_from(LogArchive))
    finally:
        engine.dispose()
    return {
        "rounds": rounds,
        "rps_off": round(off, 1),
        "rps_on": round(on, 1),
        "cost_pct": round((off - on) / off * 100, 1),
        "client_gateway_batches": batches,
        "client_gateway_archives": archives,
        "target_cost_at_most_5pct": (off - on) / off <= 0.05,
    }


def _log_records(data_dir: Path) -> int:
    from entramado.db import make_engine, sqlite_url
    from entramado.evidence.chain import chains, count

    engine = make_engine(sqlite_url(data_dir / "gateway.db"))
    try:
        return sum(count(engine, chain) for chain in chains(engine))
    finally:
        engine.dispose()


if __name__ == "__main__":
    print(json.dumps(bench_exchange(float(sys.argv[1]), int(sys.argv[2])), indent=2))
    time.sleep(0)
