"""What every ASGI role shares: error mapping, health endpoints and structured logs."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from entramado.errors import EntramadoError


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
    }

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class MalformedHttpFilter(logging.Filter):
    """aiohttp logs every malformed request with a traceback at level error, which lets anyone on
    the network flood the error log. Keep one line at level info instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ in {
            "BadHttpMessage",
            "BadStatusLine",
            "LineTooLong",
            "InvalidHeader",
            "InvalidURLError",
            "BadHttpMethod",
        }:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = f"malformed HTTP request refused: {str(exc).splitlines()[0][:200]}", ()
            record.exc_info = None
        return True


def configure_logging(level: str) -> None:
    """JSON logs on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(MalformedHttpFilter())


def private_files() -> None:
    """A serving process creates files for its owner only: the data folders hold keys, and
    databases and archives with personal data."""
    os.umask(0o077)


def error_response(error: EntramadoError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers={"X-Road-Error": error.type})


def install_common(app: FastAPI, registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]]) -> None:
    """Map every error to ``{type, message, detail}``; add /healthz, /readyz and /metrics."""

    @app.exception_handler(EntramadoError)
    async def _entramado(_: Request, exc: EntramadoError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()[:10]
        )
        body = {"type": "Client.BadRequest", "message": "invalid request", "detail": detail}
        return JSONResponse(body, status_code=400, headers={"X-Road-Error": "Client.BadRequest"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "Client.NotFound" if exc.status_code == 404 else "Client.BadRequest"
        if exc.status_code == 405:
            kind = "Client.MethodNotAllowed"
        body = {"type": kind, "message": str(exc.detail), "detail": ""}
        return JSONResponse(body, status_code=exc.status_code, headers={"X-Road-Error": kind})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("entramado").exception("unhandled error")
        body = {
            "type": "Server.InternalError",
            "message": "internal error",
            "detail": type(exc).__name__,
        }
        return JSONResponse(body, status_code=500, headers={"X-Road-Error": "Server.InternalError"})

    started = time.time()

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "uptime_s": round(time.time() - started, 1)}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        ok, detail = ready()
        return JSONResponse({"ready": ok, "detail": detail}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
