"""The signed network configuration: its format, signing and verification (sans I/O).

The registry publishes a JSON document (``format: entramado-config/1``) inside an envelope
``{"payload": base64(JSON), "signature": base64(Ed25519), "signer": PEM}``. A gateway trusts it
when the signer's certificate was issued by the instance's CA (the trust anchor) for the role
``config`` and the signature verifies; it uses it only until ``expires_at``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from entramado import crypto

FORMAT = "entramado-config/1"


class ConfigError(Exception):
    """The configuration envelope is malformed, untrusted or badly signed."""


def sign_config(document: dict[str, Any], key: ed25519.Ed25519PrivateKey, signer: x509.Certificate) -> bytes:
    payload = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    envelope = {
        "payload": crypto.b64(payload),
        "signature": crypto.b64(key.sign(payload)),
        "signer": crypto.cert_to_pem(signer),
    }
    return orjson.dumps(envelope)


def open_config(envelope: bytes, anchor: x509.Certificate) -> NetworkConfig:
    """Verify ``envelope`` against the CA certificate ``anchor`` and parse it.

    Raises:
        ConfigError: when the envelope is malformed, the signer untrusted or the signature bad.
    """
    try:
        outer = orjson.loads(envelope)
        payload = crypto.unb64(outer["payload"])
        signature = crypto.unb64(outer["signature"])
        signer = crypto.cert_from_pem(outer["signer"])
    except Exception as exc:
        raise ConfigError(f"malformed configuration envelope: {exc}") from exc
    if not crypto.verify_issued_by(signer, anchor) or crypto.cert_role(signer) != crypto.ROLE_CONFIG:
        raise ConfigError("configuration signer is not certified by the trust anchor for role config")
    public_key = signer.public_key()
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise ConfigError("configuration signer key is not Ed25519")
    try:
        public_key.verify(signature, payload)
    except InvalidSignature as exc:
        raise ConfigError("configuration signature does not verify") from exc
    document = orjson.loads(payload)
    if document.get("format") != FORMAT:
        raise ConfigError(f"unknown configuration format {document.get('format')!r}")
    return NetworkConfig(document)


@dataclass(frozen=True, slots=True)
class GatewayEntry:
    member: str
    code: str
    address: str
    tls_fingerprint: str
    sign_key_id: str
    sign_cert: str


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    id: str
    version: str
    title: str
    personal_data: tuple[str, ...]
    endpoints: tuple[tuple[str, str], ...]
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(default=(), compare=False)

    def declares(self, method: str, path: str) -> bool:
        """True if the service's published OpenAPI declares this operation."""
        return any(m == method and pattern.fullmatch(path) for m, pattern in self.patterns)


@dataclass(frozen=True, slots=True)
class GrantEntry:
    client: str
    service: str
    method: str | None
    path: str | None
    purposes: tuple[str, ...]
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    def allows(self, method: str, path: str, purpose: str | None) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.pattern is not None and not self.pattern.fullmatch(path):
            return False
        return not self.purposes or purpose in self.purposes


def path_pattern(template: str) -> re.Pattern[str]:
    """Compile an endpoint path: ``{name}`` matches one segment, a final ``/**`` any rest."""
    rest = template.endswith("/**")
    core = template[:-3] if rest else template
    regex = ""
    for part in re.split(r"(\{[^/{}]+\})", core):
        regex += "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)
    if rest:
        regex += "(?:/.*)?"
    return re.compile(regex)


class NetworkConfig:
    """A verified configuration with the indexes a gateway needs on its hot path."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.instance: str = document["instance"]
        self.version: int = document["version"]
        self.expires_at = dt.datetime.fromisoformat(document["expires_at"])
        self.generated_at = dt.datetime.fromisoformat(document["generated_at"])

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or dt.datetime.now(dt.UTC)) >= self.expires_at

    @cached_property
    def revoked_fingerprints(self) -> frozenset[str]:
        return frozenset(r["fingerprint"] for r in self.document.get("revoked", []))

    @cached_property
    def gateways(self) -> tuple[GatewayEntry, ...]:
        return tuple(
            GatewayEntry(
                g["member"],
                g["code"],
                g["address"],
                g["tls_fingerprint"],
                g["sign_key_id"],
                g["sign_cert"],
            )
            for g in self.document.get("gateways", [])
            if g["tls_fingerprint"] not in self.revoked_fingerprints
            and g["sign_key_id"] not in self.revoked_fingerprints
        )

    @cached_property
    def gateway_by_tls(self) -> dict[str, GatewayEntry]:
        return {g.tls_fingerprint: g for g in self.gateways}

    @cached_property
    def gateway_by_key(self) -> dict[str, GatewayEntry]:
        return {g.sign_key_id: g for g in self.gateways}

    def gateways_of(self, member: str) -> list[GatewayEntry]:
        return [g for g in self.gateways if g.member == member]

    @cached_property
    def members(self) -> dict[str, dict[str, Any]]:
        return {m["id"]: m for m in self.document.get("members", [])}

    @cached_property
    def subsystems(self) -> frozenset[str]:
        return frozenset(f"{m['id']}/{s}" for m in self.document.get("members", []) for s in m["subsystems"])

    @cached_property
    def services(self) -> dict[str, ServiceEntry]:
        return {
            s["id"]: ServiceEntry(
                s["id"],
                s["version"],
                s.get("title", ""),
                tuple(s.get("personal_data", [])),
                tuple((e["method"], e["path"]) for e in s.get("endpoints", [])),
                tuple((e["method"], path_pattern(e["path"])) for e in s.get("endpoints", [])),
            )
            for s in self.document.get("services", [])
        }

    @cached_property
    def grants(self) -> dict[tuple[str, str], tuple[GrantEntry, ...]]:
        index: dict[tuple[str, str], list[GrantEntry]] = {}
        for g in self.document.get("grants", []):
            entry = GrantEntry(
                g["client"],
                g["service"],
                g.get("method"),
                g.get("path"),
                tuple(g.get("purposes", [])),
                path_pattern(g["path"]) if g.get("path") else None,
            )
            index.setdefault((entry.client, entry.service), []).append(entry)
        return {key: tuple(value) for key, value in index.items()}

    def allowed(self, client: str, service: str, method: str, path: str, purpose: str | None) -> bool:
        """Default deny: True only if some grant covers this client, endpoint and purpose."""
        return any(g.allows(method, path, purpose) for g in self.grants.get((client, service), ()))

    def allowed_services(self, client: str) -> list[str]:
        return sorted({service for (c, service) in self.grants if c == client})

    @cached_property
    def sign_certs(self) -> dict[str, str]:
        return {g.sign_key_id: g.sign_cert for g in self.gateways}
