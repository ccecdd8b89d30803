"""The registry's operations: members, subsystems, gateways, services, grants, certificates and
the signed configuration. Every change writes an audit row and publishes a new configuration."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from entramado import crypto
from entramado.errors import BadRequest, Conflict, NotFound
from entramado.evidence import tsa
from entramado.ids import MemberId, ServiceId, SubsystemId, check_code
from entramado.registry import config as netconf
from entramado.registry.models import (
    AuditEvent,
    Certificate,
    ConfigurationVersion,
    Gateway,
    Grant,
    Member,
    Registration,
    Service,
    Subsystem,
)
from entramado.settings import RegistrySettings

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")
# Registration is open to anyone (the authority approves); this bounds what a stranger can queue.
MAX_PENDING_REGISTRATIONS = 10


class Action(StrEnum):
    """Audit actions, ``scope:resource:action``."""

    MEMBER_CREATE = "registry:member:create"
    SUBSYSTEM_CREATE = "registry:subsystem:create"
    REGISTRATION_SUBMIT = "registry:registration:submit"
    REGISTRATION_APPROVE = "registry:registration:approve"
    REGISTRATION_REJECT = "registry:registration:reject"
    SERVICE_PUBLISH = "registry:service:publish"
    GRANT_CREATE = "registry:grant:create"
    GRANT_DELETE = "registry:grant:delete"
    CERTIFICATE_REVOKE = "registry:certificate:revoke"
    CONFIG_PUBLISH = "registry:configuration:publish"


@dataclass(frozen=True)
class InstanceFiles:
    """Where an instance's secrets and trust anchor live inside the registry's data folder."""

    data_dir: Path

    @property
    def ca_key(self) -> Path:
        return self.data_dir / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / "ca.pem"

    @property
    def signer_key(self) -> Path:
        return self.data_dir / "config-signer.key"

    @property
    def signer_cert(self) -> Path:
        return self.data_dir / "config-signer.pem"

    @property
    def tsa_key(self) -> Path:
        return self.data_dir / "tsa.key"

    @property
    def tsa_cert(self) -> Path:
        return self.data_dir / "tsa.pem"

    @property
    def admin_token(self) -> Path:
        return self.data_dir / "admin-token"

    @property
    def settings(self) -> Path:
        return self.data_dir / "registry.toml"


def init_instance(data_dir: Path, instance: str, **settings: Any) -> InstanceFiles:
    """Create an instance: its CA, configuration-signing key and admin token.

    Raises:
        Conflict: when ``data_dir`` already holds an instance.
    """
    check_code(instance, "instance")
    files = InstanceFiles(data_dir)
    if files.ca_key.exists():
        raise Conflict("instance exists", f"{data_dir} already holds an instance")
    data_dir.mkdir(parents=True, exist_ok=True)
    ca = crypto.CertificateAuthority.create(instance)
    crypto.write_private(files.ca_key, crypto.key_to_pem(ca.key))
    files.ca_cert.write_text(crypto.cert_to_pem(ca.cert))
    signer_key = crypto.new_signing_key()
    csr = crypto.make_csr(signer_key, f"{instance} configuration signer", crypto.ROLE_CONFIG)
    crypto.write_private(files.signer_key, crypto.key_to_pem(signer_key))
    files.signer_cert.write_text(crypto.cert_to_pem(ca.issue(csr, crypto.ROLE_CONFIG)))
    crypto.write_private(files.admin_token, secrets.token_urlsafe(32).encode())
    files.settings.write_text(tomli_w.dumps({"instance": instance, **settings}))
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


class Registry:
    """The registry's service layer over its database and key files."""

    def __init__(self, settings: RegistrySettings, engine: Engine) -> None:
        files = InstanceFiles(settings.data_dir)
        if not files.ca_key.exists():
            raise NotFound("no instance", f"run `entramado registry init` in {settings.data_dir} first")
        self.settings = settings
        self.engine = engine
        self.files = files
        ca_key = crypto.load_private_key(files.ca_key)
        assert not isinstance(ca_key, ed25519.Ed25519PrivateKey)
        self.ca = crypto.CertificateAuthority(ca_key, crypto.cert_from_pem(files.ca_cert.read_bytes()))
        self.signer_key = crypto.load_signing_key(files.signer_key)
        self.signer_cert = crypto.cert_from_pem(files.signer_cert.read_bytes())
        self.admin_token = files.admin_token.read_text().strip()
        self.tsa = self._time_stamping_authority()

    def _time_stamping_authority(self) -> tsa.Authority:
        """The instance's RFC 3161 TSA, created on first use with a certificate from the CA."""
        if not self.files.tsa_key.exists():
            authority, key_pem = tsa.new_authority(self.ca, self.settings.instance)
            crypto.write_private(self.files.tsa_key, key_pem)
            self.files.tsa_cert.write_text(crypto.cert_to_pem(authority.cert))
            return authority
        key = crypto.load_private_key(self.files.tsa_key)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return tsa.Authority(key, crypto.cert_from_pem(self.files.tsa_cert.read_bytes()))

    @contextmanager
    def _change(self, actor: str, action: Action, target: str, **detail: Any) -> Iterator[Session]:
        """One transaction: the change, its audit row and a newly signed configuration."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session
            session.add(AuditEvent(actor=actor, action=str(action), target=target, detail=detail))
            session.flush()
            self._publish(session)

    # members and subsystems

    def add_member(self, actor: str, member: str, name: str) -> dict[str, Any]:
        mid = self._own(MemberId.parse(member))
        with self._change(actor, Action.MEMBER_CREATE, str(mid)) as session:
            if self._member(session, mid, missing_ok=True):
                raise Conflict("member exists", str(mid))
            session.add(Member(member_class=mid.member_class, member_code=mid.member_code, name=name))
        return {"id": str(mid), "name": name}

    def add_subsystem(self, actor: str, subsystem: str) -> dict[str, Any]:
        sid = SubsystemId.parse(subsystem)
        self._own(sid.member)
        with self._change(actor, Action.SUBSYSTEM_CREATE, str(sid)) as session:
            member = self._member(session, sid.member)
            exists = session.scalar(
                select(Subsystem).where(Subsystem.member_id == member.id, Subsystem.code == sid.subsystem_code)
            )
            if exists:
                raise Conflict("subsystem exists", str(sid))
            session.add(Subsystem(member_id=member.id, code=sid.subsystem_code))
        return {"id": str(sid)}

    def list_members(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            subsystems: dict[int, list[str]] = {}
            for sub in session.scalars(select(Subsystem).order_by(Subsystem.code)):
                subsystems.setdefault(sub.member_id, []).append(sub.code)
            return [
                {
                    "id": str(self._mid(m)),
                    "name": m.name,
                    "subsystems": subsystems.get(m.id, []),
                }
                for m in session.scalars(select(Member).order_by(Member.member_class, Member.member_code))
            ]

    # gateways

    def submit_registration(
        self, member: str, gateway_code: str, address: str, tls_csr: str, sign_csr: str
    ) -> dict[str, Any]:
        """A gateway asks to join; nothing is issued until the authority approves."""
        mid = self._own(MemberId.parse(member))
        check_code(gateway_code, "gateway")
        if not address.startswith("https://") or len(address) > 300:
            raise BadRequest("invalid gateway address", "the address must be an https:// URL")
        expected = f"{mid}/{gateway_code}"
        for pem, role in ((tls_csr, crypto.ROLE_TLS), (sign_csr, crypto.ROLE_SIGN)):
            csr = crypto.csr_from_pem(pem)
            if crypto.cert_role_from_name(csr.subject) != role:
                raise BadRequest("CSR role mismatch", f"the {role} CSR must have OU={role}")
            if crypto.common_name(csr.subject) != expected:
                raise BadRequest("CSR subject mismatch", f"the CSR's CN must be {expected!r}")
        with self._change("gateway:" + expected, Action.REGISTRATION_SUBMIT, expected) as session:
            m = self._member(session, mid)
            self._address_free(session, address, m.id, gateway_code)
            pending = session.scalar(
                select(func.count()).where(Registration.member_id == m.id, Registration.status == "pending")
            )
            if (pending or 0) >= MAX_PENDING_REGISTRATIONS:
                raise Conflict(
                    "too many pending registrations",
                    f"{mid} has {pending} waiting for the authority; approve or reject them first",
                )
            reg = Registration(
                member_id=m.id,
                gateway_code=gateway_code,
                address=address,
                tls_csr=tls_csr,
                sign_csr=sign_csr,
            )
            session.add(reg)
            session.flush()
            reg_id = reg.id
        return {"id": reg_id, "status": "pending"}

    def registration(self, reg_id: int) -> dict[str, Any]:
        with Session(self.engine) as session:
            reg = session.get(Registration, reg_id)
            if reg is None:
                raise NotFound("no such registration", str(reg_id))
            out: dict[str, Any] = {"id": reg.id, "status": reg.status, "address": reg.address}
            if reg.gateway_id is not None:
                gw = session.get(Gateway, reg.gateway_id)
                assert gw is not None
                out["tls_cert"] = session.get(Certificate, gw.tls_cert_id).pem  # type: ignore[union-attr]
                out["sign_cert"] = session.get(Certificate, gw.sign_cert_id).pem  # type: ignore[union-attr]
                out["ca_cert"] = crypto.cert_to_pem(self.ca.cert)
            return out

    def list_registrations(self, status: str | None = None) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            query = select(Registration, Member).join(Member, Member.id == Registration.member_id)
            if status:
                query = query.where(Registration.status == status)
            return [
                {
                    "id": reg.id,
                    "member": str(self._mid(member)),
                    "gateway": reg.gateway_code,
                    "address": reg.address,
                    "status": reg.status,
                }
                for reg, member in session.execute(query.order_by(Registration.id))
            ]

    def approve_registration(self, actor: str, reg_id: int) -> dict[str, Any]:
        """Issue the gateway's TLS and signing certificates from its CSRs and admit it."""
        with self._change(actor, Action.REGISTRATION_APPROVE, f"registration/{reg_id}") as session:
            reg = session.get(Registration, reg_id)
            if reg is None:
                raise NotFound("no such registration", str(reg_id))
            if reg.status != "pending":
                raise Conflict("registration is not pending", f"status is {reg.status}")
            existing = session.scalar(
                select(Gateway).where(Gateway.member_id == reg.member_id, Gateway.code == reg.gateway_code)
            )
            self._address_free(session, reg.address, reg.member_id, reg.gateway_code)
            if existing is not None:
                # A re-registration replaces the gateway's certificates: revoke the old ones.
                for cert_id in (existing.tls_cert_id, existing.sign_cert_id):
                    old = session.get(Certificate, cert_id)
                    if old is not None and old.revoked_at is None:
                        old.revoked_at, old.revocation_reason = _now(), "superseded"
            tls = self._issue(session, crypto.csr_from_pem(reg.tls_csr), crypto.ROLE_TLS)
            sign = self._issue(session, crypto.csr_from_pem(reg.sign_csr), crypto.ROLE_SIGN)
            if existing is None:
                existing = Gateway(
                    member_id=reg.member_id,
                    code=reg.gateway_code,
                    address=reg.address,
                    tls_cert_id=tls.id,
                    sign_cert_id=sign.id,
                )
                session.add(existing)
            else:
                existing.address, existing.tls_cert_id, existing.sign_cert_id = (
                    reg.address,
                    tls.id,
                    sign.id,
                )
            session.flush()
            reg.status, reg.gateway_id = "approved", existing.id
        return self.registration(reg_id)

    def reject_registration(self, actor: str, reg_id: int, reason: str) -> dict[str, Any]:
        with self._change(actor, Action.REGISTRATION_REJECT, f"registration/{reg_id}", reason=reason) as session:
            reg = session.get(Registration, reg_id)
            if reg is None:
                raise NotFound("no such registration", str(reg_id))
            if reg.status != "pending":
                raise Conflict("registration is not pending", f"status is {reg.status}")
            reg.status = "rejected"
        return {"id": reg_id, "status": "rejected"}

    @staticmethod
    def _address_free(session: Session, address: str, member_id: int, code: str) -> None:
        """Peers pin a gateway's certificate by its address: two gateways cannot share one."""
        other = session.scalar(
            select(Gateway).where(Gateway.address == address, (Gateway.member_id != member_id) | (Gateway.code != code))
        )
        if other is not None:
            raise Conflict("address in use", f"{address} is another gateway's address")

    def _issue(self, session: Session, csr: x509.CertificateSigningRequest, role: str) -> Certificate:
        cert = self.ca.issue(csr, role)
        row = Certificate(
            serial=format(cert.serial_number, "x"),
            fingerprint=crypto.fingerprint(cert),
            role=role,
            subject=crypto.common_name(cert.subject),
            pem=crypto.cert_to_pem(cert),
            not_after=cert.not_valid_after_utc,
        )
        session.add(row)
        session.flush()
        return row

    def revoke(self, actor: str, fingerprint_or_serial: str, reason: str) -> dict[str, Any]:
        key = fingerprint_or_serial.lower()
        with self._change(actor, Action.CERTIFICATE_REVOKE, key, reason=reason) as session:
            cert = session.scalar(
                select(Certificate).where((Certificate.fingerprint == key) | (Certificate.serial == key))
            )
            if cert is None:
                raise NotFound("no such certificate", key)
            if cert.revoked_at is not None:
                raise Conflict("certificate already revoked", key)
            cert.revoked_at, cert.revocation_reason = _now(), reason
            return {"fingerprint": cert.fingerprint, "serial": cert.serial, "revoked": True}

    def list_gateways(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            out = []
            for gw, member in session.execute(select(Gateway, Member).join(Member)):
                tls = session.get(Certificate, gw.tls_cert_id)
                sign = session.get(Certificate, gw.sign_cert_id)
                assert tls is not None and sign is not None
                out.append(
                    {
                        "member": str(self._mid(member)),
                        "code": gw.code,
                        "address": gw.address,
                        "tls_fingerprint": tls.fingerprint,
                        "sign_key_id": sign.fingerprint,
                        "revoked": tls.revoked_at is not None or sign.revoked_at is not None,
                    }
                )
            return out

    # services and grants

    def publish_service(
        self,
        actor: str,
        service: str,
        openapi: dict[str, Any],
        personal_data: list[str],
        version: str | None = None,
    ) -> dict[str, Any]:
        """Publish (or update) a service from its OpenAPI 3.x description."""
        sid = ServiceId.parse(service)
        self._own(sid.member)
        endpoints = openapi_endpoints(openapi)
        info = openapi.get("info") or {}
        version = version or str(info.get("version") or "")
        if not version:
            raise BadRequest("service version missing", "give --version or info.version in the OpenAPI document")
        categories = sorted({check_code(c, "personal-data category") for c in personal_data})
        with Session(self.engine) as session:
            current = session.scalar(
                select(Service)
                .join(Subsystem, Subsystem.id == Service.subsystem_id)
                .join(Member, Member.id == Subsystem.member_id)
                .where(
                    Member.member_class == sid.member_class,
                    Member.member_code == sid.member_code,
                    Subsystem.code == sid.subsystem_code,
                    Service.code == sid.service_code,
                )
            )
            if current is not None and (current.version, current.openapi, current.personal_data) == (
                version,
                openapi,
                categories,
            ):
                # Publishing the same description again changes nothing: no new configuration.
                return {"id": str(sid), "version": version, "personal_data": categories, "endpoints": endpoints}
        with self._change(actor, Action.SERVICE_PUBLISH, str(sid), version=version) as session:
            sub = self._subsystem(session, sid.subsystem)
            row = session.scalar(
                select(Service).where(Service.subsystem_id == sub.id, Service.code == sid.service_code)
            )
            if row is None:
                row = Service(subsystem_id=sub.id, code=sid.service_code)
                session.add(row)
            row.version, row.title, row.openapi = (
                version,
                str(info.get("title") or sid.service_code),
                openapi,
            )
            row.personal_data, row.endpoints = categories, endpoints
        return {
            "id": str(sid),
            "version": version,
            "personal_data": categories,
            "endpoints": endpoints,
        }

    def add_grant(
        self,
        actor: str,
        client: str,
        service: str,
        purposes: list[str],
        method: str | None = None,
        path: str | None = None,
    ) -> dict[str, Any]:
        """Allow ``client`` to call ``service`` (or one endpoint) for ``purposes``."""
        cid, sid = SubsystemId.parse(client), ServiceId.parse(service)
        method = method.upper() if method else None
        if method is not None and method not in HTTP_METHODS:
            raise BadRequest("invalid method", f"{method!r} is not one of {', '.join(HTTP_METHODS)}")
        if path is not None:
            if not path.startswith("/") or ".." in path or len(path) > 300:
                raise BadRequest("invalid path pattern", "a path pattern starts with / and has no ..")
            netconf.path_pattern(path)
        purposes = sorted({check_code(p, "purpose") for p in purposes})
        with self._change(actor, Action.GRANT_CREATE, f"{cid}->{sid}", method=method, path=path) as session:
            client_row = self._subsystem(session, cid)
            svc = self._service(session, sid)
            if svc.personal_data and not purposes:
                raise BadRequest("purposes required", f"{sid} declares personal data: name the allowed purposes")
            grant = Grant(
                client_id=client_row.id,
                service_id=svc.id,
                method=method,
                path=path,
                purposes=purposes,
            )
            session.add(grant)
            session.flush()
            grant_id = grant.id
        return {
            "id": grant_id,
            "client": str(cid),
            "service": str(sid),
            "method": method,
            "path": path,
            "purposes": purposes,
        }

    def delete_grant(self, actor: str, grant_id: int) -> None:
        with self._change(actor, Action.GRANT_DELETE, f"grant/{grant_id}") as session:
            grant = session.get(Grant, grant_id)
            if grant is None:
                raise NotFound("no such grant", str(grant_id))
            session.delete(grant)

    def openapi(self, service: str) -> dict[str, Any]:
        with Session(self.engine) as session:
            return dict(self._service(session, ServiceId.parse(service)).openapi)

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
            return [
                {
                    "id": r.id,
                    "at": _iso(r.at.replace(tzinfo=r.at.tzinfo or dt.UTC)),
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "detail": r.detail,
                }
                for r in rows
            ]

    # configuration

    def current_configuration(self) -> bytes:
        """The newest signed configuration, re-signed if it is past a third of its validity."""
        with Session(self.engine) as session:
            latest = session.scalar(select(ConfigurationVersion).order_by(ConfigurationVersion.version.desc()))
            if latest is not None and not self._stale(latest):
                return latest.document
        return self.refresh_configuration()

    def refresh_configuration(self) -> bytes:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return self._publish(session)

    def _stale(self, row: ConfigurationVersion) -> bool:
        generated = row.generated_at.replace(tzinfo=row.generated_at.tzinfo or dt.UTC)
        return _now() - generated >= dt.timedelta(seconds=self.settings.config_refresh)

    def _publish(self, session: Session) -> bytes:
        last = session.scalar(select(ConfigurationVersion.version).order_by(ConfigurationVersion.version.desc()))
        version = (last or 0) + 1
        now = _now()
        expires = now + dt.timedelta(seconds=self.settings.config_validity)
        document = self._document(session, version, now, expires)
        envelope = netconf.sign_config(document, self.signer_key, self.signer_cert)
        session.add(ConfigurationVersion(version=version, document=envelope, generated_at=now, expires_at=expires))
        return envelope

    def _document(self, session: Session, version: int, now: dt.datetime, expires: dt.datetime) -> dict[str, Any]:
        members = {m.id: m for m in session.scalars(select(Member))}
        subsystems = {s.id: s for s in session.scalars(select(Subsystem))}
        certs = {c.id: c for c in session.scalars(select(Certificate))}

        def sub_id(sub: Subsystem) -> str:
            return f"{self._mid(members[sub.member_id])}/{sub.code}"

        services = {s.id: s for s in session.scalars(select(Service))}

        def service_id(service: Service) -> str:
            return f"{sub_id(subsystems[service.subsystem_id])}/{service.code}"

        return {
            "format": netconf.FORMAT,
            "instance": self.settings.instance,
            "version": version,
            "generated_at": _iso(now),
            "expires_at": _iso(expires),
            "ca_cert": crypto.cert_to_pem(self.ca.cert),
            "members": [
                {
                    "id": str(self._mid(m)),
                    "name": m.name,
                    "subsystems": sorted(s.code for s in subsystems.values() if s.member_id == m.id),
                }
                for m in sorted(members.values(), key=lambda m: (m.member_class, m.member_code))
            ],
            "gateways": [
                {
                    "member": str(self._mid(members[g.member_id])),
                    "code": g.code,
                    "address": g.address,
                    "tls_fingerprint": certs[g.tls_cert_id].fingerprint,
                    "sign_key_id": certs[g.sign_cert_id].fingerprint,
                    "sign_cert": certs[g.sign_cert_id].pem,
                }
                for g in session.scalars(select(Gateway).order_by(Gateway.id))
            ],
            "services": [
                {
                    "id": service_id(s),
                    "version": s.version,
                    "title": s.title,
                    "personal_data": s.personal_data,
                    "endpoints": s.endpoints,
                }
                for s in sorted(services.values(), key=lambda s: s.id)
            ],
            "grants": [
                {
                    "client": sub_id(subsystems[g.client_id]),
                    "service": service_id(services[g.service_id]),
                    "method": g.method,
                    "path": g.path,
                    "purposes": g.purposes,
                }
                for g in session.scalars(select(Grant).order_by(Grant.id))
            ],
            "revoked": [
                {"serial": c.serial, "fingerprint": c.fingerprint} for c in certs.values() if c.revoked_at is not None
            ],
        }

    # helpers

    def _own(self, member: MemberId) -> MemberId:
        if member.instance != self.settings.instance:
            raise BadRequest("wrong instance", f"{member} is not in instance {self.settings.instance}")
        return member

    def _mid(self, member: Member) -> MemberId:
        return MemberId(self.settings.instance, member.member_class, member.member_code)

    def _member(self, session: Session, mid: MemberId, missing_ok: bool = False) -> Member:
        row = session.scalar(
            select(Member).where(Member.member_class == mid.member_class, Member.member_code == mid.member_code)
        )
        if row is None and not missing_ok:
            raise NotFound("no such member", str(mid))
        return row  # type: ignore[return-value]

    def _subsystem(self, session: Session, sid: SubsystemId) -> Subsystem:
        self._own(sid.member)
        member = self._member(session, sid.member)
        row = session.scalar(
            select(Subsystem).where(Subsystem.member_id == member.id, Subsystem.code == sid.subsystem_code)
        )
        if row is None:
            raise NotFound("no such subsystem", str(sid))
        return row

    def _service(self, session: Session, sid: ServiceId) -> Service:
        sub = self._subsystem(session, sid.subsystem)
        row = session.scalar(select(Service).where(Service.subsystem_id == sub.id, Service.code == sid.service_code))
        if row is None:
            raise NotFound("no such service", str(sid))
        return row


def openapi_endpoints(openapi: dict[str, Any]) -> list[dict[str, str]]:
    """The (method, path) pairs an OpenAPI 3.x document declares.

    Raises:
        BadRequest: when the document is not OpenAPI 3.x or declares no operation.
    """
    if not isinstance(openapi, dict) or not str(openapi.get("openapi", "")).startswith("3."):
        raise BadRequest("not an OpenAPI 3.x document", "the 'openapi' field must be 3.x")
    paths = openapi.get("paths")
    if not isinstance(paths, dict):
        raise BadRequest("OpenAPI document has no paths")
    endpoints = []
    for path, operations in paths.items():
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(operations, dict):
            raise BadRequest("invalid OpenAPI path", repr(path)[:200])
        for method in operations:
            if method.upper() in HTTP_METHODS:
                endpoints.append({"method": method.upper(), "path": path})
    if not endpoints:
        raise BadRequest("OpenAPI document declares no operation")
    return endpoints
