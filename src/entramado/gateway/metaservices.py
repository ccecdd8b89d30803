"""X-Road REST service metadata (listClients, listMethods, allowedMethods) from the configuration."""

from __future__ import annotations

from typing import Any

from entramado.ids import MemberId, ServiceId, SubsystemId
from entramado.registry.config import NetworkConfig


def _member_json(member: MemberId) -> dict[str, str]:
    return {
        "xroad_instance": member.instance,
        "member_class": member.member_class,
        "member_code": member.member_code,
    }


def list_clients(config: NetworkConfig, instance: str | None = None) -> dict[str, Any]:
    """Every member and subsystem of the instance, in X-Road's ``listClients`` JSON shape."""
    out = []
    if instance in (None, config.instance):
        for member_id, member in config.members.items():
            mid = MemberId.parse(member_id)
            out.append({"id": {**_member_json(mid), "object_type": "MEMBER"}, "name": member["name"]})
            for code in member["subsystems"]:
                ident = {**_member_json(mid), "subsystem_code": code, "object_type": "SUBSYSTEM"}
                out.append({"id": ident, "name": member["name"]})
    return {"member": out}


def _service_json(service_id: str) -> dict[str, str]:
    sid = ServiceId.parse(service_id)
    return {
        **_member_json(sid.member),
        "subsystem_code": sid.subsystem_code,
        "service_code": sid.service_code,
        "object_type": "SERVICE",
        "service_type": "OPENAPI",
    }


def list_methods(config: NetworkConfig, provider: SubsystemId) -> dict[str, Any]:
    """The services a provider subsystem publishes."""
    prefix = f"{provider}/"
    services = [_service_json(sid) for sid in sorted(config.services) if sid.startswith(prefix)]
    return {"service": services}


def allowed_methods(config: NetworkConfig, provider: SubsystemId, client: SubsystemId) -> dict[str, Any]:
    """The provider's services this client holds a grant for, with the grants' endpoints and purposes."""
    prefix = f"{provider}/"
    out = []
    for service_id in config.allowed_services(str(client)):
        if not service_id.startswith(prefix) or service_id not in config.services:
            continue
        grants = config.grants[(str(client), service_id)]
        entry: dict[str, Any] = _service_json(service_id)
        entry["endpoints"] = [
            {"method": g.method or "*", "path": g.path or "/**", "purposes": list(g.purposes)} for g in grants
        ]
        out.append(entry)
    return {"service": out}
