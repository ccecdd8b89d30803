"""The registry's HTTP API: public configuration and registration, authenticated admin routes."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import text

from entramado import crypto
from entramado.db import connect
from entramado.errors import BadRequest, PayloadTooLarge, Unauthorized
from entramado.registry.schemas import (
    GrantIn,
    MemberIn,
    RegistrationIn,
    RevokeIn,
    ServiceIn,
    SubsystemIn,
)
from entramado.registry.services import Registry
from entramado.settings import RegistrySettings
from entramado.web import install_common


def create_app(settings: RegistrySettings, registry: Registry | None = None) -> FastAPI:
    """Build the registry's ASGI app from its settings."""
    registry = registry or Registry(settings, connect(settings.db_url))
    metrics = CollectorRegistry()
    served = Counter("entramado_registry_configurations_served", "Signed configurations served", registry=metrics)
    stamped = Counter("entramado_registry_timestamps", "RFC 3161 time-stamp requests answered", registry=metrics)
    app = FastAPI(title="Entramado registry", version="1", docs_url="/docs", redoc_url=None)
    app.state.registry = registry

    def ready() -> tuple[bool, str]:
        try:
            with registry.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return False, f"database: {type(exc).__name__}"
        return True, "ok"

    install_common(app, metrics, ready)

    def admin(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), registry.admin_token.encode()):
            raise Unauthorized(
                "admin token required",
                "send Authorization: Bearer <token from DATA_DIR/admin-token>",
            )
        return "admin"

    public = APIRouter(prefix="/api/v1")

    @public.get("/configuration")
    def configuration() -> Response:
        served.inc()
        return Response(registry.current_configuration(), media_type="application/json")

    @public.get("/anchor", response_class=PlainTextResponse)
    def anchor() -> str:
        return crypto.cert_to_pem(registry.ca.cert)

    @public.post("/timestamp", response_class=Response)
    async def timestamp(request: Request) -> Response:
        """RFC 3161 over HTTP (RFC 3161 §3.4): a DER TimeStampReq in, a DER TimeStampResp out."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/timestamp-query":
            raise BadRequest("Content-Type must be application/timestamp-query")
        body = await request.body()
        if len(body) > 4096:
            raise PayloadTooLarge("time-stamp request too large", "at most 4096 bytes")
        stamped.inc()
        return Response(registry.tsa.respond(body), media_type="application/timestamp-reply")

    @public.post("/registrations", status_code=202)
    def register(body: RegistrationIn) -> dict[str, Any]:
        return registry.submit_registration(body.member, body.gateway_code, body.address, body.tls_csr, body.sign_csr)

    @public.get("/registrations/{reg_id}")
    def registration(reg_id: int) -> dict[str, Any]:
        return registry.registration(reg_id)

    ops = APIRouter(prefix="/admin", dependencies=[Depends(admin)])
    actor = "admin-api"

    @ops.get("/members")
    def members() -> list[dict[str, Any]]:
        return registry.list_members()

    @ops.post("/members", status_code=201)
    def add_member(body: MemberIn) -> dict[str, Any]:
        return registry.add_member(actor, body.id, body.name)

    @ops.post("/subsystems", status_code=201)
    def add_subsystem(body: SubsystemIn) -> dict[str, Any]:
        return registry.add_subsystem(actor, body.id)

    @ops.get("/registrations")
    def registrations(status: str | None = None) -> list[dict[str, Any]]:
        return registry.list_registrations(status)

    @ops.post("/registrations/{reg_id}/approve")
    def approve(reg_id: int) -> dict[str, Any]:
        return registry.approve_registration(actor, reg_id)

    @ops.post("/registrations/{reg_id}/reject")
    def reject(reg_id: int, body: RevokeIn) -> dict[str, Any]:
        return registry.reject_registration(actor, reg_id, body.reason)

    @ops.get("/gateways")
    def gateways() -> list[dict[str, Any]]:
        return registry.list_gateways()

    @ops.post("/services", status_code=201)
    def publish(body: ServiceIn) -> dict[str, Any]:
        return registry.publish_service(actor, body.id, body.openapi, body.personal_data, body.version)

    @ops.get("/services/{service_id:path}/openapi")
    def openapi(service_id: str) -> dict[str, Any]:
        return registry.openapi(service_id)

    @ops.post("/grants", status_code=201)
    def add_grant(body: GrantIn) -> dict[str, Any]:
        return registry.add_grant(actor, body.client, body.service, body.purposes, body.method, body.path)

    @ops.delete("/grants/{grant_id}", status_code=204)
    def delete_grant(grant_id: int) -> Response:
        registry.delete_grant(actor, grant_id)
        return Response(status_code=204)

    @ops.post("/certificates/{key}/revoke")
    def revoke(key: str, body: RevokeIn) -> dict[str, Any]:
        return registry.revoke(actor, key, body.reason)

    @ops.get("/audit")
    def audit(limit: int = 100) -> list[dict[str, Any]]:
        return registry.audit(min(max(limit, 1), 1000))

    @ops.post("/configuration/refresh")
    def refresh() -> dict[str, Any]:
        registry.refresh_configuration()
        return {"refreshed": True}

    app.include_router(public)
    app.include_router(ops)
    return app
