"""Keys, certificates and detached signatures shared by every role.

TLS keys are ECDSA P-256 (widest TLS 1.3 support); message and configuration signing keys are
Ed25519 (RFC 9421 ``ed25519``). Certificates are X.509 from the network CA.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from entramado.errors import BadRequest

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Key usages a certificate is issued for; they go into the certificate as its OU so that a
# verifier can tell a signing certificate from a TLS one.
ROLE_TLS = "tls"
ROLE_SIGN = "sign"
ROLE_CONFIG = "config"
ROLE_TSA = "tsa"


def new_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_signing_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise BadRequest("unsupported key type", f"{path} holds a {type(key).__name__}")
    return key


def load_signing_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = load_private_key(path)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BadRequest("signing key must be Ed25519", str(path))
    return key


def cert_from_pem(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise BadRequest("malformed certificate", str(exc)) from exc


def cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex: the key id used on the wire."""
    return cert.fingerprint(hashes.SHA256()).hex()


def make_csr(key: PrivateKey, common_name: str, role: str) -> x509.CertificateSigningRequest:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        ]
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, algorithm)


def csr_to_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def csr_from_pem(pem: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise BadRequest("malformed certificate signing request", str(exc)) from exc
    if not csr.is_signature_valid:
        raise BadRequest("certificate signing request has a bad signature")
    return csr


def cert_role(cert: x509.Certificate) -> str:
    return cert_role_from_name(cert.subject)


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


@dataclass(frozen=True)
class CertificateAuthority:
    """The network CA: a self-signed root that issues every certificate in the instance."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, instance: str, years: int = 20) -> CertificateAuthority:
        key = new_tls_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"{instance} network CA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, instance),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, csr: x509.CertificateSigningRequest, role: str, days: int = 730) -> x509.Certificate:
        """Issue a certificate for ``csr`` with the usages of ``role``."""
        if cert_role_from_name(csr.subject) != role:
            raise BadRequest("CSR role mismatch", f"the CSR's OU must be {role!r}")
        public_key = csr.public_key()
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if role == ROLE_TLS:
            usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        elif role == ROLE_TSA:
            usage = [ExtendedKeyUsageOID.TIME_STAMPING]
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=True)
        return builder.sign(self.key, hashes.SHA256())


def cert_role_from_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return str(values[0].value) if values else ""


def verify_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """True if ``cert`` was issued by ``ca_cert`` and is valid now."""
    if not verify_issued_by_at_any_time(cert, ca_cert):
        return False
    now = _now()
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def verify_issued_by_at_any_time(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """True if ``cert`` was issued by ``ca_cert``, expired or not: old evidence stays checkable."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise BadRequest("malformed base64", str(exc)[:200]) from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
