"""A fallback load generator (when ``wrk`` is absent): N connections in a closed loop.

python -m entramado.bench.load URL SECONDS CONNECTIONS HEADERS_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def drive(url: str, seconds: float, connections: int, headers: dict[str, str]) -> dict[str, int]:
    latencies: list[float] = []
    errors = {"socket": 0, "status": 0}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            errors["status"] += 1
                except aiohttp.ClientError:
                    errors["socket"] += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1e6) if latencies else 0

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "socket_errors": errors["socket"],
        "non_2xx": errors["status"],
        "p50_us": pct(0.5),
        "p95_us": pct(0.95),
        "p99_us": pct(0.99),
    }


if __name__ == "__main__":
    url, seconds, connections, headers = (
        sys.argv[1],
        float(sys.argv[2]),
        int(sys.argv[3]),
        json.loads(sys.argv[4]),
    )
    print(json.dumps(asyncio.run(drive(url, seconds, connections, headers))))
