"""One validated settings object per role, built by a factory from a data folder and the
environment (``ENTRAMADO_REGISTRY_*``, ``ENTRAMADO_GATEWAY_*``). Nothing reads them at import."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, HttpUrl, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from entramado.db import sqlite_url
from entramado.ids import MemberId, SubsystemId

S = TypeVar("S", bound=BaseSettings)


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENTRAMADO_REGISTRY_", extra="forbid")

    data_dir: Path
    instance: str = "UY-DEMO"
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    config_validity: int = Field(3600, ge=10, description="seconds a signed configuration stays valid")
    config_refresh: int = Field(600, ge=1, description="seconds between re-signing an unchanged configuration")
    log_level: str = "INFO"

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "registry.db")


class LocalService(BaseModel):
    """A service of this gateway's member: where its system listens."""

    model_config = {"extra": "forbid"}

    base_url: HttpUrl
    openapi_path: str = "/openapi.json"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENTRAMADO_GATEWAY_", extra="forbid")

    data_dir: Path
    member: str
    code: str = "gw"
    address: str = Field(description="https://host:port where peer gateways reach this one")
    registry_url: str
    database_url: str = ""
    consumer_host: str = "127.0.0.1"
    consumer_port: int = Field(8000, ge=0, le=65535)
    provider_host: str = "127.0.0.1"
    provider_port: int = Field(8443, ge=0, le=65535)
    registration_id: int | None = None
    services: dict[str, LocalService] = Field(default_factory=dict)
    poll_interval: float = Field(30.0, gt=0)
    max_body_size: int = Field(10 * 1024 * 1024, gt=0)
    log_body_limit: int = Field(64 * 1024, ge=0, description="bodies up to this size are logged; 0 = metadata only")
    connect_timeout: float = Field(5.0, gt=0)
    peer_timeout: float = Field(60.0, gt=0)
    service_timeout: float = Field(30.0, gt=0)
    replay_window: int = Field(300, ge=1)
    timestamping: bool = Field(True, description="timestamp the message log in Merkle batches")
    tsa_url: str = Field("", description="RFC 3161 time-stamping authority; default: the registry's")
    tsa_ca_file: str = Field("", description="CA of an external TSA; default: the instance's trust anchor")
    timestamp_interval: float = Field(1.0, gt=0, description="seconds between Merkle batches")
    timestamp_max_batch: int = Field(10_000, ge=1, le=1_000_000)
    timestamp_grace: float = Field(600.0, ge=0, description="seconds records may wait for a timestamp")
    timestamp_failure: Literal["serve", "refuse"] = "serve"
    archive_interval: float = Field(0.0, ge=0, description="seconds between scheduled archive runs; 0 = off")
    archive_dir: str = Field("", description="default: DATA_DIR/archives")
    archive_retention_days: float = Field(30.0, ge=0, description="archived records stay this long in the database")
    archive_max_records: int = Field(1_000_000, ge=1)
    log_level: str = "INFO"

    @field_validator("member")
    @classmethod
    def _member(cls, value: str) -> str:
        MemberId.parse(value)
        return value

    @property
    def member_id(self) -> MemberId:
        return MemberId.parse(self.member)

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "gateway.db")

    @property
    def chain(self) -> str:
        return f"{self.member}/{self.code}"

    @property
    def archive_path(self) -> Path:
        return Path(self.archive_dir) if self.archive_dir else self.data_dir / "archives"

    @property
    def effective_tsa_url(self) -> str:
        return self.tsa_url or self.registry_url.rstrip("/") + "/api/v1/timestamp"


class IdentitySettings(BaseSettings):
    """The person index: its database, thresholds, linkage backend and where its API listens."""

    model_config = SettingsConfigDict(env_prefix="ENTRAMADO_IDENTITY_", extra="forbid")

    data_dir: Path
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(8110, ge=0, le=65535)
    backend: Literal["duckdb", "spark"] = "duckdb"
    match_weight: float = Field(8.0, description="links at or above this match weight join records")
    review_weight: float = Field(0.0, description="pairs from here up to match_weight go to review")
    household_rules: bool = Field(
        True,
        description="keep apart records that disagree on given name, birth date or sex (household members, twins); "
        "switch off only for a register known to hold no households",
    )
    admin_token: str = Field("", description="bearer token for the review and subscription API; empty: generated")
    gateway_url: str = Field("", description="consumer URL of the index's gateway; empty: notifications stay queued")
    client: str = Field("", description="the index's subsystem on the network (X-Road-Client of notifications)")
    notify_purpose: str = "notificacion-cambio"
    notify_interval: float = Field(1.0, gt=0, description="seconds between delivery passes when nothing is due")
    log_level: str = "INFO"

    @field_validator("client")
    @classmethod
    def _client(cls, value: str) -> str:
        if value:
            SubsystemId.parse(value)
        return value

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "identity.db")


def _from_folder(kind: type[S], data_dir: Path, file_name: str, overrides: dict[str, Any]) -> S:
    values: dict[str, Any] = {}
    path = data_dir / file_name
    if path.exists():
        values = tomllib.loads(path.read_text())
    values.update(overrides)
    values["data_dir"] = data_dir
    return kind(**values)


def gateway_settings(data_dir: Path, **overrides: Any) -> GatewaySettings:
    """Settings from ``overrides`` and ``DATA_DIR/gateway.toml``; the environment fills the rest."""
    return _from_folder(GatewaySettings, data_dir, "gateway.toml", overrides)


def identity_settings(data_dir: Path, **overrides: Any) -> IdentitySettings:
    """Settings from ``overrides`` and ``DATA_DIR/identity.toml``; the environment fills the rest."""
    return _from_folder(IdentitySettings, data_dir, "identity.toml", overrides)


def registry_settings(data_dir: Path, **overrides: Any) -> RegistrySettings:
    """Settings from ``overrides`` and ``DATA_DIR/registry.toml``; the environment fills the rest."""
    return _from_folder(RegistrySettings, data_dir, "registry.toml", overrides)
