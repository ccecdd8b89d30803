"""Standardised records as one columnar table: the input of batch linkage, of the real-time index and of the
golden record.

Each row is one source record; ``uid`` numbers the rows. Besides the standardised fields (see
:class:`~entramado.identity.mapping.StandardRecord`) each row carries the comparison keys the linker uses, computed
once here so that batch scoring (SQL) and real-time scoring (Python) read the same values:

* ``given_key``: given names with nicknames and spellings resolved (``PEPE`` -> ``JOSE``); ``given_first`` its first
  word; ``given_initials`` the initials (``JUAN P.`` and ``JUAN PABLO`` share ``JP``).
* ``surname1_key`` / ``surname2_key``: phonetic keys of each surname (``PEREYRA`` ~ ``PEREIRA``).
* ``birth_date`` as ``YYYY-MM-DD`` text and ``birth_year``; ``national_id`` as 8 digits and whether its check digit is
  right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from entramado.identity.mapping import SourceRecord, StandardRecord
from entramado.identity.standardise import StandardisationError, given_name_initials, given_name_key, surname_key

#: The columns of a record table, in order, with their Arrow types.
COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("uid", pa.int64()),
    ("source", pa.string()),
    ("record_id", pa.string()),
    ("given_names", pa.string()),
    ("given_key", pa.string()),
    ("given_first", pa.string()),
    ("given_initials", pa.string()),
    ("first_surname", pa.string()),
    ("second_surname", pa.string()),
    ("surname1_key", pa.string()),
    ("surname2_key", pa.string()),
    ("birth_date", pa.string()),
    ("birth_year", pa.int32()),
    ("birth_date_ambiguous", pa.bool_()),
    ("sex", pa.string()),
    ("national_id", pa.string()),
    ("national_id_valid", pa.bool_()),
    ("street_name", pa.string()),
    ("street_number", pa.string()),
    ("unit", pa.string()),
    ("locality", pa.string()),
    ("department", pa.string()),
    ("postcode", pa.string()),
    ("phone", pa.string()),
    ("email", pa.string()),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
SCHEMA = pa.schema(list(COLUMNS))
#: The fields that describe a person (everything but the row's identity); a record whose values here do not change
#: is an unchanged record.
PERSON_FIELDS: tuple[str, ...] = COLUMN_NAMES[3:]


def keyed_values(record: StandardRecord) -> tuple[Any, ...]:
    """The values of :data:`PERSON_FIELDS` for one standardised record, keys included."""
    given = record.given_names
    given_key = given_initials = None
    if given:
        try:
            given_key = given_name_key(given, record.sex) or None
            given_initials = given_name_initials(given, record.sex) or None
        except StandardisationError:
            given_key = given_initials = None
    s1, s2 = record.first_surname, record.second_surname
    born = record.birth_date
    nid_valid = record.national_id_valid if record.national_id else None
    return (
        given,
        given_key,
        given_key.split(" ", 1)[0] if given_key else None,
        given_initials,
        s1,
        s2,
        (surname_key(s1) or None) if s1 else None,
        (surname_key(s2) or None) if s2 else None,
        born.isoformat() if born else None,
        born.year if born else None,
        record.birth_date_ambiguous,
        record.sex,
        record.national_id,
        nid_valid,
        record.street_name,
        record.street_number,
        record.unit,
        record.locality,
        record.department,
        record.postcode,
        record.phone,
        record.email,
    )


@dataclass
class FrameBuilder:
    """Collects records column by column (cheaper than a list of rows at a million records)."""

    columns: list[list[Any]] = field(default_factory=lambda: [[] for _ in COLUMNS])

    def __len__(self) -> int:
        return len(self.columns[0])

    def add(self, source: str, record_id: str, values: Sequence[Any]) -> int:
        """Append one record and return its ``uid``."""
        uid = len(self.columns[0])
        cols = self.columns
        cols[0].append(uid)
        cols[1].append(source)
        cols[2].append(record_id)
        for column, value in zip(cols[3:], values, strict=True):
            column.append(value)
        return uid

    def add_record(self, record: SourceRecord) -> int:
        return self.add(record.source, record.record_id, keyed_values(record.standardised))

    def table(self) -> pa.Table:
        return pa.table(
            [pa.array(values, type=kind) for values, (_, kind) in zip(self.columns, COLUMNS, strict=True)],
            schema=SCHEMA,
        )
