"""The gateway: the consumer side (the agency's own systems call it over HTTP) and the provider
side (peer gateways call it over mutual TLS 1.3).

It runs on aiohttp's server and client rather than an ASGI server: aiohttp hands the handler the
peer's TLS certificate, and its pooled client is an order of magnitude faster than the
alternatives under concurrency on this class of machine (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ed25519
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from yarl import URL

from entramado import crypto
from entramado.errors import (
    AccessDenied,
    AuthenticationFailed,
    BadRequest,
    EntramadoError,
    InvalidResponseSignature,
    InvalidSignature,
    MethodNotAllowed,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    ProviderConfigurationExpired,
    ProviderGatewayTimeout,
    ReplayedMessage,
    ServiceFailed,
    ServiceTimeout,
    Unauthorized,
    UnknownClient,
    UnknownService,
)
from entramado.evidence.archive import archive_chain
from entramado.evidence.bundle import bundle as evidence_bundle
from entramado.evidence.chain import Entry, LogUnavailable, MessageLog
from entramado.evidence.models import LogRecord
from entramado.evidence.timestamper import Timestamper
from entramado.gateway import metaservices, signatures
from entramado.gateway.confclient import ConfigClient
from entramado.gateway.identity import GatewayIdentity, admin_token
from entramado.gateway.protocol import (
    FORWARD_REQUEST,
    FORWARD_RESPONSE,
    SINGLE_HEADERS,
    CallHeaders,
    Target,
    parse_target,
    read_headers,
    refuse_repeated,
    require_personal_data_headers,
)
from entramado.registry.config import GatewayEntry, NetworkConfig
from entramado.settings import GatewaySettings

log = logging.getLogger("entramado.gateway")

EMPTY_DIGEST = signatures.content_digest(b"")


class PinnedConnector(aiohttp.TCPConnector):
    """A TLS connector that accepts a peer only if its certificate is the one registered for
    that address in the network configuration (certificate pinning on top of CA verification)."""

    def __init__(self, pins: dict[tuple[str, int], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pins = pins

    async def _wrap_create_connection(self, *args: Any, req: Any, **kwargs: Any) -> Any:
        transport, protocol = await super()._wrap_create_connection(*args, req=req, **kwargs)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else b""
        got = hashlib.sha256(der or b"").digest()
        expected = self.pins.get((req.url.host, req.url.port), "")
        if got.hex() != expected:
            transport.close()
            raise aiohttp.ServerFingerprintMismatch(bytes.fromhex(expected), got, req.url.host, req.url.port)
        return transport, protocol


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "entramado_gateway_requests",
            "Exchanges handled",
            ["side", "client", "service", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "entramado_gateway_errors",
            "Refused or failed exchanges",
            ["side", "type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "entramado_gateway_latency_seconds",
            "Time inside the gateway, end to end",
            ["side", "service"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.config_version = Gauge("entramado_gateway_config_version", "Configuration version", registry=self.registry)
        self.config_expiry = Gauge(
            "entramado_gateway_config_expires_timestamp",
            "Configuration expiry (Unix time)",
            registry=self.registry,
        )
        self.log_records = Gauge("entramado_gateway_log_records_written", "Message log records", registry=self.registry)
        self.log_commits = Gauge("entramado_gateway_log_commits", "Message log commits", registry=self.registry)
        self.ts_backlog = self._gauge("timestamp_backlog_records", "Records waiting for a timestamp")
        self.ts_batches = self._gauge("timestamp_batches", "Merkle batches timestamped since start")
        self.ts_failures = self._gauge("timestamp_failures", "Failed timestamp attempts since start")
        self.ts_last_success = self._gauge("timestamp_last_success_timestamp", "Unix time of the last batch")
        self.ts_overdue = self._gauge("timestamp_overdue", "1 while records wait past the grace period")
        self._children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}

    def _gauge(self, name: str, doc: str) -> Gauge:
        return Gauge(f"entramado_gateway_{name}", doc, registry=self.registry)

    def observe(self, side: str, client: str, service: str, status: int, seconds: float) -> None:
        key = (side, client, service, status)
        children = self._children.get(key)
        if children is None:  # label look-ups are slow: resolve each combination once
            children = self._children[key] = (
                self.requests.labels(side, client, service, str(status)),
                self.latency.labels(side, service),
            )
        children[0].inc()
        children[1].observe(seconds)


class Gateway:
    """One gateway node: its identity, configuration, message log and both sides' handlers."""

    def __init__(
        self,
        settings: GatewaySettings,
        engine: Engine,
        identity: GatewayIdentity,
        config: ConfigClient,
        message_log: MessageLog,
        timestamper: Timestamper,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.identity = identity
        self.config = config
        self.log = message_log
        self.timestamper = timestamper
        self.admin_token = admin_token(identity.files)
        self.member = settings.member
        self.metrics = Metrics()
        self._peer: aiohttp.ClientSession | None = None
        self._peer_version = -1
        self._local: aiohttp.ClientSession | None = None
        self._seen: dict[tuple[str, str], float] = {}
        self._keys: dict[str, ed25519.Ed25519PublicKey] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # lifecycle

    def _peer_session(self, config: NetworkConfig) -> aiohttp.ClientSession:
        """The pooled session to peer gateways; a new configuration gets a new pool, so that a
        revoked or replaced peer certificate is never reused from an old connection."""
        if self._peer is None or self._peer_version != config.version:
            old = self._peer
            pins = {}
            for gw in config.gateways:
                url = URL(gw.address)
                pins[(url.host or "", url.port or 443)] = gw.tls_fingerprint
            connector = PinnedConnector(pins, ssl=self.identity.client_context, limit=0, keepalive_timeout=60)
            self._peer = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._peer_version = config.version
            if old is not None:
                self._tasks.append(asyncio.create_task(self._close_later(old)))
        return self._peer

    async def _close_later(self, session: aiohttp.ClientSession) -> None:
        try:
            await asyncio.sleep(self.settings.peer_timeout)  # let requests in flight finish
        finally:
            await session.close()

    async def start(self) -> None:
        self._local = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        registry_session = aiohttp.ClientSession()
        # Start from the newest configuration when the registry answers; else from the cache.
        await self.config.refresh(registry_session)
        self._seen = await asyncio.to_thread(self._recent_message_ids)
        self._tasks += [
            asyncio.create_task(self._poll_config(registry_session)),
            asyncio.create_task(self._forget_seen()),
        ]
        if self.settings.timestamping:
            self._tasks.append(asyncio.create_task(self._timestamp(aiohttp.ClientSession())))
        if self.settings.archive_interval > 0:
            self._tasks.append(asyncio.create_task(self._archive()))

    async def _archive(self) -> None:
        """Scheduled archiving: closed batches out to files, then pruning per the retention."""
        settings = self.settings
        while True:
            await asyncio.sleep(settings.archive_interval)
            try:
                results = await asyncio.to_thread(
                    archive_chain,
                    self.engine,
                    settings.chain,
                    settings.archive_path,
                    max_records=settings.archive_max_records,
                    retention=dt.timedelta(days=settings.archive_retention_days),
                )
                for result in results:
                    log.info("archived", extra=result.as_dict())
            except Exception as exc:  # report and try again next time
                log.warning("archiving failed", extra={"error": f"{type(exc).__name__}: {exc}"[:500]})

    async def evidence(self, request: web.Request) -> web.Response:
        """The evidence bundle for one X-Road-Id, for this member's administrators only."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            error = Unauthorized("admin token required", "Authorization: Bearer <DATA_DIR/admin-token>")
            return _error_response(error, {})
        xroad_id = request.match_info["xroad_id"]
        found = await asyncio.to_thread(evidence_bundle, self.engine, xroad_id)
        if found is None:
            return _error_response(NotFound("no evidence for this X-Road-Id", xroad_id[:200]), {})
        return web.Response(body=orjson.dumps(found), content_type="application/json")

    async def _timestamp(self, session: aiohttp.ClientSession) -> None:
        try:
            await self.timestamper.run(session)
        finally:
            await session.close()

    async def _poll_config(self, session: aiohttp.ClientSession) -> None:
        try:
            while True:
                try:
                    await self.config.refresh(session)
                except Exception as exc:  # a broken disk or database must not end polling for good
                    log.error("configuration refresh crashed", extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
                if self.config.config is not None:
                    self.metrics.config_version.set(self.config.config.version)
                    self.metrics.config_expiry.set(self.config.config.expires_at.timestamp())
                await asyncio.sleep(self.settings.poll_interval)
        finally:
            await session.close()

    def _recent_message_ids(self) -> dict[tuple[str, str], float]:
        """The replay window survives a restart: rebuild it from the provider side's log."""
        horizon = time.time() - 2 * self.settings.replay_window
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LogRecord.client, LogRecord.xroad_id, LogRecord.logged_at).where(
                    LogRecord.chain == self.settings.chain,
                    LogRecord.side == "provider",
                    LogRecord.kind == "request",
                    LogRecord.logged_at >= int(horizon * 1e6),
                    LogRecord.signature.is_not(None),  # only requests whose signature verified
                )
            ).all()
        return {(str(client), xroad_id): at / 1e6 + 2 * self.settings.replay_window for client, xroad_id, at in rows}

    async def _forget_seen(self) -> None:
        while True:
            await asyncio.sleep(10)
            now = time.time()
            self._seen = {key: until for key, until in self._seen.items() if until > now}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for session in (self._peer, self._local):
            if session is not None:
                await session.close()
        self.log.close()

    # consumer side

    async def consumer(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        call: CallHeaders | None = None
        target: Target | None = None
        body = b""
        try:
            config = self.config.current()
            self.timestamper.check()
            if request.method in ("HEAD", "CONNECT", "TRACE"):
                raise MethodNotAllowed(f"{request.method} is not carried through the network", "use GET")
            target = parse_target(request.raw_path)
            refuse_repeated(_counts(request))
            call = read_headers(request.headers, generate_id=True)
            if str(call.client.member) != self.member or str(call.client) not in config.subsystems:
                raise UnknownClient(
                    "client subsystem not served here",
                    f"{call.client} is not a registered subsystem of {self.member}",
                )
            if target.metaservice is not None and request.method != "GET":
                raise MethodNotAllowed(f"{target.metaservice} takes GET only")
            if target.metaservice in ("listMethods", "allowedMethods"):
                response = self._local_metaservice(config, target, call)
                await self.log.append(self._entry("client", "request", call, target, "GET", request.raw_path, b"", 200))
                self._observe("client", call, target, 200, started)
                return response
            if target.metaservice == "getOpenAPI":
                code = request.query.get("serviceCode")
                if not code:
                    raise BadRequest("serviceCode is required", "getOpenAPI?serviceCode=SERVICE")
                if f"{target.provider}/{code}" not in config.services:
                    raise UnknownService("unknown service", f"{target.provider}/{code[:64]} is not published")
            personal: tuple[str, ...] = ()
            if target.service is not None:
                service = config.services.get(str(target.service))
                if service is None:
                    raise UnknownService("unknown service", f"{target.service} is not published in {config.instance}")
                personal = service.personal_data
            require_personal_data_headers(call, personal)
            body = await self._read_body(request)
            response = await self._exchange(config, target, call, request, body)
        except EntramadoError as exc:
            response = await self._refuse_consumer(exc, request, call, target, body)
        self._observe("client", call, target, response.status, started)
        return response

    async def _exchange(
        self,
        config: NetworkConfig,
        target: Target,
        call: CallHeaders,
        request: web.Request,
        body: bytes,
    ) -> web.Response:
        headers = call.as_headers()
        headers["content-digest"] = signatures.content_digest(body)
        for name in FORWARD_REQUEST:
            if name in request.headers:
                headers[name] = request.headers[name]
        raw_path, _, query = request.raw_path.partition("?")
        message = signatures.HttpMessage(headers, method=request.method, path=raw_path, query=query)
        signed = signatures.sign(message, self.identity.sign_key, self.identity.key_id, int(time.time()))
        headers["signature-input"] = signed.signature_input
        headers["signature"] = signed.signature
        request_entry = self._entry("client", "request", call, target, request.method, request.raw_path, body)
        request_entry.key_id, request_entry.signature_base, request_entry.signature = (
            signed.key_id,
            signed.base,
            signed.signature,
        )

        peers = config.gateways_of(str(target.provider.member))
        if not peers:
            raise NetworkError("no gateway for the provider", f"{target.provider.member} has no registered gateway")
        session = self._peer_session(config)
        status, resp_headers, resp_body, peer = await self._send(
            session, peers, request.method, request.raw_path, headers, body
        )

        try:
            verified = self._verify_response(status, resp_headers, resp_body, peer, call, signed)
        except EntramadoError as exc:
            response_entry = self._entry("client", "response", call, target, None, None, resp_body, status)
            response_entry.error_type = exc.type
            await self.log.append(request_entry, response_entry)
            raise
        response_entry = self._entry("client", "response", call, target, None, None, resp_body, status)
        response_entry.error_type = resp_headers.get("x-road-error")
        response_entry.key_id, response_entry.signature_base, response_entry.signature = (
            verified.key_id,
            verified.base,
            verified.signature,
        )
        await self.log.append(request_entry, response_entry)

        # Representation headers pass on only when the provider gateway signed them.
        out = {name: resp_headers[name] for name in signatures.RESPONSE_PASSED_ON if name in verified.components}
        out.update(self._xroad_response_headers(call, target))
        out["X-Road-Request-Hash"] = resp_headers["x-road-request-hash"]
        if "x-road-error" in resp_headers:
            out["X-Road-Error"] = resp_headers["x-road-error"]
        return web.Response(status=status, body=resp_body, headers=out)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        peers: list[GatewayEntry],
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Mapping[str, str], bytes, GatewayEntry]:
        """Send to the provider member's gateways in turn until one answers."""
        timeout = aiohttp.ClientTimeout(total=self.settings.peer_timeout, connect=self.settings.connect_timeout)
        failures = []
        for peer in peers:
            url = URL(peer.address.rstrip("/") + raw_path, encoded=True)
            try:
                async with session.request(method, url, data=body, headers=headers, timeout=timeout) as resp:
                    resp_body = await _read_limited(resp, self.settings.max_body_size)
                    return (
                        resp.status,
                        {k.lower(): v for k, v in resp.headers.items()},
                        resp_body,
                        peer,
                    )
            except aiohttp.ConnectionTimeoutError:
                failures.append(f"{peer.address}: no connection within {self.settings.connect_timeout}s")
            except TimeoutError as exc:
                raise ProviderGatewayTimeout(
                    "provider gateway timed out",
                    f"{peer.address} did not answer in {self.settings.peer_timeout}s",
                ) from exc
            except aiohttp.ServerFingerprintMismatch:
                failures.append(f"{peer.address}: presented a certificate other than the registered one")
            except aiohttp.ClientError as exc:
                failures.append(f"{peer.address}: {type(exc).__name__}: {exc}"[:300])
        raise NetworkError("provider gateway unreachable", "; ".join(failures))

    def _verify_response(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        peer: GatewayEntry,
        call: CallHeaders,
        request: signatures.Signed,
    ) -> signatures.Signed:
        if headers.get("content-digest") != signatures.content_digest(body):
            raise InvalidResponseSignature("response body does not match its Content-Digest")
        if headers.get("x-road-id") != call.xroad_id:
            raise InvalidResponseSignature("response is for another message", f"X-Road-Id {headers.get('x-road-id')}")
        if headers.get("x-road-request-hash") != signatures.request_hash(request.signature):
            raise InvalidResponseSignature("X-Road-Request-Hash does not match the request sent")
        try:
            message = signatures.HttpMessage(headers, status=status)
            return signatures.verify(
                message,
                lambda key_id: self._key(key_id) if key_id == peer.sign_key_id else None,
                required=signatures.required(message),
                now=int(time.time()),
                max_age=self.settings.replay_window,
            )
        except signatures.SignatureError as exc:
            raise InvalidResponseSignature("response signature does not verify", str(exc)) from exc

    def _local_metaservice(self, config: NetworkConfig, target: Target, call: CallHeaders) -> web.Response:
        if target.metaservice == "listMethods":
            payload = metaservices.list_methods(config, target.provider)
        else:
            payload = metaservices.allowed_methods(config, target.provider, call.client)
        headers = {"X-Road-Id": call.xroad_id, "X-Road-Client": str(call.client)}
        return web.Response(body=orjson.dumps(payload), content_type="application/json", headers=headers)

    async def list_clients(self, request: web.Request) -> web.Response:
        try:
            config = self.config.current()
        except EntramadoError as exc:
            return _error_response(exc, {})
        payload = metaservices.list_clients(config, request.query.get("xRoadInstance"))
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def _refuse_consumer(
        self,
        exc: EntramadoError,
        request: web.Request,
        call: CallHeaders | None,
        target: Target | None,
        body: bytes,
    ) -> web.Response:
        self.metrics.errors.labels("client", exc.type).inc()
        log.info(
            "refused",
            extra={"side": "client", "type": exc.type, "error": exc.message, "path": request.path},
        )
        entry = self._entry(
            "client",
            "request",
            call,
            target,
            request.method,
            request.raw_path[:2000],
            body,
            exc.status,
        )
        entry.error_type = exc.type
        if call is None:
            entry.client = _clip(request.headers.get("x-road-client"))
        extra = self._xroad_response_headers(call, target) if call else {}
        try:
            await self.log.append(entry)
        except LogUnavailable as unlogged:  # a refusal still answers; say the log is down
            log.error("message log unavailable", extra={"error": unlogged.detail})
            return _error_response(unlogged, extra)
        return _error_response(exc, extra)

    # provider side

    async def provider(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        call: CallHeaders | None = None
        target: Target | None = None
        body = b""
        verified: signatures.Signed | None = None
        try:
            config = self._provider_config()
            self.timestamper.check()
            peer = self._authenticate_peer(request, config)
            target = parse_target(request.raw_path)
            refuse_repeated(_counts(request))
            call = read_headers(request.headers, generate_id=False)
            if str(call.client.member) != peer.member:
                raise AuthenticationFailed(
                    "gateway does not speak for this client",
                    f"{peer.member}/{peer.code} is not {call.client.member}'s",
                )
            body = await self._read_body(request)
            verified = self._verify_request(request, body, peer)
            self._check_replay(call, verified)
            if str(target.provider.member) != self.member:
                raise UnknownService("service is not provided here", f"{target.provider} is not {self.member}'s")
            status, resp_body, resp_headers = await self._serve_local(config, target, call, request, body, verified)
        except EntramadoError as exc:
            self.metrics.errors.labels("provider", exc.type).inc()
            log.info("refused", extra={"side": "provider", "type": exc.type, "error": exc.message})
            status, resp_body = exc.status, orjson.dumps(exc.body())
            resp_headers = {"content-type": "application/json", "x-road-error": exc.type}
        try:
            response = await self._signed_response(
                request, call, target, verified, body, status, resp_body, resp_headers
            )
        except LogUnavailable as exc:  # nothing leaves unlogged
            log.error("message log unavailable", extra={"error": exc.detail})
            response = _error_response(exc, {})
        self._observe("provider", call, target, response.status, started)
        return response

    def _provider_config(self) -> NetworkConfig:
        try:
            return self.config.current()
        except EntramadoError as exc:
            raise ProviderConfigurationExpired(exc.message, exc.detail) from exc

    def _authenticate_peer(self, request: web.Request, config: NetworkConfig) -> GatewayEntry:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if not der:
            raise AuthenticationFailed("client certificate required")
        fingerprint = hashlib.sha256(der).hexdigest()
        peer = config.gateway_by_tls.get(fingerprint)
        if peer is None:
            revoked = fingerprint in config.revoked_fingerprints
            raise AuthenticationFailed(
                "peer certificate revoked" if revoked else "peer certificate unknown",
                f"TLS certificate {fingerprint[:16]}… is {'revoked' if revoked else 'not a registered gateway'}",
            )
        return peer

    def _verify_request(self, request: web.Request, body: bytes, peer: GatewayEntry) -> signatures.Signed:
        headers = request.headers  # case-insensitive
        if headers.get("content-digest") != signatures.content_digest(body):
            raise InvalidSignature("body does not match its Content-Digest")
        raw_path, _, query = request.raw_path.partition("?")
        message = signatures.HttpMessage(headers, method=request.method, path=raw_path, query=query)
        required = signatures.required(message)
        try:
            return signatures.verify(
                message,
                lambda key_id: self._key(key_id) if key_id == peer.sign_key_id else None,
                required=required,
                now=int(time.time()),
                max_age=self.settings.replay_window,
            )
        except signatures.SignatureError as exc:
            raise InvalidSignature("request signature does not verify", str(exc)) from exc

    def _check_replay(self, call: CallHeaders, signed: signatures.Signed) -> None:
        key = (str(call.client), call.xroad_id)
        if key in self._seen:
            raise ReplayedMessage("message replayed", f"X-Road-Id {call.xroad_id} from {call.client} was seen already")
        self._seen[key] = signed.created + 2 * self.settings.replay_window

    async def _serve_local(
        self,
        config: NetworkConfig,
        target: Target,
        call: CallHeaders,
        request: web.Request,
        body: bytes,
        signed: signatures.Signed,
    ) -> tuple[int, bytes, dict[str, str]]:
        if target.metaservice == "getOpenAPI":
            return await self._get_openapi(config, target, call, request)
        if target.metaservice is not None or target.service is None:
            raise BadRequest("metaservice not served by provider gateways", str(target.metaservice))
        service = config.services.get(str(target.service))
        local = self.settings.services.get(f"{target.service.subsystem_code}/{target.service.service_code}")
        if service is None or local is None:
            raise UnknownService("unknown service", f"{target.service} is not served by this gateway")
        require_personal_data_headers(call, service.personal_data)
        if not service.declares(request.method, target.path):
            raise AccessDenied(
                "operation not published",
                f"{request.method} {target.path} is not an operation of {target.service}'s published OpenAPI",
            )
        if not config.allowed(str(call.client), str(target.service), request.method, target.path, call.purpose):
            raise AccessDenied(
                "access denied",
                f"no grant lets {call.client} {request.method} {target.path} on {target.service}"
                + (f" for purpose {call.purpose}" if call.purpose else ""),
            )
        query = request.raw_path.partition("?")[2]
        url = str(local.base_url).rstrip("/") + target.path + ("?" + query if query else "")
        headers = call.as_headers()
        for name in signatures.REQUEST_PASSED_ON:
            if name in signed.components:  # only what the client gateway signed reaches the system
                headers[name] = request.headers[name]
        return await self._call_local(request.method, url, headers, body)

    async def _get_openapi(
        self, config: NetworkConfig, target: Target, call: CallHeaders, request: web.Request
    ) -> tuple[int, bytes, dict[str, str]]:
        code = request.query.get("serviceCode", "")
        service_id = f"{target.provider}/{code}"
        local = self.settings.services.get(f"{target.provider.subsystem_code}/{code}")
        if service_id not in config.services or local is None:
            raise UnknownService("unknown service", f"{service_id} is not served by this gateway")
        if service_id not in config.allowed_services(str(call.client)):
            raise AccessDenied("access denied", f"{call.client} holds no grant on {service_id}")
        url = str(local.base_url).rstrip("/") + local.openapi_path
        status, body, headers = await self._call_local("GET", url, {"accept": "application/json"}, b"")
        if status == 200:
            body = published_openapi(body, config.services[service_id].endpoints)
        return status, body, headers

    async def _call_local(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        assert self._local is not None
        timeout = aiohttp.ClientTimeout(total=self.settings.service_timeout, connect=self.settings.connect_timeout)
        try:
            async with self._local.request(
                method, URL(url, encoded=True), data=body, headers=headers, timeout=timeout
            ) as resp:
                resp_body = await _read_limited(resp, self.settings.max_body_size)
                resp_headers = {n: resp.headers[n] for n in FORWARD_RESPONSE if n in resp.headers}
                return resp.status, resp_body, resp_headers
        except TimeoutError as exc:
            raise ServiceTimeout(
                "provider system timed out", f"no answer within {self.settings.service_timeout}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ServiceFailed("provider system unreachable", f"{type(exc).__name__}: {exc}"[:300]) from exc

    async def _signed_response(
        self,
        request: web.Request,
        call: CallHeaders | None,
        target: Target | None,
        verified: signatures.Signed | None,
        body: bytes,
        status: int,
        resp_body: bytes,
        resp_headers: dict[str, str],
    ) -> web.Response:
        xroad_id = call.xroad_id if call else _safe_id(request.headers.get("x-road-id"))
        signature = request.headers.get("signature", "")
        headers = dict(resp_headers)
        headers["content-digest"] = signatures.content_digest(resp_body)
        headers["x-road-id"] = xroad_id
        headers["x-road-request-hash"] = signatures.request_hash(signature)
        if target is not None:
            headers["x-road-service"] = str(target.service or target.provider)
        signed = signatures.sign(
            signatures.HttpMessage(headers, status=status),
            self.identity.sign_key,
            self.identity.key_id,
            int(time.time()),
        )
        headers["signature-input"], headers["signature"] = signed.signature_input, signed.signature

        request_entry = self._entry("provider", "request", call, target, request.method, request.raw_path[:2000], body)
        request_entry.xroad_id = xroad_id
        if verified is not None:
            request_entry.key_id, request_entry.signature_base, request_entry.signature = (
                verified.key_id,
                verified.base,
                verified.signature,
            )
        response_entry = self._entry("provider", "response", call, target, None, None, resp_body, status)
        response_entry.xroad_id = xroad_id
        response_entry.error_type = resp_headers.get("x-road-error")
        response_entry.key_id, response_entry.signature_base, response_entry.signature = (
            signed.key_id,
            signed.base,
            signed.signature,
        )
        if call is None:
            request_entry.client = _clip(request.headers.get("x-road-client"))
        await self.log.append(request_entry, response_entry)
        return web.Response(status=status, body=resp_body, headers=headers)

    # shared

    def _key(self, key_id: str) -> ed25519.Ed25519PublicKey | None:
        key = self._keys.get(key_id)
        if key is None:
            config = self.config.config
            pem = config.sign_certs.get(key_id) if config else None
            if pem is None:
                return None
            public = crypto.cert_from_pem(pem).public_key()
            if not isinstance(public, ed25519.Ed25519PublicKey):
                return None
            key = self._keys[key_id] = public
        return key

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_size
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge("request body too large", f"{request.content_length} bytes; the limit is {limit}")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise PayloadTooLarge("request body too large", f"the limit is {limit} bytes") from exc

    def _entry(
        self,
        side: str,
        kind: str,
        call: CallHeaders | None,
        target: Target | None,
        method: str | None,
        path: str | None,
        body: bytes,
        status: int | None = None,
    ) -> Entry:
        entry = Entry(
            side=side,
            kind=kind,
            xroad_id=call.xroad_id if call else "-",
            body_digest=signatures.content_digest(body) if body else EMPTY_DIGEST,
            body_size=len(body),
            body=body if body and len(body) <= self.settings.log_body_limit else None,
            method=method,
            target=path,
            status=status,
        )
        if call is not None:
            entry.client, entry.purpose, entry.data_subject = (
                str(call.client),
                call.purpose,
                call.data_subject,
            )
            entry.user_id, entry.issue, entry.represented_party = (
                call.user_id,
                call.issue,
                call.represented_party,
            )
        if target is not None:
            entry.service = str(target.service) if target.service else f"{target.provider}/{target.metaservice}"
        return entry

    @staticmethod
    def _xroad_response_headers(call: CallHeaders | None, target: Target | None) -> dict[str, str]:
        out: dict[str, str] = {}
        if call is not None:
            out["X-Road-Id"] = out["X-Road-Request-Id"] = call.xroad_id
            out["X-Road-Client"] = str(call.client)
        if target is not None:
            out["X-Road-Service"] = str(target.service or target.provider)
        return out

    def _observe(
        self,
        side: str,
        call: CallHeaders | None,
        target: Target | None,
        status: int,
        started: float,
    ) -> None:
        # Only identifiers the configuration knows become labels: a caller cannot grow the metrics.
        config = self.config.config
        service, client = "-", "-"
        if config is not None:
            if target is not None and target.service is not None and str(target.service) in config.services:
                service = str(target.service)
            if call is not None and str(call.client) in config.subsystems:
                client = str(call.client)
        self.metrics.observe(side, client, service, status, time.perf_counter() - started)

    # operations

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        problems = []
        try:
            self.config.current()
        except EntramadoError as exc:
            problems.append(exc.message)
        try:
            await asyncio.to_thread(self._ping_db)
        except Exception as exc:
            problems.append(f"database: {type(exc).__name__}")
        stamper = self.timestamper
        if stamper.refuse_after_grace and stamper.overdue():
            problems.append("message log untimestamped past the grace period; exchanges are refused")
        config = self.config.config
        body: dict[str, Any] = {
            "ready": not problems,
            "problems": problems,
            "config_version": config.version if config else None,
            "config_expires_at": config.expires_at.isoformat() if config else None,
            "registry_last_error": self.config.last_error,
            "log_head_seq": self.log.head_seq,
            "timestamp": {
                "stamped_through_seq": stamper.stamped_through,
                "backlog_records": stamper.backlog,
                "oldest_unstamped_age_s": round(time.time() - stamper.oldest_unstamped, 1)
                if stamper.oldest_unstamped
                else 0,
                "overdue": stamper.overdue(),
                "last_success": stamper.last_success,
                "last_error": stamper.last_error,
                "policy": "refuse" if stamper.refuse_after_grace else "serve",
            },
        }
        return web.json_response(body, status=200 if not problems else 503)

    def _ping_db(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def metrics_endpoint(self, _: web.Request) -> web.Response:
        self.metrics.log_records.set(self.log.records_written)
        self.metrics.log_commits.set(self.log.commits)
        stamper = self.timestamper
        self.metrics.ts_backlog.set(stamper.backlog)
        self.metrics.ts_batches.set(stamper.batches)
        self.metrics.ts_failures.set(stamper.failures)
        self.metrics.ts_last_success.set(stamper.last_success or 0)
        self.metrics.ts_overdue.set(1 if stamper.overdue() else 0)
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    if resp.content_length is not None and resp.content_length > limit:
        raise ServiceFailed("response too large", f"{resp.content_length} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ServiceFailed("response too large", f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_response(exc: EntramadoError, headers: Mapping[str, str]) -> web.Response:
    out = dict(headers)
    out["X-Road-Error"] = exc.type
    return web.Response(
        status=exc.status,
        body=orjson.dumps(exc.body()),
        content_type="application/json",
        headers=out,
    )


def _counts(request: web.Request) -> dict[str, int]:
    return {name: len(request.headers.getall(name, ())) for name in SINGLE_HEADERS}


def _clip(value: str | None) -> str | None:
    return value[:300] if value is not None else None


def _safe_id(value: str | None) -> str:
    try:
        return read_headers({"x-road-client": "X/X/X/X", "x-road-id": value or ""}, generate_id=False).xroad_id
    except EntramadoError:
        return "-"


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Routing and framework errors become ``{type, message, detail}`` like every other error."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = {
            404: "Client.NotFound",
            405: "Client.MethodNotAllowed",
            413: "Client.PayloadTooLarge",
        }.get(exc.status, "Client.BadRequest")
        body = {"type": kind, "message": exc.reason, "detail": ""}
        return web.Response(
            status=exc.status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={"X-Road-Error": kind},
        )


def consumer_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=gateway.settings.max_body_size, middlewares=[_errors])
    app.router.add_get("/healthz", gateway.healthz)
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_get("/metrics", gateway.metrics_endpoint)
    app.router.add_get("/listClients", gateway.list_clients)
    app.router.add_get("/admin/evidence/{xroad_id}", gateway.evidence)
    app.router.add_route("*", "/r1/{tail:.*}", gateway.consumer)
    return app


def provider_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=gateway.settings.max_body_size, middlewares=[_errors])
    app.router.add_route("*", "/r1/{tail:.*}", gateway.provider)
    return app


def published_openapi(document: bytes, endpoints: tuple[tuple[str, str], ...]) -> bytes:
    """The provider system's OpenAPI document cut to the operations the network publishes for the service: a
    system may describe internal operations (an admin queue) that its gateway will never forward."""
    try:
        data = orjson.loads(document)
        paths = data.get("paths") if isinstance(data, dict) else None
    except orjson.JSONDecodeError:
        return document
    if not isinstance(paths, dict):
        return document
    published: dict[str, set[str]] = {}
    for method, path in endpoints:
        published.setdefault(path, set()).add(method.lower())
    kept = {}
    for path, operations in paths.items():
        allowed = published.get(path)
        if not allowed or not isinstance(operations, dict):
            continue
        kept[path] = {k: v for k, v in operations.items() if k in allowed or k not in _HTTP_METHODS}
    data["paths"] = kept
    return orjson.dumps(data)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
