"""The registry's HTTP API: every admin route needs the token; bad input gets a precise error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from entramado.db import make_engine
from entramado.gateway.identity import GatewayFiles, create_keys
from entramado.registry.api import create_app
from entramado.registry.config import open_config
from entramado.registry.services import Registry, init_instance
from entramado.settings import registry_settings


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    init_instance(tmp_path / "reg", "UY-DEMO", database_url=database_url)
    settings = registry_settings(tmp_path / "reg")
    registry = Registry(settings, make_engine(settings.db_url))
    with TestClient(create_app(settings, registry)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {registry.admin_token}"
        yield test_client
    registry.engine.dispose()


def test_every_admin_route_requires_the_token(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    admin_routes = [(m.upper(), p) for p, ops in schema["paths"].items() if p.startswith("/admin") for m in ops]
    assert len(admin_routes) >= 12
    for method, template in admin_routes:
        path = template.replace("{reg_id}", "1").replace("{grant_id}", "1").replace("{key}", "ab")
        path = path.replace("{service_id}", "UY-DEMO/GOB/X/y/z")
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["type"] == "Client.Unauthorized"


def test_admin_flow_and_errors(client: TestClient, tmp_path: Path) -> None:
    assert client.post("/admin/members", json={"id": "UY-DEMO/GOB/DGI", "name": "DGI"}).status_code == 201
    duplicate = client.post("/admin/members", json={"id": "UY-DEMO/GOB/DGI", "name": "DGI"})
    assert duplicate.status_code == 409 and duplicate.json()["type"] == "Client.Conflict"
    bad = client.post("/admin/members", json={"id": "UY-DEMO/GOB", "name": "x"})
    assert bad.status_code == 400 and bad.json()["type"] == "Client.BadRequest"
    missing = client.post("/admin/members", json={"id": "UY-DEMO/GOB/IM"})
    assert missing.status_code == 400 and "name" in missing.json()["detail"]
    extra = client.post("/admin/members", json={"id": "UY-DEMO/GOB/IM", "name": "IM", "admin": True})
    assert extra.status_code == 400
    not_json = client.post("/admin/members", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["type"] == "Client.BadRequest"
    assert client.post("/admin/subsystems", json={"id": "UY-DEMO/GOB/DGI/tributos"}).status_code == 201

    files = GatewayFiles(tmp_path / "gw")
    files.data_dir.mkdir()
    create_keys(files, "UY-DEMO/GOB/DGI", "gw1")
    reg = client.post(
        "/api/v1/registrations",
        headers={"Authorization": ""},
        json={
            "member": "UY-DEMO/GOB/DGI",
            "gateway_code": "gw1",
            "address": "https://127.0.0.1:9443",
            "tls_csr": files.tls_csr.read_text(),
            "sign_csr": files.sign_csr.read_text(),
        },
    )
    assert reg.status_code == 202
    reg_id = reg.json()["id"]
    assert client.get(f"/api/v1/registrations/{reg_id}").json()["status"] == "pending"
    assert client.post(f"/admin/registrations/{reg_id}/approve").status_code == 200
    approved = client.get(f"/api/v1/registrations/{reg_id}", headers={"Authorization": ""}).json()
    assert approved["status"] == "approved" and "BEGIN CERTIFICATE" in approved["tls_cert"]
    assert client.get("/api/v1/registrations/999").status_code == 404

    anchor = client.get("/api/v1/anchor").text
    from entramado import crypto

    config = open_config(client.get("/api/v1/configuration").content, crypto.cert_from_pem(anchor))
    assert config.gateways[0].member == "UY-DEMO/GOB/DGI"
    assert client.get("/admin/audit").json()[0]["action"] == "registry:registration:approve"


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["ready"] is True
    assert "entramado_registry_configurations_served" in client.get("/metrics").text
    response = client.get("/no/such/route")
    assert response.status_code == 404 and response.json()["type"] == "Client.NotFound"
