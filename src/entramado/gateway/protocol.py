"""The X-Road REST r1 request as the gateway reads it, sans I/O: path, identifiers, headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from entramado.errors import BadRequest, MissingDataSubject, MissingPurpose
from entramado.gateway.signatures import REQUEST_PASSED_ON, RESPONSE_PASSED_ON
from entramado.ids import ServiceId, SubsystemId, check_code

METASERVICES = frozenset({"listMethods", "allowedMethods", "getOpenAPI"})

# Representation headers the client may send that travel to the provider, and the ones that come
# back from the provider's system (each signed on the way between gateways).
FORWARD_REQUEST = REQUEST_PASSED_ON
FORWARD_RESPONSE = RESPONSE_PASSED_ON

_VISIBLE = re.compile(r"[\x20-\x7e]{1,200}")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
# Percent-encoded '.', '/', '\' and NUL: a service path must not smuggle traversal past us.
_ENCODED_TRAVERSAL = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request under ``/r1/`` is going."""

    service: ServiceId | None  # None for a metaservice
    provider: SubsystemId
    metaservice: str | None
    path: str  # the provider-relative path, still percent-encoded, starting with "/"


def parse_target(raw_path: str) -> Target:
    """Parse ``/r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/(SERVICE[/path] | METASERVICE)``.

    Raises:
        BadRequest: for a malformed identifier, or a path that tries to climb out of the service.
    """
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/r1/"):
        raise BadRequest("unknown route", "gateway routes start with /r1/")
    if "#" in raw_path:
        raise BadRequest("fragment in request target", "a request target has no #fragment")
    if "\\" in path or "\x00" in path or _ENCODED_TRAVERSAL.search(path):
        raise BadRequest("forbidden characters in path", "encoded '.', '/', '\\' and NUL are refused")
    parts = path[4:].split("/")
    if len(parts) < 5:
        raise BadRequest(
            "incomplete service identifier",
            "expected /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/path]",
        )
    provider = SubsystemId.parse("/".join(parts[:4]))
    code, rest = parts[4], parts[5:]
    if code in METASERVICES and not rest:
        return Target(None, provider, code, "/")
    check_code(code, "service")
    if any(segment in {".", ".."} for segment in rest):
        raise BadRequest("path traversal refused", "'.' and '..' segments are not allowed in a service path")
    service = ServiceId(*_sub_fields(provider), code)
    return Target(service, provider, None, "/" + "/".join(rest))


def _sub_fields(sub: SubsystemId) -> tuple[str, str, str, str]:
    return sub.instance, sub.member_class, sub.member_code, sub.subsystem_code


@dataclass(frozen=True, slots=True)
class CallHeaders:
    """The X-Road and Entramado headers of one call, validated."""

    client: SubsystemId
    xroad_id: str
    user_id: str | None
    issue: str | None
    represented_party: str | None
    purpose: str | None
    data_subject: str | None

    def as_headers(self) -> dict[str, str]:
        """Lower-case header names as they travel between gateways and to the provider."""
        out = {"x-road-client": str(self.client), "x-road-id": self.xroad_id}
        for name, value in (
            ("x-road-userid", self.user_id),
            ("x-road-issue", self.issue),
            ("x-road-represented-party", self.represented_party),
            ("entramado-purpose", self.purpose),
            ("entramado-data-subject", self.data_subject),
        ):
            if value is not None:
                out[name] = value
        return out


def _optional(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if not _VISIBLE.fullmatch(value):
        raise BadRequest(f"invalid {name} header", "1-200 printable ASCII characters, no control characters")
    return value


SINGLE_HEADERS = (
    "x-road-client",
    "x-road-id",
    "x-road-userid",
    "x-road-issue",
    "x-road-represented-party",
    "entramado-purpose",
    "entramado-data-subject",
    "content-digest",
    "signature",
    "signature-input",
    "content-type",
)


def refuse_repeated(counts: Mapping[str, int]) -> None:
    """A signed header sent twice would be read one way and signed another: refuse it."""
    repeated = [name for name in SINGLE_HEADERS if counts.get(name, 0) > 1]
    if repeated:
        raise BadRequest("repeated header", f"{', '.join(repeated)} must appear once")


def read_headers(headers: Mapping[str, str], *, generate_id: bool) -> CallHeaders:
    """Validate the call headers (names looked up case-insensitively by the caller's mapping).

    Args:
        headers: the request headers.
        generate_id: make an ``X-Road-Id`` when the caller sent none (client side only).
    """
    raw_client = headers.get("x-road-client")
    if not raw_client:
        raise BadRequest("X-Road-Client header is required", "INSTANCE/CLASS/MEMBER/SUBSYSTEM")
    if not _VISIBLE.fullmatch(raw_client):
        raise BadRequest("invalid X-Road-Client header", "printable ASCII only")
    client = SubsystemId.parse(raw_client)
    xroad_id = headers.get("x-road-id")
    if xroad_id is None and generate_id:
        xroad_id = uuid.uuid4().hex
    if xroad_id is None or not _MESSAGE_ID.fullmatch(xroad_id):
        raise BadRequest("invalid X-Road-Id header", "1-128 characters from [A-Za-z0-9._:@-]")
    purpose = _optional(headers, "entramado-purpose")
    if purpose is not None:
        check_code(purpose, "purpose")
    return CallHeaders(
        client,
        xroad_id,
        _optional(headers, "x-road-userid"),
        _optional(headers, "x-road-issue"),
        _optional(headers, "x-road-represented-party"),
        purpose,
        _optional(headers, "entramado-data-subject"),
    )


def require_personal_data_headers(call: CallHeaders, categories: tuple[str, ...]) -> None:
    """A service that declares personal data needs a purpose and a data subject."""
    if not categories:
        return
    if call.purpose is None:
        raise MissingPurpose(
            "Entramado-Purpose header is required",
            f"this service returns personal data ({', '.join(categories)})",
        )
    if call.data_subject is None:
        raise MissingDataSubject(
            "Entramado-Data-Subject header is required",
            "name whose personal data is read, e.g. UY-CI:12345672",
        )
