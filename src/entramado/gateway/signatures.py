"""RFC 9421 HTTP Message Signatures and RFC 9530 Content-Digest, sans I/O.

Pure functions over method, path, status and header dictionaries. The gateway signs every
request and response it sends to a peer gateway under the label ``xrd`` with ``alg="ed25519"``
and verifies what it receives; ``docs/protocol.md`` fixes which components are covered.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList

LABEL = "xrd"
ALG = "ed25519"

REQUEST_COMPONENTS = ("@method", "@path", "@query", "content-digest", "x-road-client", "x-road-id")
# Present in a message, these MUST be covered: they decide authorisation or go to the log.
REQUEST_OPTIONAL = (
    "entramado-purpose",
    "entramado-data-subject",
    "x-road-userid",
    "x-road-issue",
    "x-road-represented-party",
)
RESPONSE_COMPONENTS = ("@status", "content-digest", "x-road-id", "x-road-request-hash")
RESPONSE_OPTIONAL = ("x-road-service", "x-road-error")
# Representation headers are signed when the sender has them, and a receiver passes one on only
# if the signature covers it (HTTP clients add Accept and the like on their own).
REQUEST_PASSED_ON = ("content-type", "accept", "accept-language", "content-language")
RESPONSE_PASSED_ON = ("content-type", "content-language")


class SignatureError(Exception):
    """The signature is missing, malformed, stale, made with an unknown key or does not verify."""


@dataclass(frozen=True, slots=True)
class Signed:
    signature_input: str
    signature: str
    base: str
    key_id: str
    created: int
    components: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpMessage:
    """What a signature can cover: a request (method, path, query) or a response (status)."""

    headers: Mapping[str, str]  # lower-case names
    method: str = ""
    path: str = ""
    query: str = ""  # without the leading "?"
    status: int = 0


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` value with SHA-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def request_hash(signature_header: str) -> str:
    """``X-Road-Request-Hash``: SHA-256 of the request's ``Signature`` field value.

    The signature covers the request's method, target, digest and X-Road headers, so binding the
    response to it binds the response to the whole request.
    """
    return "sha-256=:" + base64.b64encode(hashlib.sha256(signature_header.encode()).digest()).decode() + ":"


def _component_value(name: str, message: HttpMessage) -> str:
    if name == "@method":
        return message.method
    if name == "@path":
        return message.path or "/"
    if name == "@query":
        return "?" + message.query
    if name == "@status":
        return str(message.status)
    if name.startswith("@"):
        raise SignatureError(f"unsupported derived component {name}")
    value = message.headers.get(name)
    if value is None:
        raise SignatureError(f"covered header {name} is missing")
    return value.strip()


def _base(components: Sequence[str], params: str, message: HttpMessage) -> str:
    lines = [f'"{name}": {_component_value(name, message)}' for name in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines)


def _params(components: Sequence[str], created: int, key_id: str) -> str:
    """Serialise the signature parameters (RFC 8941 inner list). Component names are lower-case
    tokens and key ids hex, so plain formatting yields the canonical serialisation."""
    names = " ".join(f'"{name}"' for name in components)
    return f'({names});created={created};keyid="{key_id}";alg="{ALG}"'


# The exact shape our own gateways emit; anything else goes through the general RFC 8941 parser.
_FAST_INPUT = re.compile(
    r'xrd=(\(((?:"[a-z0-9@_.-]+")(?: "[a-z0-9@_.-]+")*)?\);created=(\d{1,12});keyid="([0-9a-f]{1,128})";alg="ed25519")'
)
_FAST_SIGNATURE = re.compile(r"xrd=:([A-Za-z0-9+/]+={0,2}):")


@dataclass(frozen=True, slots=True)
class _Input:
    params: str  # the serialised inner list, as it appears in the signature base
    components: list[str]
    created: object
    key_id: object
    alg: object


def _parse_input(raw: str) -> _Input:
    fast = _FAST_INPUT.fullmatch(raw)
    if fast:
        names = fast.group(2)
        components = [n[1:-1] for n in names.split(" ")] if names else []
        return _Input(fast.group(1), components, int(fast.group(3)), fast.group(4), ALG)
    inputs = Dictionary()
    try:
        inputs.parse(raw.encode())
    except ValueError as exc:
        raise SignatureError(f"malformed Signature-Input: {exc}") from exc
    if LABEL not in inputs:
        raise SignatureError(f"no signature labelled {LABEL!r}")
    inner = inputs[LABEL]
    if not isinstance(inner, InnerList):
        raise SignatureError("Signature-Input member is not an inner list")
    components = [item.value for item in inner]
    if not all(isinstance(name, str) for name in components):
        raise SignatureError("covered components must be strings")
    if any(item.params for item in inner):
        raise SignatureError("component parameters (;req, ;sf, ;key, ;bs) are not used by this protocol")
    params = inner.params
    return _Input(str(inner), components, params.get("created"), params.get("keyid"), params.get("alg"))


def _parse_signature(raw: str) -> bytes:
    fast = _FAST_SIGNATURE.fullmatch(raw)
    if fast:
        try:
            return base64.b64decode(fast.group(1), validate=True)
        except ValueError as exc:
            raise SignatureError("Signature is not valid base64") from exc
    signatures = Dictionary()
    try:
        signatures.parse(raw.encode())
    except ValueError as exc:
        raise SignatureError(f"malformed Signature: {exc}") from exc
    if LABEL not in signatures:
        raise SignatureError(f"no signature labelled {LABEL!r}")
    value = getattr(signatures[LABEL], "value", None)
    if not isinstance(value, bytes):
        raise SignatureError("Signature member is not a byte sequence")
    return value


def required(message: HttpMessage) -> tuple[str, ...]:
    """What a signature on ``message`` must cover: the mandatory components and every
    authorisation or log header present."""
    if message.status:
        return RESPONSE_COMPONENTS + tuple(name for name in RESPONSE_OPTIONAL if name in message.headers)
    return REQUEST_COMPONENTS + tuple(name for name in REQUEST_OPTIONAL if name in message.headers)


def covered(message: HttpMessage) -> tuple[str, ...]:
    """What the gateway signs: the required components plus the representation headers present."""
    passed_on = RESPONSE_PASSED_ON if message.status else REQUEST_PASSED_ON
    return required(message) + tuple(name for name in passed_on if name in message.headers)


def sign(message: HttpMessage, key: ed25519.Ed25519PrivateKey, key_id: str, created: int) -> Signed:
    """Sign ``message`` (whose headers already carry Content-Digest) per RFC 9421."""
    components = covered(message)
    params = _params(components, created, key_id)
    base = _base(components, params, message)
    signature = base64.b64encode(key.sign(base.encode())).decode()
    return Signed(f"{LABEL}={params}", f"{LABEL}=:{signature}:", base, key_id, created, tuple(components))


KeyLookup = Callable[[str], ed25519.Ed25519PublicKey | None]


def verify(
    message: HttpMessage,
    lookup: KeyLookup,
    *,
    required: Sequence[str],
    now: int,
    max_age: int,
) -> Signed:
    """Verify the ``xrd`` signature on ``message``.

    Args:
        message: the received message; its headers must include Signature-Input and Signature.
        lookup: returns the public key for a ``keyid``, or None when the key is not trusted.
        required: components the signature must cover.
        now: current Unix time.
        max_age: how many seconds old (or in the future) ``created`` may be.

    Returns:
        The verified signature, with its base, for the message log.

    Raises:
        SignatureError: saying precisely what is wrong.
    """
    raw_input = message.headers.get("signature-input")
    raw_signature = message.headers.get("signature")
    if not raw_input or not raw_signature:
        raise SignatureError("Signature-Input and Signature headers are required")
    parsed = _parse_input(raw_input)
    signature = _parse_signature(raw_signature)
    missing = [name for name in required if name not in parsed.components]
    if missing:
        raise SignatureError(f"signature does not cover {', '.join(missing)}")
    alg, key_id, created = parsed.alg, parsed.key_id, parsed.created
    if alg is not None and alg != ALG:
        raise SignatureError(f"unsupported alg {alg!r}")
    if not isinstance(key_id, str) or not isinstance(created, int):
        raise SignatureError("keyid and created parameters are required")
    if abs(now - created) > max_age:
        raise SignatureError(f"signature created {now - created}s ago, outside the {max_age}s window")
    public_key = lookup(key_id)
    if public_key is None:
        raise SignatureError(f"unknown or untrusted key {key_id}")
    base = _base(parsed.components, parsed.params, message)
    try:
        public_key.verify(signature, base.encode())
    except InvalidSignature as exc:
        raise SignatureError("signature does not verify") from exc
    return Signed(f"{LABEL}={parsed.params}", raw_signature, base, key_id, created, tuple(parsed.components))


def verify_base(base: str, signature_header: str, public_key: ed25519.Ed25519PublicKey) -> bool:
    """Check a stored signature base against its stored Signature value (for the message log)."""
    try:
        public_key.verify(_parse_signature(signature_header), base.encode())
    except (SignatureError, InvalidSignature):
        return False
    return True
