"""A provider system for the network tests: echoes what reached it, and can be slow or large."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request, Response

app = FastAPI(title="test provider", version="1.0.0")


@app.get("/personas/{ci}/ingresos")
def ingresos(ci: str, request: Request) -> dict[str, Any]:
    names = ("x-road-client", "x-road-id", "entramado-purpose", "entramado-data-subject", "x-road-userid")
    return {"ci": ci, "received": {n: request.headers.get(n) for n in names}}


@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type=request.headers.get("content-type", "application/octet-stream"))


@app.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(3)
    return {"late": "yes"}


@app.get("/big")
def big() -> Response:
    return Response(b"x" * 200_000, media_type="application/octet-stream")
