"""Fetches, verifies and caches the signed network configuration.

The gateway keeps serving from its last verified configuration while the registry is down and
stops (``ConfigurationExpired``) only when that configuration expires.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from pathlib import Path

import aiohttp
from cryptography import x509
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from entramado.errors import ConfigurationExpired
from entramado.evidence.models import KnownCertificate
from entramado.registry.config import ConfigError, NetworkConfig, open_config

log = logging.getLogger("entramado.gateway.config")


class ConfigClient:
    def __init__(
        self,
        registry_url: str,
        anchor: x509.Certificate,
        cache: Path,
        engine: Engine,
        instance: str,
    ) -> None:
        self._url = registry_url.rstrip("/") + "/api/v1/configuration"
        self._anchor = anchor
        self._cache = cache
        self._engine = engine
        self._instance = instance
        self.config: NetworkConfig | None = None
        self.last_success: float | None = None
        self.last_error: str | None = None
        self._load_cache()

    def _load_cache(self) -> None:
        if not self._cache.exists():
            return
        try:
            self._accept(self._cache.read_bytes(), persist=False)
        except ConfigError as exc:
            log.warning("cached configuration rejected", extra={"error": str(exc)})

    def _accept(self, envelope: bytes, persist: bool) -> bool:
        config = open_config(envelope, self._anchor)
        if config.instance != self._instance:
            raise ConfigError(f"configuration is for instance {config.instance}, not {self._instance}")
        if self.config is not None and config.version <= self.config.version:
            if config.version == self.config.version and config.expires_at == self.config.expires_at:
                return False  # the same configuration again
            # An older (or altered same-version) envelope could only shorten our validity: ignore it.
            raise ConfigError(f"configuration version {config.version} is not newer than {self.config.version}")
        self.config = config
        if persist:
            tmp = self._cache.with_suffix(".tmp")
            tmp.write_bytes(envelope)
            os.replace(tmp, self._cache)
        self._remember_certificates(config)
        return True

    def _remember_certificates(self, config: NetworkConfig) -> None:
        """Keep every signing certificate ever trusted, so old log records stay verifiable."""
        now = dt.datetime.now(dt.UTC)
        with self._engine.begin() as conn:
            known = set(conn.scalars(select(KnownCertificate.fingerprint)))
            new = [
                {"fingerprint": fp, "pem": pem, "first_seen": now}
                for fp, pem in config.sign_certs.items()
                if fp not in known
            ]
            if new:
                conn.execute(insert(KnownCertificate), new)

    def current(self) -> NetworkConfig:
        """The configuration to use now, or ``ConfigurationExpired``."""
        config = self.config
        if config is None:
            raise ConfigurationExpired("no network configuration yet", "the gateway has not reached the registry")
        if config.expired():
            raise ConfigurationExpired(
                "network configuration expired",
                f"version {config.version} expired at {config.expires_at.isoformat()}; the registry is unreachable",
            )
        return config

    async def refresh(self, session: aiohttp.ClientSession) -> bool:
        """Fetch once; returns True when a new version was accepted."""
        try:
            async with session.get(self._url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status != 200:
                    raise ConfigError(f"registry answered {resp.status}")
                envelope = await resp.read()
            changed = await asyncio.to_thread(self._accept, envelope, True)
        except (aiohttp.ClientError, TimeoutError, ConfigError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("configuration refresh failed", extra={"error": self.last_error})
            return False
        self.last_success, self.last_error = time.time(), None
        return changed

    async def poll(self, session: aiohttp.ClientSession, interval: float) -> None:
        while True:
            await self.refresh(session)
            await asyncio.sleep(interval)
