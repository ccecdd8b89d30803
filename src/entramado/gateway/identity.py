"""A gateway's keys and certificates in its data folder, and the TLS contexts built from them."""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from entramado import crypto
from entramado.errors import NotFound


@dataclass(frozen=True)
class GatewayFiles:
    """Where a gateway keeps its keys, certificates, trust anchor and cached configuration."""

    data_dir: Path

    tls_key = property(lambda self: self.data_dir / "tls.key")
    tls_csr = property(lambda self: self.data_dir / "tls.csr")
    tls_cert = property(lambda self: self.data_dir / "tls.pem")
    sign_key = property(lambda self: self.data_dir / "sign.key")
    sign_csr = property(lambda self: self.data_dir / "sign.csr")
    sign_cert = property(lambda self: self.data_dir / "sign.pem")
    anchor = property(lambda self: self.data_dir / "anchor.pem")
    config_cache = property(lambda self: self.data_dir / "configuration.json")
    admin_token = property(lambda self: self.data_dir / "admin-token")
    settings = property(lambda self: self.data_dir / "gateway.toml")


def admin_token(files: GatewayFiles) -> str:
    """The member administrators' token for this gateway's admin API, created on first use."""
    if not files.admin_token.exists():
        crypto.write_private(files.admin_token, secrets.token_urlsafe(32).encode())
    return str(files.admin_token.read_text().strip())


def create_keys(files: GatewayFiles, member: str, code: str) -> None:
    """Generate the TLS and signing keys and their CSRs (CN = MEMBER/GATEWAY)."""
    common_name = f"{member}/{code}"
    tls_key, sign_key = crypto.new_tls_key(), crypto.new_signing_key()
    crypto.write_private(files.tls_key, crypto.key_to_pem(tls_key))
    crypto.write_private(files.sign_key, crypto.key_to_pem(sign_key))
    files.tls_csr.write_text(crypto.csr_to_pem(crypto.make_csr(tls_key, common_name, crypto.ROLE_TLS)))
    files.sign_csr.write_text(crypto.csr_to_pem(crypto.make_csr(sign_key, common_name, crypto.ROLE_SIGN)))


class GatewayIdentity:
    """The gateway's certified keys; loading fails clearly when the authority has not approved."""

    def __init__(self, files: GatewayFiles) -> None:
        for path in (files.tls_cert, files.sign_cert, files.anchor):
            if not path.exists():
                raise NotFound(
                    "gateway is not certified yet",
                    f"{path} is missing: register with the registry and wait for approval",
                )
        self.files = files
        self.anchor = crypto.cert_from_pem(files.anchor.read_bytes())
        self.tls_cert = crypto.cert_from_pem(files.tls_cert.read_bytes())
        self.sign_cert = crypto.cert_from_pem(files.sign_cert.read_bytes())
        self.sign_key: ed25519.Ed25519PrivateKey = crypto.load_signing_key(files.sign_key)
        self.key_id = crypto.fingerprint(self.sign_cert)
        self.tls_fingerprint = crypto.fingerprint(self.tls_cert)

    @cached_property
    def server_context(self) -> ssl.SSLContext:
        """TLS 1.3, client certificate required and issued by the network CA."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.files.anchor))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_cert_chain(self.files.tls_cert, self.files.tls_key)
        return ctx

    @cached_property
    def client_context(self) -> ssl.SSLContext:
        """TLS 1.3 to peers; the peer is identified by its pinned certificate, not a host name."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.files.anchor))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_cert_chain(self.files.tls_cert, self.files.tls_key)
        return ctx
