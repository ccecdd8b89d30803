"""RFC 3161 time-stamping: the authority's responder and the verifier, over DER bytes (sans I/O).

The responder signs with an ECDSA P-256 key whose certificate the network CA issued with a
critical extended key usage of timeStamping only. Tokens carry the TSA certificate and the
signingCertificateV2 attribute, so that `openssl ts -verify` and any RFC 3161 verifier accept
them with the CA certificate alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from entramado import crypto

# Entramado's TSA policy (a private arc; publish your own in production).
POLICY = "1.3.6.1.4.1.59999.1.3161.1"


class TimestampError(Exception):
    """A request, response or token that is malformed, refused or does not verify."""


def request(digest: bytes, nonce: int | None = None) -> bytes:
    """A DER TimeStampReq for a SHA-256 ``digest``, asking for the TSA certificate."""
    if len(digest) != 32:
        raise TimestampError("the message imprint must be a SHA-256 digest")
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
            "nonce": nonce if nonce is not None else secrets.randbits(63),
            "cert_req": True,
        }
    )
    return bytes(req.dump())


@dataclass(frozen=True)
class Authority:
    """A time-stamping authority: its key and its certificate from the network CA."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def respond(self, request_der: bytes, now: dt.datetime | None = None) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp (granted or rejected)."""
        try:
            req = tsp.TimeStampReq.load(request_der)
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = req["nonce"].native
        except (ValueError, TypeError, KeyError) as exc:
            return _rejection("bad_data_format", f"malformed TimeStampReq: {exc}")
        if algorithm != "sha256" or not isinstance(digest, bytes) or len(digest) != 32:
            return _rejection("bad_alg", "only SHA-256 message imprints are accepted")
        gen_time = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        info = {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
            "serial_number": secrets.randbits(127),
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        token = self._sign(tst_info)
        return bytes(tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump())

    def _sign(self, tst_info: tsp.TSTInfo) -> cms.ContentInfo:
        cert_der = self.cert.public_bytes(serialization.Encoding.DER)
        cert = asn1_x509.Certificate.load(cert_der)
        signed_attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_info.dump()).digest()]}),
                cms.CMSAttribute(
                    {
                        "type": "signing_certificate_v2",
                        "values": [
                            {
                                "certs": [
                                    {
                                        "hash_algorithm": {"algorithm": "sha256"},
                                        "cert_hash": hashlib.sha256(cert_der).digest(),
                                    }
                                ]
                            }
                        ],
                    }
                ),
            ]
        )
        # The signature is over the DER of the attributes as a SET (tag 0x31), not as [0].
        signature = self.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": cert.issuer,
                            "serial_number": cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {"content_type": "tst_info", "content": tst_info},
                "certificates": [cert],
                "signer_infos": [signer],
            }
        )
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text[:200]], "fail_info": {failure}})
    # TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }: built by
    # hand because asn1crypto insists on the token.
    return bytes(core.Sequence.load(_der_sequence(bytes(status.dump()))).dump())


def _der_sequence(content: bytes) -> bytes:
    size = len(content)
    length = (
        bytes([size])
        if size < 0x80
        else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    )
    return b"\x30" + length + content


@dataclass(frozen=True)
class Verified:
    gen_time: dt.datetime
    serial: int
    tsa_cert: x509.Certificate


def token_from_response(response_der: bytes) -> bytes:
    """The DER token (ContentInfo) inside a granted TimeStampResp."""
    try:
        outer = core.Sequence.load(response_der)
        status = tsp.PKIStatusInfo.load(outer[0].dump())
        state = status["status"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"malformed TimeStampResp: {exc}") from exc
    if state not in ("granted", "granted_with_mods"):
        text = status["status_string"].native if status["status_string"] else []
        raise TimestampError(f"time-stamp refused: {state} {text}")
    try:
        return bytes(cms.ContentInfo.load(outer[1].dump()).dump())
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"granted response without a token: {exc}") from exc


def token_nonce(token_der: bytes) -> int | None:
    """The nonce inside a token's TSTInfo, if any."""
    try:
        tst = cms.ContentInfo.load(token_der)["content"]["encap_content_info"]["content"].parsed
        nonce = tst["nonce"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(f"malformed token: {exc}") from exc
    return int(nonce) if nonce is not None else None


def verify_token(token_der: bytes, digest: bytes, anchor: x509.Certificate) -> Verified:
    """Verify an RFC 3161 token over ``digest`` against the trust anchor (see ``_verify_token``);
    malformed input of any shape is reported as a ``TimestampError``, never a crash."""
    try:
        return _verify_token(token_der, digest, anchor)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise TimestampError(f"malformed token: {type(exc).__name__}: {exc}"[:300]) from exc


def _verify_token(token_der: bytes, digest: bytes, anchor: x509.Certificate) -> Verified:
    """Verify an RFC 3161 token over ``digest`` against the trust anchor, with no network.

    Checks the message imprint, the CMS signature over the signed attributes, the
    message-digest attribute over TSTInfo, that the signing certificate is the one named by
    signingCertificateV2, that it was issued by ``anchor`` and is valid at the token's time, and
    that its only extended key usage is a critical timeStamping.

    Raises:
        TimestampError: naming the first check that fails.
    """
    try:
        info = cms.ContentInfo.load(token_der, strict=True)  # no trailing bytes
        signed = info["content"]
        tst_der = signed["encap_content_info"]["content"].parsed.dump()
        tst = tsp.TSTInfo.load(tst_der)
        signer = signed["signer_infos"][0]
        certificates = [c.chosen.dump() for c in signed["certificates"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(f"malformed token: {exc}") from exc
    imprint = tst["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
        raise TimestampError("token does not cover this digest")
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    if attrs.get("message_digest") is None or attrs["message_digest"].native != hashlib.sha256(tst_der).digest():
        raise TimestampError("message-digest attribute does not match TSTInfo")
    wanted = attrs.get("signing_certificate_v2")
    if wanted is None:
        raise TimestampError("signingCertificateV2 attribute missing")
    wanted_hash = wanted["certs"][0]["cert_hash"].native
    cert_der = next((c for c in certificates if hashlib.sha256(c).digest() == wanted_hash), None)
    if cert_der is None:
        raise TimestampError("the token does not carry the certificate it names")
    cert = x509.load_der_x509_certificate(cert_der)
    public_key = cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TimestampError("unsupported TSA key type")
    try:
        public_key.verify(signer["signature"].native, signer["signed_attrs"].untag().dump(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise TimestampError("token signature does not verify") from exc
    gen_time = tst["gen_time"].native
    try:
        cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise TimestampError("TSA certificate not issued by the trust anchor") from exc
    if not cert.not_valid_before_utc <= gen_time <= cert.not_valid_after_utc:
        raise TimestampError("token time outside the TSA certificate's validity")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise TimestampError("TSA certificate has no extended key usage") from exc
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError("TSA certificate is not for time-stamping only")
    return Verified(gen_time, int(tst["serial_number"].native), cert)


def new_authority(ca: crypto.CertificateAuthority, instance: str) -> tuple[Authority, bytes]:
    """A fresh TSA key and certificate; returns the authority and its key's PEM."""
    key = crypto.new_tls_key()
    csr = crypto.make_csr(key, f"{instance} time-stamping authority", crypto.ROLE_TSA)
    return Authority(key, ca.issue(csr, crypto.ROLE_TSA)), crypto.key_to_pem(key)
