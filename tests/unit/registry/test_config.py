import datetime as dt

import orjson
import pytest

from entramado import crypto
from entramado.registry.config import ConfigError, NetworkConfig, open_config, path_pattern, sign_config


def _signer(ca: crypto.CertificateAuthority, role: str = crypto.ROLE_CONFIG):  # type: ignore[no-untyped-def]
    key = crypto.new_signing_key()
    return key, ca.issue(crypto.make_csr(key, "signer", role), role)


def _document(**extra: object) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    return {
        "format": "entramado-config/1",
        "instance": "UY-DEMO",
        "version": 3,
        "generated_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(hours=1)).isoformat(),
        "members": [{"id": "UY-DEMO/GOB/BPS", "name": "BPS", "subsystems": ["prestaciones"]}],
        "gateways": [],
        "services": [
            {
                "id": "UY-DEMO/GOB/DGI/tributos/ingresos",
                "version": "1",
                "personal_data": ["ingresos"],
                "endpoints": [{"method": "GET", "path": "/personas/{ci}/ingresos"}],
            }
        ],
        "grants": [
            {
                "client": "UY-DEMO/GOB/BPS/prestaciones",
                "service": "UY-DEMO/GOB/DGI/tributos/ingresos",
                "method": "GET",
                "path": "/personas/{ci}/ingresos",
                "purposes": ["prestaciones-sociales"],
            },
        ],
        "revoked": [],
        **extra,
    }


def test_signed_configuration_opens_and_indexes() -> None:
    ca = crypto.CertificateAuthority.create("UY-DEMO")
    key, cert = _signer(ca)
    config = open_config(sign_config(_document(), key, cert), ca.cert)
    assert config.version == 3 and not config.expired()
    client, service = "UY-DEMO/GOB/BPS/prestaciones", "UY-DEMO/GOB/DGI/tributos/ingresos"
    assert config.allowed(client, service, "GET", "/personas/123/ingresos", "prestaciones-sociales")
    assert not config.allowed(client, service, "GET", "/personas/123/ingresos", "otro")
    assert not config.allowed(client, service, "POST", "/personas/123/ingresos", "prestaciones-sociales")
    assert not config.allowed(client, service, "GET", "/personas/123/ingresos/x", "prestaciones-sociales")
    assert not config.allowed(
        "UY-DEMO/GOB/IM/tramites", service, "GET", "/personas/1/ingresos", "prestaciones-sociales"
    )
    assert "UY-DEMO/GOB/BPS/prestaciones" in config.subsystems


def test_untrusted_or_tampered_configuration_is_refused() -> None:
    ca, other = crypto.CertificateAuthority.create("UY-DEMO"), crypto.CertificateAuthority.create("UY-DEMO")
    key, cert = _signer(ca)
    envelope = sign_config(_document(), key, cert)
    with pytest.raises(ConfigError, match="not certified"):
        open_config(envelope, other.cert)
    outer = orjson.loads(envelope)
    outer["payload"] = crypto.b64(orjson.dumps(_document(version=4)))
    with pytest.raises(ConfigError, match="does not verify"):
        open_config(orjson.dumps(outer), ca.cert)
    tls_key, tls_cert = _signer(ca, crypto.ROLE_SIGN)
    with pytest.raises(ConfigError, match="role config"):
        open_config(sign_config(_document(), tls_key, tls_cert), ca.cert)
    with pytest.raises(ConfigError, match="malformed"):
        open_config(b"{not json", ca.cert)


def test_expiry() -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert NetworkConfig(_document(expires_at=past.isoformat())).expired()


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/personas/{ci}", "/personas/123", True),
        ("/personas/{ci}", "/personas/123/x", False),
        ("/personas/{ci}", "/personas/", False),
        ("/x/**", "/x", True),
        ("/x/**", "/x/a/b", True),
        ("/x/**", "/xy", False),
        ("/a.b", "/aXb", False),
    ],
)
def test_path_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(path_pattern(pattern).fullmatch(path)) is matches
