"""The registry's tables: the network's members, gateways, services, grants and certificates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from entramado.db import Base


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Member(Base):
    __tablename__ = "registry_members"
    __table_args__ = (UniqueConstraint("member_class", "member_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_class: Mapped[str] = mapped_column(String(64))
    member_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Subsystem(Base):
    __tablename__ = "registry_subsystems"
    __table_args__ = (UniqueConstraint("member_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("registry_members.id"))
    code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Registration(Base):
    """A gateway's request to join: its CSRs, pending until the authority approves."""

    __tablename__ = "registry_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("registry_members.id"))
    gateway_code: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(300))
    tls_csr: Mapped[str] = mapped_column(Text)
    sign_csr: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected
    gateway_id: Mapped[int | None] = mapped_column(ForeignKey("registry_gateways.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Gateway(Base):
    __tablename__ = "registry_gateways"
    __table_args__ = (UniqueConstraint("member_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("registry_members.id"))
    code: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(300))
    tls_cert_id: Mapped[int] = mapped_column(ForeignKey("registry_certificates.id"))
    sign_cert_id: Mapped[int] = mapped_column(ForeignKey("registry_certificates.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    __tablename__ = "registry_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    pem: Mapped[str] = mapped_column(Text)
    not_after: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Service(Base):
    __tablename__ = "registry_services"
    __table_args__ = (UniqueConstraint("subsystem_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subsystem_id: Mapped[int] = mapped_column(ForeignKey("registry_subsystems.id"))
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    personal_data: Mapped[list[str]] = mapped_column(JSON, default=list)
    endpoints: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    openapi: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Grant(Base):
    """Default deny: a client subsystem may call a service (or one endpoint) for these purposes."""

    __tablename__ = "registry_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("registry_subsystems.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("registry_services.id", ondelete="CASCADE"))
    method: Mapped[str | None] = mapped_column(String(10))
    path: Mapped[str | None] = mapped_column(String(300))
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConfigurationVersion(Base):
    """Every signed network configuration ever published, newest last."""

    __tablename__ = "registry_configurations"

    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    generated_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class AuditEvent(Base):
    """One row for every change the registry makes: who, what (``scope:resource:action``), when."""

    __tablename__ = "registry_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
