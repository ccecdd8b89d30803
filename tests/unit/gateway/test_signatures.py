import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from entramado.gateway import signatures as sig

KEY = ed25519.Ed25519PrivateKey.generate()
KEY_ID = "ab" * 32


def request(**extra: str) -> sig.HttpMessage:
    headers = {
        "content-digest": sig.content_digest(b'{"a":1}'),
        "x-road-client": "UY-DEMO/GOB/BPS/prestaciones",
        "x-road-id": "m-1",
        "entramado-purpose": "prestaciones-sociales",
        **extra,
    }
    return sig.HttpMessage(headers, method="POST", path="/r1/UY-DEMO/GOB/DGI/tributos/ingresos/x", query="a=1")


def signed(message: sig.HttpMessage, created: int | None = None) -> sig.HttpMessage:
    s = sig.sign(message, KEY, KEY_ID, created or int(time.time()))
    headers = {**message.headers, "signature-input": s.signature_input, "signature": s.signature}
    return sig.HttpMessage(headers, message.method, message.path, message.query, message.status)


def verify(message: sig.HttpMessage, **kwargs: object) -> sig.Signed:
    options: dict[str, object] = {
        "required": sig.REQUEST_COMPONENTS,
        "now": int(time.time()),
        "max_age": 300,
        **kwargs,
    }
    return sig.verify(message, lambda k: KEY.public_key() if k == KEY_ID else None, **options)  # type: ignore[arg-type]


def test_round_trip_covers_optional_headers() -> None:
    result = verify(signed(request()))
    assert '"entramado-purpose": prestaciones-sociales' in result.base
    assert '"@query": ?a=1' in result.base
    assert result.base.endswith('alg="ed25519"')


def test_digest_matches_rfc9530_example() -> None:
    # RFC 9530 appendix: {"hello": "world"} with SHA-256
    assert sig.content_digest(b'{"hello": "world"}') == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.update({"x-road-client": "UY-DEMO/GOB/IM/tramites"}),
        lambda h: h.update({"entramado-purpose": "otro"}),
        lambda h: h.update({"content-digest": sig.content_digest(b"other")}),
        lambda h: h.update({"x-road-id": "m-2"}),
    ],
)
def test_tampering_is_detected(change: object) -> None:
    message = signed(request())
    headers = dict(message.headers)
    change(headers)  # type: ignore[operator]
    with pytest.raises(sig.SignatureError, match="does not verify"):
        verify(sig.HttpMessage(headers, message.method, message.path, message.query))


def test_path_and_method_are_covered() -> None:
    message = signed(request())
    for tampered in (
        sig.HttpMessage(message.headers, "GET", message.path, message.query),
        sig.HttpMessage(message.headers, message.method, message.path + "y", message.query),
        sig.HttpMessage(message.headers, message.method, message.path, "a=2"),
    ):
        with pytest.raises(sig.SignatureError):
            verify(tampered)


def test_stale_unknown_and_missing() -> None:
    with pytest.raises(sig.SignatureError, match="outside"):
        verify(signed(request(), created=int(time.time()) - 1000))
    with pytest.raises(sig.SignatureError, match="unknown"):
        sig.verify(signed(request()), lambda k: None, required=(), now=int(time.time()), max_age=300)
    with pytest.raises(sig.SignatureError, match="required"):
        verify(request())
    with pytest.raises(sig.SignatureError, match="does not cover"):
        verify(signed(request()), required=(*sig.REQUEST_COMPONENTS, "x-road-userid"))


def test_general_parser_agrees_with_fast_path() -> None:
    message = signed(request())
    # Same signature with the parameters in another order and extra whitespace: not our shape,
    # so it goes through the RFC 8941 parser, and must be read the same way.
    raw = message.headers["signature-input"]
    inner, params = raw.split(")", 1)
    created = next(p for p in params.split(";") if p.startswith("created"))
    reordered = f'{inner});keyid="{KEY_ID}";alg="ed25519";{created}'
    parsed = sig._parse_input(reordered)
    fast = sig._parse_input(raw)
    assert parsed.components == fast.components
    assert (parsed.created, parsed.key_id) == (fast.created, fast.key_id)
    assert sig._parse_signature(message.headers["signature"]) == sig._parse_signature(
        message.headers["signature"] + " "
    )


def test_malformed_headers() -> None:
    message = signed(request())
    for name, value in (
        ("signature-input", "xrd=garbage("),
        ("signature", "xrd=notbytes"),
        ("signature", "other=:AA==:"),
    ):
        headers = {**message.headers, name: value}
        with pytest.raises(sig.SignatureError):
            verify(sig.HttpMessage(headers, message.method, message.path, message.query))


def test_response_binding() -> None:
    req = signed(request())
    headers = {
        "content-digest": sig.content_digest(b"ok"),
        "x-road-id": "m-1",
        "x-road-request-hash": sig.request_hash(req.headers["signature"]),
    }
    resp = sig.sign(sig.HttpMessage(headers, status=200), KEY, KEY_ID, int(time.time()))
    full = sig.HttpMessage(
        {**headers, "signature-input": resp.signature_input, "signature": resp.signature}, status=200
    )
    verify(full, required=sig.RESPONSE_COMPONENTS)
    with pytest.raises(sig.SignatureError):
        verify(sig.HttpMessage(full.headers, status=500), required=sig.RESPONSE_COMPONENTS)
