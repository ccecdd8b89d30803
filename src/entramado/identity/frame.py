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

from entramado.identity.mapping import StandardRecord
from entramado.identity.standardise import (
    Sex,
    StandardisationError,
    given_name_initials,
    given_name_key,
    surname_key,
)

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


def _given_keys(given: str | None, sex: Sex | None) -> tuple[str | None, str | None, str | None]:
    """``given_key``, ``given_first`` and ``given_initials`` of given names."""
    if not given:
        return None, None, None
    try:
        key = given_name_key(given, sex) or None
        initials = given_name_initials(given, sex) or None
    except StandardisationError:
        return None, None, None
    return key, key.split(" ", 1)[0] if key else None, initials


def _surname_key(surname: str | None) -> str | None:
    return (surname_key(surname) or None) if surname else None


def keyed_values(record: StandardRecord) -> tuple[Any, ...]:
    """The values of :data:`PERSON_FIELDS` for one standardised record, keys included."""
    given = record.given_names
    s1, s2 = record.first_surname, record.second_surname
    born = record.birth_date
    nid_valid = record.national_id_valid if record.national_id else None
    return (
        given,
        *_given_keys(given, record.sex),
        s1,
        s2,
        _surname_key(s1),
        _surname_key(s2),
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

    def table(self) -> pa.Table:
        return pa.table(
            [pa.array(values, type=kind) for values, (_, kind) in zip(self.columns, COLUMNS, strict=True)],
            schema=SCHEMA,
        )


def frame_of(sources: Sequence[str], record_ids: Sequence[str], records: Sequence[StandardRecord]) -> pa.Table:
    """The record table of many records at once, ``uid`` from 0: what :class:`FrameBuilder` makes of them one by one,
    built column by column, with each key computed once per distinct value (names, surnames and dates repeat)."""
    given = [r.given_names for r in records]
    sex = [r.sex for r in records]
    given_pairs = list(zip(given, sex, strict=True))
    given_keys = {pair: _given_keys(*pair) for pair in set(given_pairs)}
    keyed = [given_keys[pair] for pair in given_pairs]
    first = [r.first_surname for r in records]
    second = [r.second_surname for r in records]
    surname_keys = {name: _surname_key(name) for name in {*first, *second}}
    born = [r.birth_date for r in records]
    dates = {day: (day.isoformat(), day.year) if day else (None, None) for day in set(born)}
    national_id = [r.national_id for r in records]
    columns: list[list[Any]] = [
        list(range(len(records))),
        list(sources),
        list(record_ids),
        given,
        [k[0] for k in keyed],
        [k[1] for k in keyed],
        [k[2] for k in keyed],
        first,
        second,
        [surname_keys[name] for name in first],
        [surname_keys[name] for name in second],
        [dates[day][0] for day in born],
        [dates[day][1] for day in born],
        [r.birth_date_ambiguous for r in records],
        sex,
        national_id,
        [r.national_id_valid if nid else None for r, nid in zip(records, national_id, strict=True)],
        [r.street_name for r in records],
        [r.street_number for r in records],
        [r.unit for r in records],
        [r.locality for r in records],
        [r.department for r in records],
        [r.postcode for r in records],
        [r.phone for r in records],
        [r.email for r in records],
    ]
    return pa.table(
        [pa.array(values, type=kind) for values, (_, kind) in zip(columns, COLUMNS, strict=True)], schema=SCHEMA
    )
