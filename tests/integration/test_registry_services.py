"""The registry's service layer on each database backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entramado import crypto
from entramado.db import make_engine
from entramado.errors import BadRequest, Conflict, NotFound
from entramado.gateway.identity import GatewayFiles, create_keys
from entramado.registry.config import open_config
from entramado.registry.services import Registry, init_instance
from entramado.settings import registry_settings

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "ingresos", "version": "1.0.0"},
    "paths": {"/personas/{ci}/ingresos": {"get": {}, "parameters": []}},
}


@pytest.fixture
def registry(tmp_path: Path, database_url: str) -> Iterator[Registry]:
    init_instance(tmp_path / "reg", "UY-DEMO", database_url=database_url)
    settings = registry_settings(tmp_path / "reg")
    reg = Registry(settings, make_engine(settings.db_url))
    reg.add_member("t", "UY-DEMO/GOB/BPS", "BPS")
    reg.add_subsystem("t", "UY-DEMO/GOB/BPS/prestaciones")
    reg.add_member("t", "UY-DEMO/GOB/DGI", "DGI")
    reg.add_subsystem("t", "UY-DEMO/GOB/DGI/tributos")
    yield reg
    reg.engine.dispose()


def _register(registry: Registry, tmp_path: Path, member: str, code: str = "gw1") -> dict[str, object]:
    files = GatewayFiles(tmp_path / f"{member.replace('/', '_')}-{code}")
    files.data_dir.mkdir()
    create_keys(files, member, code)
    return registry.submit_registration(
        member, code, "https://127.0.0.1:9443", files.tls_csr.read_text(), files.sign_csr.read_text()
    )


def test_members_and_duplicates(registry: Registry) -> None:
    assert [m["id"] for m in registry.list_members()] == ["UY-DEMO/GOB/BPS", "UY-DEMO/GOB/DGI"]
    with pytest.raises(Conflict):
        registry.add_member("t", "UY-DEMO/GOB/BPS", "again")
    with pytest.raises(BadRequest, match="wrong instance"):
        registry.add_member("t", "EE/GOV/X", "elsewhere")
    with pytest.raises(NotFound):
        registry.add_subsystem("t", "UY-DEMO/GOB/NOPE/x")


def test_registration_approval_issues_certificates(registry: Registry, tmp_path: Path) -> None:
    reg = _register(registry, tmp_path, "UY-DEMO/GOB/DGI")
    assert registry.registration(int(reg["id"]))["status"] == "pending"  # type: ignore[call-overload]
    issued = registry.approve_registration("t", int(reg["id"]))  # type: ignore[call-overload]
    tls = crypto.cert_from_pem(issued["tls_cert"])
    assert crypto.verify_issued_by(tls, registry.ca.cert)
    assert crypto.common_name(tls.subject) == "UY-DEMO/GOB/DGI/gw1"
    with pytest.raises(Conflict):
        registry.approve_registration("t", int(reg["id"]))  # type: ignore[call-overload]
    config = open_config(registry.current_configuration(), registry.ca.cert)
    assert [g.member for g in config.gateways] == ["UY-DEMO/GOB/DGI"]
    # Revocation takes the gateway out of the next configuration.
    registry.revoke("t", crypto.fingerprint(tls), "key compromise")
    config = open_config(registry.current_configuration(), registry.ca.cert)
    assert config.gateways == () and crypto.fingerprint(tls) in config.revoked_fingerprints


def test_two_gateways_cannot_share_an_address(registry: Registry, tmp_path: Path) -> None:
    first = _register(registry, tmp_path, "UY-DEMO/GOB/DGI")
    registry.approve_registration("t", int(first["id"]))  # type: ignore[call-overload]
    with pytest.raises(Conflict, match="address in use"):
        _register(registry, tmp_path, "UY-DEMO/GOB/BPS")


def test_pending_registrations_are_bounded(registry: Registry, tmp_path: Path) -> None:
    from entramado.registry.services import MAX_PENDING_REGISTRATIONS

    for i in range(MAX_PENDING_REGISTRATIONS):
        _register(registry, tmp_path, "UY-DEMO/GOB/BPS", code=f"gw{i}")
    with pytest.raises(Conflict, match="too many pending"):
        _register(registry, tmp_path, "UY-DEMO/GOB/BPS", code="one-more")


def test_rejected_registration(registry: Registry, tmp_path: Path) -> None:
    reg = _register(registry, tmp_path, "UY-DEMO/GOB/BPS")
    assert registry.reject_registration("t", int(reg["id"]), "unknown operator")["status"] == "rejected"  # type: ignore[call-overload]
    with pytest.raises(Conflict):
        registry.approve_registration("t", int(reg["id"]))  # type: ignore[call-overload]


def test_publishing_the_same_service_again_changes_nothing(registry: Registry) -> None:
    service = "UY-DEMO/GOB/DGI/tributos/ingresos"
    registry.publish_service("t", service, OPENAPI, ["ingresos"])
    before = open_config(registry.current_configuration(), registry.ca.cert).version
    registry.publish_service("t", service, OPENAPI, ["ingresos"])
    assert open_config(registry.current_configuration(), registry.ca.cert).version == before


def test_registration_checks_csr(registry: Registry, tmp_path: Path) -> None:
    files = GatewayFiles(tmp_path / "x")
    files.data_dir.mkdir()
    create_keys(files, "UY-DEMO/GOB/BPS", "gw1")
    with pytest.raises(BadRequest, match="CN"):
        registry.submit_registration(
            "UY-DEMO/GOB/DGI", "gw1", "https://h:1", files.tls_csr.read_text(), files.sign_csr.read_text()
        )
    with pytest.raises(BadRequest, match="role"):
        registry.submit_registration(
            "UY-DEMO/GOB/BPS", "gw1", "https://h:1", files.sign_csr.read_text(), files.tls_csr.read_text()
        )
    with pytest.raises(BadRequest, match="https"):
        registry.submit_registration(
            "UY-DEMO/GOB/BPS", "gw1", "http://h:1", files.tls_csr.read_text(), files.sign_csr.read_text()
        )
    with pytest.raises(BadRequest, match="malformed"):
        registry.submit_registration("UY-DEMO/GOB/BPS", "gw1", "https://h:1", "garbage", "garbage")


def test_services_and_grants(registry: Registry) -> None:
    service = "UY-DEMO/GOB/DGI/tributos/ingresos"
    published = registry.publish_service("t", service, OPENAPI, ["ingresos"])
    assert published["endpoints"] == [{"method": "GET", "path": "/personas/{ci}/ingresos"}]
    with pytest.raises(BadRequest, match="purposes required"):
        registry.add_grant("t", "UY-DEMO/GOB/BPS/prestaciones", service, [])
    with pytest.raises(BadRequest, match="OpenAPI"):
        registry.publish_service("t", service, {"swagger": "2.0"}, [])
    with pytest.raises(BadRequest, match="method"):
        registry.add_grant("t", "UY-DEMO/GOB/BPS/prestaciones", service, ["p"], method="FETCH")
    with pytest.raises(BadRequest, match="path"):
        registry.add_grant("t", "UY-DEMO/GOB/BPS/prestaciones", service, ["p"], path="/../x")
    grant = registry.add_grant("t", "UY-DEMO/GOB/BPS/prestaciones", service, ["prestaciones-sociales"], "get")
    config = open_config(registry.current_configuration(), registry.ca.cert)
    assert config.allowed(
        "UY-DEMO/GOB/BPS/prestaciones", service, "GET", "/personas/1/ingresos", "prestaciones-sociales"
    )
    registry.delete_grant("t", int(grant["id"]))
    config = open_config(registry.current_configuration(), registry.ca.cert)
    assert not config.allowed(
        "UY-DEMO/GOB/BPS/prestaciones", service, "GET", "/personas/1/ingresos", "prestaciones-sociales"
    )


def test_every_change_is_audited_and_versions_increase(registry: Registry) -> None:
    before = open_config(registry.current_configuration(), registry.ca.cert).version
    registry.add_subsystem("t", "UY-DEMO/GOB/BPS/otro")
    after = open_config(registry.current_configuration(), registry.ca.cert).version
    assert after == before + 1
    actions = [a["action"] for a in registry.audit()]
    assert actions[0] == "registry:subsystem:create"
    assert actions.count("registry:member:create") == 2


def test_failed_change_leaves_nothing(registry: Registry) -> None:
    before = (len(registry.audit(1000)), open_config(registry.current_configuration(), registry.ca.cert).version)
    with pytest.raises(Conflict):
        registry.add_subsystem("t", "UY-DEMO/GOB/BPS/prestaciones")
    after = (len(registry.audit(1000)), open_config(registry.current_configuration(), registry.ca.cert).version)
    assert before == after
