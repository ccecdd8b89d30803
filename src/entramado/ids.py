"""Network identifiers: ``INSTANCE/CLASS/MEMBER[/SUBSYSTEM[/SERVICE]]``.

Every code is 1-64 characters from ``[A-Za-z0-9._-]`` and is never ``.`` or ``..``, so an
identifier can always be placed in a URL path and parsed back without escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from entramado.errors import BadRequest

_CODE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def check_code(value: str, what: str) -> str:
    """Return ``value`` if it is a valid identifier code, else raise ``BadRequest``."""
    if not _CODE.fullmatch(value) or value in {".", ".."}:
        raise BadRequest(f"invalid {what} code", f"{what} code {value[:80]!r} must match [A-Za-z0-9._-]{{1,64}}")
    return value


@dataclass(frozen=True, slots=True, order=True)
class MemberId:
    instance: str
    member_class: str
    member_code: str

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.member_code}"

    @classmethod
    def parse(cls, text: str) -> MemberId:
        return _parse_memberid(text)

    @classmethod
    def _parse(cls, text: str) -> MemberId:
        parts = text.split("/")
        if len(parts) != 3:
            raise BadRequest("invalid member identifier", f"{text[:200]!r} is not INSTANCE/CLASS/MEMBER")
        return cls(
            check_code(parts[0], "instance"),
            check_code(parts[1], "member class"),
            check_code(parts[2], "member"),
        )


@dataclass(frozen=True, slots=True, order=True)
class SubsystemId:
    instance: str
    member_class: str
    member_code: str
    subsystem_code: str

    @property
    def member(self) -> MemberId:
        return MemberId(self.instance, self.member_class, self.member_code)

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.member_code}/{self.subsystem_code}"

    @classmethod
    def parse(cls, text: str) -> SubsystemId:
        return _parse_subsystemid(text)

    @classmethod
    def _parse(cls, text: str) -> SubsystemId:
        parts = text.split("/")
        if len(parts) != 4:
            raise BadRequest(
                "invalid subsystem identifier",
                f"{text[:200]!r} is not INSTANCE/CLASS/MEMBER/SUBSYSTEM",
            )
        member = MemberId.parse("/".join(parts[:3]))
        return cls(*_fields(member), check_code(parts[3], "subsystem"))


@dataclass(frozen=True, slots=True, order=True)
class ServiceId:
    instance: str
    member_class: str
    member_code: str
    subsystem_code: str
    service_code: str

    @property
    def subsystem(self) -> SubsystemId:
        return SubsystemId(self.instance, self.member_class, self.member_code, self.subsystem_code)

    @property
    def member(self) -> MemberId:
        return MemberId(self.instance, self.member_class, self.member_code)

    def __str__(self) -> str:
        return f"{self.subsystem}/{self.service_code}"

    @classmethod
    def parse(cls, text: str) -> ServiceId:
        return _parse_serviceid(text)

    @classmethod
    def _parse(cls, text: str) -> ServiceId:
        parts = text.split("/")
        if len(parts) != 5:
            raise BadRequest(
                "invalid service identifier",
                f"{text[:200]!r} is not INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE",
            )
        sub = SubsystemId.parse("/".join(parts[:4]))
        return cls(*_fields(sub.member), sub.subsystem_code, check_code(parts[4], "service"))


def _fields(member: MemberId) -> tuple[str, str, str]:
    return member.instance, member.member_class, member.member_code


# Identifiers repeat on every call; parsing each distinct one once keeps the hot path cheap.
_parse_memberid = lru_cache(maxsize=4096)(MemberId._parse)
_parse_subsystemid = lru_cache(maxsize=4096)(SubsystemId._parse)
_parse_serviceid = lru_cache(maxsize=4096)(ServiceId._parse)
