"""Our RFC 9421 signatures checked by two implementations that share no code with ours:
the npm package http-message-signatures (through tests/interop/node/cli.mjs) and the PyPI
package http-message-signatures. Both directions: they verify ours, we verify theirs."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, MappingKeyResolver, algorithms

from entramado.gateway import signatures as sig

NODE_DIR = Path(__file__).parent / "node"
KEY = ed25519.Ed25519PrivateKey.generate()
KEY_ID = "c0ffee" * 10 + "abcd"
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC_PEM = (
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)
AUTHORITY = "https://127.0.0.1:8443"
PATH = "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/personas/12345672/ingresos"


@pytest.fixture(scope="module")
def node() -> Any:
    if not shutil.which("node") or not shutil.which("npm"):
        if os.environ.get("CI"):
            pytest.fail("node and npm are required in CI for the RFC 9421 interop test")
        pytest.skip("node/npm not installed: the npm interop half cannot run here")
    if not (NODE_DIR / "node_modules" / "http-message-signatures").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True)

    def call(payload: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            ["node", "cli.mjs"], cwd=NODE_DIR, input=json.dumps(payload), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr or done.stdout
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return call


def our_request(query: str = "anio=2025", **extra: str) -> tuple[sig.HttpMessage, dict[str, str]]:
    headers = {
        "content-digest": sig.content_digest(b""),
        "x-road-client": "UY-DEMO/GOB/BPS/prestaciones",
        "x-road-id": "0f3a-1",
        "entramado-purpose": "prestaciones-sociales",
        "entramado-data-subject": "UY-CI:12345672",
        **extra,
    }
    message = sig.HttpMessage(headers, method="GET", path=PATH, query=query)
    signed = sig.sign(message, KEY, KEY_ID, int(time.time()))
    return message, {**headers, "signature-input": signed.signature_input, "signature": signed.signature}


def url(query: str) -> str:
    return AUTHORITY + PATH + (f"?{query}" if query else "")


@pytest.mark.parametrize("query", ["anio=2025", ""])
def test_npm_verifies_our_request(node: Any, query: str) -> None:
    _, headers = our_request(query)
    result = node(
        {
            "mode": "verify",
            "alg": "ed25519",
            "publicKeyPem": PUBLIC_PEM,
            "label": "xrd",
            "message": {"method": "GET", "url": url(query), "headers": headers},
        }
    )
    assert result["ok"] is True, result
    tampered = {**headers, "entramado-purpose": "otra"}
    result = node(
        {
            "mode": "verify",
            "alg": "ed25519",
            "publicKeyPem": PUBLIC_PEM,
            "label": "xrd",
            "message": {"method": "GET", "url": url(query), "headers": tampered},
        }
    )
    assert result["ok"] is False


def test_npm_verifies_our_response(node: Any) -> None:
    headers = {
        "content-digest": sig.content_digest(b'{"ok":1}'),
        "x-road-id": "0f3a-1",
        "x-road-request-hash": sig.request_hash("xrd=:AAAA:"),
    }
    signed = sig.sign(sig.HttpMessage(headers, status=200), KEY, KEY_ID, int(time.time()))
    full = {**headers, "signature-input": signed.signature_input, "signature": signed.signature}
    result = node(
        {
            "mode": "verify",
            "alg": "ed25519",
            "publicKeyPem": PUBLIC_PEM,
            "label": "xrd",
            "message": {"status": 200, "headers": full},
        }
    )
    assert result["ok"] is True, result
    result = node(
        {
            "mode": "verify",
            "alg": "ed25519",
            "publicKeyPem": PUBLIC_PEM,
            "label": "xrd",
            "message": {"status": 201, "headers": full},
        }
    )
    assert result["ok"] is False


def test_we_verify_npm_signature(node: Any) -> None:
    message, _ = our_request()
    components = list(sig.covered(message))
    signed = node(
        {
            "mode": "sign",
            "alg": "ed25519",
            "privateKeyPem": PRIVATE_PEM,
            "keyid": KEY_ID,
            "label": "xrd",
            "created": int(time.time()),
            "components": components,
            "message": {"method": "GET", "url": url("anio=2025"), "headers": dict(message.headers)},
        }
    )
    headers = {**message.headers, "signature-input": signed["signature-input"], "signature": signed["signature"]}
    verified = sig.verify(
        sig.HttpMessage(headers, "GET", PATH, "anio=2025"),
        lambda k: KEY.public_key(),
        required=sig.REQUEST_COMPONENTS,
        now=int(time.time()),
        max_age=60,
    )
    assert verified.base == signed["signature-base"]


def _pypi() -> tuple[HTTPMessageSigner, HTTPMessageVerifier]:
    resolver = MappingKeyResolver(public_keys={KEY_ID: KEY.public_key()}, private_keys={KEY_ID: KEY})
    return (
        HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver),
        HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver),
    )


def test_pypi_library_verifies_ours_and_we_verify_its() -> None:
    signer, verifier = _pypi()
    _, headers = our_request()
    results = verifier.verify(SimpleNamespace(method="GET", url=url("anio=2025"), headers=headers))
    assert results[0].label == "xrd"

    message, _ = our_request()
    theirs = SimpleNamespace(method="GET", url=url("anio=2025"), headers=dict(message.headers))
    signer.sign(
        theirs,
        key_id=KEY_ID,
        label="xrd",
        created=dt.datetime.now(dt.UTC),
        covered_component_ids=list(sig.covered(message)),
        use_existing_digest=True,
    )
    received = {k.lower(): v for k, v in theirs.headers.items()}
    sig.verify(
        sig.HttpMessage(received, "GET", PATH, "anio=2025"),
        lambda k: KEY.public_key(),
        required=sig.REQUEST_COMPONENTS,
        now=int(time.time()),
        max_age=60,
    )
