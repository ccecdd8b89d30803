"""The benchmark's baselines: a trivial provider and a plain pass-through proxy.

The proxy uses the same stack as the gateway (aiohttp server, pooled aiohttp client, uvloop) so
that the comparison isolates what security costs, not a difference of HTTP libraries.

    python -m entramado.bench.peers provider PORT
    python -m entramado.bench.peers proxy PORT UPSTREAM_URL
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

BODY = b'{"ci":"12345672","anio":2025,"ingresos_nominales_uyu":620000}'

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def provider(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Send) -> None:
    """A trivial ASGI provider: a fixed JSON answer."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def proxy_app(upstream: str) -> web.Application:
    app = web.Application()
    base = upstream.rstrip("/")

    async def start(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60), auto_decompress=False
        )

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        url = URL(base + request.raw_path, encoded=True)
        async with app["session"].request(request.method, url, data=body, headers=headers) as resp:
            payload = await resp.read()
            ctype = resp.headers.get("content-type", "application/octet-stream")
            return web.Response(status=resp.status, body=payload, headers={"content-type": ctype})

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main(argv: list[str]) -> None:
    import uvloop

    kind, port = argv[0], int(argv[1])
    if kind == "provider":
        import uvicorn

        uvicorn.run(
            provider,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            loop="uvloop",
            http="httptools",
            access_log=False,
        )
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        web.run_app(proxy_app(argv[2]), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(sys.argv[1:])
