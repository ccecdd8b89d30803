"""Assemble a gateway from its settings and run both sides until stopped."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path

import aiohttp
from aiohttp import web

from entramado import crypto
from entramado.db import connect
from entramado.errors import Conflict, NotFound
from entramado.evidence.chain import MessageLog
from entramado.evidence.timestamper import Timestamper
from entramado.gateway.confclient import ConfigClient
from entramado.gateway.identity import GatewayFiles, GatewayIdentity
from entramado.gateway.server import Gateway, consumer_app, provider_app
from entramado.settings import GatewaySettings

log = logging.getLogger("entramado.gateway")


def build_gateway(settings: GatewaySettings) -> Gateway:
    """Everything a gateway node needs, without starting anything."""
    files = GatewayFiles(settings.data_dir)
    identity = GatewayIdentity(files)
    engine = connect(settings.db_url)
    config = ConfigClient(
        settings.registry_url,
        identity.anchor,
        files.config_cache,
        engine,
        settings.member_id.instance,
    )
    message_log = MessageLog(engine, settings.chain, settings.log_body_limit)
    tsa_anchor = (
        crypto.cert_from_pem(Path(settings.tsa_ca_file).read_bytes()) if settings.tsa_ca_file else identity.anchor
    )
    timestamper = Timestamper(
        engine,
        settings.chain,
        settings.effective_tsa_url,
        tsa_anchor,
        interval=settings.timestamp_interval,
        max_batch=settings.timestamp_max_batch,
        grace=settings.timestamp_grace,
        refuse_after_grace=settings.timestamp_failure == "refuse",
    )
    return Gateway(settings, engine, identity, config, message_log, timestamper)


async def fetch_certificates(settings: GatewaySettings) -> bool:
    """Collect the certificates the authority issued for this gateway's registration."""
    if settings.registration_id is None:
        raise NotFound("gateway not registered", "run `entramado gateway register` first")
    files = GatewayFiles(settings.data_dir)
    url = f"{settings.registry_url.rstrip('/')}/api/v1/registrations/{settings.registration_id}"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        if resp.status != 200:
            raise NotFound("registration not found", f"{url} answered {resp.status}")
        body = await resp.json()
    if body["status"] != "approved":
        return False
    anchor = crypto.cert_from_pem(body["ca_cert"])
    if files.anchor.exists() and files.anchor.read_bytes().strip() != body["ca_cert"].encode().strip():
        raise Conflict("trust anchor mismatch", f"the registry's CA differs from {files.anchor}")
    for name, path in (("tls_cert", files.tls_cert), ("sign_cert", files.sign_cert)):
        cert = crypto.cert_from_pem(body[name])
        if not crypto.verify_issued_by(cert, anchor):
            raise Conflict("certificate not issued by the trust anchor", name)
        path.write_text(body[name])
    files.anchor.write_text(body["ca_cert"])
    return True


async def serve(settings: GatewaySettings, ready: asyncio.Event | None = None) -> None:
    """Run the consumer and provider sides until SIGINT/SIGTERM."""
    gateway = build_gateway(settings)
    await gateway.start()
    consumer = web.AppRunner(consumer_app(gateway), access_log=None, handle_signals=False)
    provider = web.AppRunner(provider_app(gateway), access_log=None, handle_signals=False)
    await consumer.setup()
    await provider.setup()
    await web.TCPSite(consumer, settings.consumer_host, settings.consumer_port, backlog=1024).start()
    await web.TCPSite(
        provider,
        settings.provider_host,
        settings.provider_port,
        ssl_context=gateway.identity.server_context,
        backlog=1024,
    ).start()
    log.info(
        "gateway serving",
        extra={
            "member": settings.member,
            "consumer_port": settings.consumer_port,
            "provider_port": settings.provider_port,
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Everything allocated so far lives as long as the process: keep the collector off it.
    gc.collect()
    gc.freeze()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await consumer.cleanup()
        await provider.cleanup()
        await gateway.stop()
        gateway.engine.dispose()


def run(settings: GatewaySettings) -> None:
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:
        asyncio.run(serve(settings))
