"""The registry's wire types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class _In(BaseModel):
    model_config = {"extra": "forbid"}


class MemberIn(_In):
    id: str = Field(description="INSTANCE/CLASS/MEMBER", max_length=200)
    name: str = Field(min_length=1, max_length=300)


class SubsystemIn(_In):
    id: str = Field(description="INSTANCE/CLASS/MEMBER/SUBSYSTEM", max_length=260)


class RegistrationIn(_In):
    member: str = Field(max_length=200)
    gateway_code: str = Field(max_length=64)
    address: str = Field(max_length=300)
    tls_csr: str = Field(max_length=10_000)
    sign_csr: str = Field(max_length=10_000)


class ServiceIn(_In):
    id: str = Field(description="INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE", max_length=330)
    openapi: dict[str, Any]
    personal_data: list[str] = Field(default_factory=list, max_length=50)
    version: str | None = Field(None, max_length=64)


class GrantIn(_In):
    client: str = Field(max_length=260)
    service: str = Field(max_length=330)
    purposes: list[str] = Field(default_factory=list, max_length=50)
    method: str | None = Field(None, max_length=10)
    path: str | None = Field(None, max_length=300)


class RevokeIn(_In):
    reason: str = Field("unspecified", max_length=300)
