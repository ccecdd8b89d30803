"""The person index's HTTP API, offered on the network as an ordinary service.

``POST /records`` upserts one source record and answers its person, the decision and the evidence;
``POST /persons/match`` finds without storing; ``GET /persons/{id}`` gives the golden record with the source and
date behind each attribute (an old id answers the person it became); ``GET /persons/{id}/records`` the records.
The review queue (``/reviews``) needs the index's admin token.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, Field
from sqlalchemy import text

from entramado.db import connect
from entramado.errors import BadRequest, Unauthorized
from entramado.identity import notify, services
from entramado.identity.notify import Dispatcher
from entramado.identity.realtime_service import RealtimeIndex
from entramado.ids import SubsystemId
from entramado.settings import IdentitySettings
from entramado.web import install_common

FieldValues = dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=2000)]]


class RecordIn(BaseModel):
    """One source record: its source (agency code), its id there, raw values by canonical field."""

    model_config = {"extra": "forbid"}

    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    record_id: str = Field(min_length=1, max_length=200)
    fields: FieldValues = Field(max_length=32)
    date_formats: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=8)


class MatchIn(BaseModel):
    model_config = {"extra": "forbid"}

    fields: FieldValues = Field(max_length=32)
    date_formats: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=8)


class SubscriptionIn(BaseModel):
    """Persons to follow: by id, and/or every person holding a record of ``source``. The subscriber is the calling
    subsystem (``X-Road-Client``, set by the caller's gateway)."""

    model_config = {"extra": "forbid"}

    person_ids: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(default_factory=list, max_length=10000)
    source: str | None = Field(None, min_length=1, max_length=64)


class SubscriberIn(BaseModel):
    """Where the calling subsystem takes notifications: a network service and a path under it."""

    model_config = {"extra": "forbid"}

    service: str = Field(min_length=1, max_length=400)
    path: str = Field("/notificaciones", max_length=400)


class DecisionIn(BaseModel):
    model_config = {"extra": "forbid"}

    decision: str = Field(pattern="^(same|different)$")
    decided_by: str = Field(min_length=1, max_length=200)


def caller(x_road_client: Annotated[str | None, Header()] = None) -> str:
    """The calling subsystem, from the ``X-Road-Client`` header its gateway sets."""
    if not x_road_client:
        raise BadRequest("X-Road-Client header is required", "call the index through your gateway")
    SubsystemId.parse(x_road_client)
    return x_road_client


# At module level: the routes' annotations are strings (``from __future__ import annotations``), which FastAPI
# resolves in this module's globals; a dependency local to ``create_app`` would not resolve, and ``client`` would
# silently become a query parameter.
Caller = Annotated[str, Depends(caller)]


def admin_token(settings: IdentitySettings) -> str:
    """The admin token: from settings, else DATA_DIR/admin-token (created on first use, owner-only)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin-token"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def create_app(settings: IdentitySettings, index: RealtimeIndex | None = None) -> FastAPI:
    """Build the person index's ASGI app; the in-memory index loads from the database when the app starts."""
    engine = connect(settings.db_url)
    realtime = index or RealtimeIndex(engine, match_weight=settings.match_weight, review_weight=settings.review_weight)
    token = admin_token(settings)
    metrics = CollectorRegistry()
    decisions = Counter("entramado_identity_decisions", "Real-time decisions", ["decision"], registry=metrics)
    latency = Histogram(
        "entramado_identity_match_seconds",
        "Time to match one record",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        registry=metrics,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        realtime.load()
        stop = asyncio.Event()
        task = None
        if settings.gateway_url and settings.client:
            dispatcher = Dispatcher(engine, settings.gateway_url, settings.client, settings.notify_purpose)
            task = asyncio.create_task(dispatcher.run(settings.notify_interval, stop))
        yield
        stop.set()
        if task is not None:
            await task

    app = FastAPI(title="Entramado person index", version="1", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.index = realtime

    def ready() -> tuple[bool, str]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            return False, f"database: {type(exc).__name__}"
        if realtime.model is None:
            return False, "no match model yet: run `entramado identity link`"
        return True, f"{realtime.size} records indexed"

    install_common(app, metrics, ready)

    def admin(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("admin token required", "send Authorization: Bearer <token from DATA_DIR/admin-token>")
        return "admin"

    @app.post("/records")
    def upsert(record: RecordIn) -> dict[str, Any]:
        with latency.time():
            result = realtime.upsert(record.source, record.record_id, record.fields, record.date_formats)
        decisions.labels(result.decision).inc()
        return result.as_dict()

    @app.post("/persons/match")
    def match(query: MatchIn) -> dict[str, Any]:
        with latency.time():
            return realtime.match(query.fields, query.date_formats).as_dict()

    @app.get("/persons/{person_id}")
    def person(person_id: str) -> dict[str, Any]:
        return services.get_person(engine, person_id)

    @app.get("/persons/{person_id}/records")
    def person_records(person_id: str) -> dict[str, Any]:
        return services.get_person_records(engine, person_id)

    @app.put("/subscriber")
    def subscriber(body: SubscriberIn, client: Caller) -> dict[str, str]:
        notify.register_subscriber(engine, client, body.service, body.path)
        return {"subscriber": client, "service": body.service, "path": body.path}

    @app.post("/subscriptions")
    def subscriptions(body: SubscriptionIn, client: Caller) -> dict[str, Any]:
        added = notify.subscribe(engine, client, person_ids=body.person_ids, source=body.source)
        return {"subscriber": client, "added": added}

    @app.get("/persons/{person_id}/notifications")
    def notifications(person_id: str, client: Caller) -> list[dict[str, Any]]:
        # An agency sees its own deliveries only: who else follows a person is not its business.
        return notify.outbox_status(engine, person_id, subscriber=client)

    @app.get("/reviews", dependencies=[Depends(admin)])
    def reviews(status: str = "open", limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        return services.list_reviews(engine, status=status, limit=max(1, min(limit, 500)), offset=max(0, offset))

    @app.post("/reviews/{review_id}/decision", dependencies=[Depends(admin)])
    def decide(review_id: int, body: DecisionIn) -> dict[str, Any]:
        return services.decide_review(engine, review_id, body.decision, body.decided_by)

    return app
