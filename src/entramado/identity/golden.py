"""The golden record: one name, one address, one value per attribute, each with the record behind it.

Survivorship per attribute, in this order: a valid value beats a doubtful one (a cédula whose check digit is right
beats one whose is not; an unambiguous birth date beats one whose day and month could be swapped); then the source
the network trusts most for that attribute (civil registry for identity, the municipality for the address...); then
the most recent record; then the value most records agree on. The address is chosen as a whole, never street from
one record and number from another.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Attributes of the golden record and the record fields each is made of.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "given_names": ("given_names",),
    "first_surname": ("first_surname",),
    "second_surname": ("second_surname",),
    "birth_date": ("birth_date",),
    "sex": ("sex",),
    "national_id": ("national_id",),
    "address": ("street_name", "street_number", "unit", "locality", "department", "postcode"),
    "phone": ("phone",),
    "email": ("email",),
}

#: Default trust of sources per attribute (earlier is trusted more); unlisted sources come after, equal.
DEFAULT_TRUST: dict[str, tuple[str, ...]] = {
    "given_names": ("DNIC", "BPS", "DGI", "IM"),
    "first_surname": ("DNIC", "BPS", "DGI", "IM"),
    "second_surname": ("DNIC", "BPS", "DGI", "IM"),
    "birth_date": ("DNIC", "BPS", "IM", "DGI"),
    "sex": ("DNIC", "BPS", "DGI", "IM"),
    "national_id": ("DNIC", "BPS", "IM", "DGI"),
    "address": ("IM", "BPS", "DNIC", "DGI"),
    "phone": ("BPS", "IM"),
    "email": ("DGI", "IM"),
}


@dataclass(frozen=True, slots=True)
class SourceValues:
    """One record as the golden record sees it: where it comes from, when the index received it, its fields."""

    source: str
    record_id: str
    updated_at: dt.datetime
    fields: Mapping[str, Any]


def _iso(when: dt.datetime) -> str:
    # Times without an offset are UTC (as the index stores them).
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat()


def _valid(attribute: str, record: SourceValues) -> bool:
    if attribute == "national_id":
        return record.fields.get("national_id_valid") is not False
    if attribute == "birth_date":
        return not record.fields.get("birth_date_ambiguous")
    return True


def golden_record(
    records: Sequence[SourceValues], trust: Mapping[str, Sequence[str]] = DEFAULT_TRUST
) -> dict[str, dict[str, Any]]:
    """The golden record of one person's records.

    Returns:
        attribute -> ``{"value", "source", "record_id", "updated_at", "sources"}``; ``value`` is a string, or a dict
        of the address fields; ``sources`` counts the records that hold the same value. Attributes no record has
        are left out.

    Examples:
        >>> from datetime import datetime
        >>> a = SourceValues("IM", "1", datetime(2026, 1, 1), {"given_names": "PEPE", "national_id": "12345672",
        ...     "national_id_valid": True})
        >>> b = SourceValues("DNIC", "9", datetime(2025, 1, 1), {"given_names": "JOSE", "national_id": "12345678",
        ...     "national_id_valid": False})
        >>> g = golden_record([a, b])
        >>> g["given_names"]["value"], g["national_id"]["value"]
        ('JOSE', '12345672')
    """
    out: dict[str, dict[str, Any]] = {}
    for attribute, names in ATTRIBUTES.items():
        ranking = {source: rank for rank, source in enumerate(trust.get(attribute, ()))}
        candidates = []
        for record in records:
            values = tuple(record.fields.get(name) for name in names)
            if values[0] is None:
                continue
            candidates.append((values, record))
        if not candidates:
            continue
        support = Counter(values for values, _ in candidates)
        values, best = min(
            candidates,
            key=lambda c: (
                not _valid(attribute, c[1]),
                ranking.get(c[1].source, len(ranking)),
                -c[1].updated_at.timestamp(),
                -support[c[0]],
                c[1].source,
                c[1].record_id,
            ),
        )
        out[attribute] = {
            "value": dict(zip(names, values, strict=True)) if len(names) > 1 else values[0],
            "source": best.source,
            "record_id": best.record_id,
            "updated_at": _iso(best.updated_at),
            "sources": support[values],
        }
    return out
