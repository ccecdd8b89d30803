"""Mapping files and source readers: how an agency's file becomes standardised person records.

``entramado identity link --mapping MAPPING.toml`` reads a mapping file that lists the sources to link::

    [[source]]
    name = "BPS"                      # the source code, used in record keys and reports
    path = "BPS.csv"                  # CSV or Parquet (.parquet, .pq), relative to the mapping file
    id = "record_id"                  # the column holding the source's record id
    encoding = "latin-1"              # optional, CSV only; default utf-8 (a byte-order mark is skipped)
    delimiter = ";"                   # optional, CSV only; default ","
    max_field_length = 10000          # optional: a row with a longer value is rejected
    missing_values = ["S/D", "-"]     # optional: cells that mean "no value" (compared without case)

    [source.fields]
    given_names = "nombres"                               # one column
    full_name = ["apellidos", "nombres"]                  # several columns, joined with spaces
    birth_date = { column = "fecha_nac", format = "%d/%m/%Y" }   # format: a strptime format, a list of them,
                                                                 # or a named format of parse_date (DMY, ISO...)
    national_id = "cedula"
    national_id_scheme = { value = "UY-CI" }              # a constant; UY-CI checks the cédula's check digit
    department = { value = "MONTEVIDEO" }                 # any field may be a constant

Canonical fields (:data:`CANONICAL_FIELDS`), all optional: ``given_names``, ``middle_name``, ``first_surname``,
``second_surname``, ``full_name`` (for sources with one name string), ``birth_date``, ``sex``, ``national_id``,
``national_id_scheme``, ``street_name``, ``street_number``, ``unit``, ``address`` (free text), ``locality``,
``department``, ``postcode``, ``phone``, ``email``.

:func:`load_mapping` validates the whole file up front and raises :class:`MappingError` naming the file and the
offending key. :func:`read_source` streams a source as :class:`SourceRecord` and :class:`Rejection` results; problems
that make the whole source unreadable (wrong encoding, a mapped column missing from the header, an empty file,
Parquet without ``pyarrow``) raise :class:`SourceError` naming the file, and the row or column.

What rejects a record and what only leaves a field empty
-------------------------------------------------------

A record is **rejected** (a :class:`Rejection` with the row and column) when it cannot be used safely:

* the row is malformed: not valid CSV, more or fewer values than the header has columns, or a value longer than
  ``max_field_length`` (an unclosed quote can swallow the rows after it into one huge value);
* the record id is empty, or repeats an id seen earlier in the source (the rejection names the first row);
* an identifying value is present but malformed: an impossible or future birth date, or one matching no format; a
  national id that is not a cédula (letters, wrong length); a name with digits; a ``full_name`` that cannot be split
  into given names and surnames;
* nothing is left to link on: no name, no birth date and no national id.

A source known to carry dirty dates or ids may say ``on_invalid = "empty"`` in the field's table
(``birth_date = { column = "fnac", format = "%Y%m%d", on_invalid = "empty" }``, also for ``national_id``): a
malformed value of that field is then left empty with a note instead of rejecting the record.

Anything else that cannot be standardised is **left empty with a note** (:attr:`StandardRecord.notes`) and the record
is kept: an unknown sex code, an unrecognised department, an address, phone, e-mail or postcode that does not parse, a
name part made only of punctuation. A cédula whose check digit does not match is kept with ``national_id_valid`` set
to ``False`` and a note, so survivorship can prefer a record with a valid one.

Row numbers count as a spreadsheet shows the file: the header is row 1, the first record row 2; a record with a quoted
line break is still one row. Blank rows are skipped and are not records. For Parquet, row 2 is the first record.
"""

from __future__ import annotations

import calendar
import codecs
import csv
import dataclasses
import difflib
import importlib
import importlib.util
import io
import operator
import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple, TypeVar, cast

from entramado.identity.standardise import (
    DATE_FORMAT_DESCRIPTIONS,
    Address,
    Cedula,
    DateFormat,
    Sex,
    StandardisationError,
    _current_date,
    cedula_check_digit,
    department,
    normalise_email,
    normalise_sex,
    normalise_text,
    parse_cedula,
    parse_date,
    parse_person_name,
    parse_phone,
    split_surnames,
    standardise_address,
)

__all__ = [
    "CANONICAL_FIELDS",
    "DEFAULT_MAX_FIELD_LENGTH",
    "NATIONAL_ID_SCHEMES",
    "FieldSpec",
    "Mapping",
    "MappingError",
    "Note",
    "RecordRejected",
    "Rejection",
    "Result",
    "Source",
    "SourceError",
    "SourceRecord",
    "SourceSummary",
    "StandardRecord",
    "Tally",
    "load_mapping",
    "read_mapping",
    "read_source",
    "standardise_fields",
    "summary",
]

#: The fields a mapping may fill, in the order they are documented.
CANONICAL_FIELDS: tuple[str, ...] = (
    "given_names",
    "middle_name",
    "first_surname",
    "second_surname",
    "full_name",
    "birth_date",
    "sex",
    "national_id",
    "national_id_scheme",
    "street_name",
    "street_number",
    "unit",
    "address",
    "locality",
    "department",
    "postcode",
    "phone",
    "email",
)

#: National id schemes a mapping may declare. ``UY-CI``: the Uruguayan cédula de identidad, check digit verified.
NATIONAL_ID_SCHEMES: tuple[str, ...] = ("UY-CI",)

#: Longest value (in characters) a row may hold in any column before it is rejected.
DEFAULT_MAX_FIELD_LENGTH = 10_000

# The csv module's own limit (131 072 characters by default) is process-wide; it is raised so that an oversized
# value is read and rejected by ``max_field_length`` with a precise message instead of failing inside the parser.
_CSV_FIELD_SIZE_LIMIT = 2**31 - 1

_SOURCE_KEYS = ("name", "path", "id", "encoding", "delimiter", "max_field_length", "missing_values", "fields")
_FIELD_TABLE_KEYS = ("column", "format", "value", "on_invalid")
#: Fields whose malformed values reject the record unless the mapping says ``on_invalid = "empty"``.
LENIENT_FIELDS = ("birth_date", "national_id")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_NAME_FIELDS = ("given_names", "middle_name", "first_surname", "second_surname", "full_name")
_SAMPLE_DATE = date(1987, 11, 23)


# --------------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------------


class MappingError(ValueError):
    """A mapping file that cannot be used: ``str(error)`` names the file, the source and the key."""

    def __init__(self, path: Path, key: str | None, message: str) -> None:
        super().__init__(f"{path}: {key}: {message}" if key else f"{path}: {message}")
        self.path = path
        self.key = key
        self.message = message


class SourceError(ValueError):
    """A source that cannot be read at all: ``str(error)`` names the file, and the row or column when known."""

    def __init__(self, path: Path, message: str, *, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.row = row
        self.column = column


class RecordRejected(ValueError):
    """Raised by :func:`standardise_fields` for a record that cannot be used; ``field`` is the canonical field or
    ``None`` when the problem is the record as a whole."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --------------------------------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where a canonical field comes from: ``columns`` (joined with spaces) or a constant ``value``.

    ``formats`` (birth dates only) are tried in order: strptime formats (they contain ``%``) or names of
    :data:`~entramado.identity.standardise.DATE_FORMAT_DESCRIPTIONS`. Empty means :func:`parse_date`'s defaults.
    ``leave_invalid_empty`` (``on_invalid = "empty"``, :data:`LENIENT_FIELDS` only): a malformed value is left empty
    with a note instead of rejecting the record.
    """

    columns: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    value: str | None = None
    leave_invalid_empty: bool = False

    @property
    def column_label(self) -> str | None:
        """The column(s) as a rejection names them: ``fecha_nac`` or ``apellidos+nombres``; ``None`` for a constant."""
        return "+".join(self.columns) or None


@dataclass(frozen=True, slots=True)
class Source:
    """One source of a mapping. ``path`` is resolved; ``fields`` maps canonical fields to their :class:`FieldSpec`."""

    name: str
    path: Path
    id_column: str
    fields: dict[str, FieldSpec]
    encoding: str = "utf-8"
    delimiter: str = ","
    max_field_length: int = DEFAULT_MAX_FIELD_LENGTH
    missing_values: frozenset[str] = frozenset()
    mapping_path: Path | None = None

    @property
    def kind(self) -> Literal["csv", "parquet"]:
        """``parquet`` for a ``.parquet`` or ``.pq`` file, ``csv`` otherwise."""
        return "parquet" if self.path.suffix.lower() in _PARQUET_SUFFIXES else "csv"

    @property
    def date_formats(self) -> tuple[str, ...]:
        spec = self.fields.get("birth_date")
        return spec.formats if spec is not None else ()

    @property
    def lenient(self) -> frozenset[str]:
        """The fields whose malformed values are left empty with a note (``on_invalid = "empty"``)."""
        return frozenset(name for name, spec in self.fields.items() if spec.leave_invalid_empty)

    def columns(self) -> dict[str, str]:
        """Every column the mapping reads -> what it is read for (``id``, ``birth_date``...), in mapping order."""
        needed = {self.id_column: "id"}
        for name, spec in self.fields.items():
            for column in spec.columns:
                needed.setdefault(column, name)
        return needed

    def where(self) -> str:
        """``source 'BPS' in /data/mapping.toml``, for messages."""
        return f"source {self.name!r}" + (f" in {self.mapping_path}" if self.mapping_path is not None else "")


@dataclass(frozen=True, slots=True)
class Mapping:
    """A loaded, validated mapping file."""

    path: Path
    sources: tuple[Source, ...]

    def source(self, name: str) -> Source:
        """The source called ``name``; ``KeyError`` if there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"{self.path}: no source named {name!r}; sources: {', '.join(s.name for s in self.sources)}")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Context:
    """Builds :class:`MappingError` for one ``[[source]]`` table."""

    def __init__(self, path: Path, index: int | None = None, name: str | None = None) -> None:
        self.path = path
        self.index = index
        self.name = name

    def error(self, key: str | None, message: str) -> MappingError:
        label = None
        if self.index is not None:
            label = f"[[source]] #{self.index}" + (f" ({self.name})" if self.name else "")
        parts = [p for p in (label, key) if p]
        return MappingError(self.path, " ".join(parts) or None, message)


def _check_date_format(fmt: str) -> str | None:
    """Why ``fmt`` is not a usable birth-date format, or ``None`` when it is."""
    if "%" in fmt:
        try:
            back = datetime.strptime(_SAMPLE_DATE.strftime(fmt), fmt).date()
        except ValueError as error:
            return f"{fmt!r} is not a valid strptime format ({error})"
        if back != _SAMPLE_DATE:
            return (
                f"{fmt!r} does not read a whole date: it needs a day (%d), a month (%m, %b or %B) and a year (%Y or %y)"
            )
        return None
    if fmt in DATE_FORMAT_DESCRIPTIONS:
        return None
    named = ", ".join(DATE_FORMAT_DESCRIPTIONS)
    return f"{fmt!r} is neither a strptime format such as '%d/%m/%Y' nor a named format ({named})"


def _columns(value: object, ctx: _Context, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        if not value.strip():
            raise ctx.error(key, "the column name is empty")
        return (value,)
    if isinstance(value, list):
        if not value:
            raise ctx.error(key, "the list of columns is empty")
        for i, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                raise ctx.error(key, f"item {i} of the list must be a column name (a non-empty string), not {item!r}")
        if len(set(value)) != len(value):
            raise ctx.error(key, "names the same column twice")
        return tuple(value)
    raise ctx.error(key, f"must be a column name or a list of column names, not {type(value).__name__}")


def _field_spec(name: str, raw: object, ctx: _Context) -> FieldSpec:
    key = f"fields.{name}"
    if name == "national_id_scheme" and not isinstance(raw, dict):
        raise ctx.error(
            key, f"is a constant, not a column: write national_id_scheme = {{ value = {NATIONAL_ID_SCHEMES[0]!r} }}"
        )
    if isinstance(raw, str | list):
        return FieldSpec(columns=_columns(raw, ctx, key))
    if not isinstance(raw, dict):
        raise ctx.error(
            key,
            f"must be a column name, a list of columns, or a table such as {{ column = ..., format = ... }} "
            f"or {{ value = ... }}, not {type(raw).__name__}",
        )
    for sub in raw:
        if sub not in _FIELD_TABLE_KEYS:
            raise ctx.error(
                f"{key}.{sub}", f"unknown key{_suggest(sub, _FIELD_TABLE_KEYS)} (known: {', '.join(_FIELD_TABLE_KEYS)})"
            )
    if "value" in raw:
        if "column" in raw:
            raise ctx.error(key, "give either column or value (a constant), not both")
        if "format" in raw:
            raise ctx.error(f"{key}.format", "a constant takes no format")
        if "on_invalid" in raw:
            raise ctx.error(f"{key}.on_invalid", "a constant takes no on_invalid")
        value = raw["value"]
        if not isinstance(value, str) or not value.strip():
            raise ctx.error(f"{key}.value", f"a constant must be a non-empty string, not {value!r}")
        if name == "national_id_scheme" and value.strip().upper() not in NATIONAL_ID_SCHEMES:
            raise ctx.error(
                f"{key}.value", f"unknown scheme {value!r}; known schemes: {', '.join(NATIONAL_ID_SCHEMES)}"
            )
        return FieldSpec(value=value.strip().upper() if name == "national_id_scheme" else value)
    if name == "national_id_scheme":
        raise ctx.error(key, f"is a constant: write national_id_scheme = {{ value = {NATIONAL_ID_SCHEMES[0]!r} }}")
    if "column" not in raw:
        raise ctx.error(key, "needs column (or value, for a constant)")
    columns = _columns(raw["column"], ctx, f"{key}.column")
    formats: tuple[str, ...] = ()
    if "format" in raw:
        if name != "birth_date":
            raise ctx.error(f"{key}.format", "format applies to birth_date only")
        fmt = raw["format"]
        items = fmt if isinstance(fmt, list) else [fmt]
        if not items:
            raise ctx.error(f"{key}.format", "the list of formats is empty")
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise ctx.error(f"{key}.format", f"a format must be a non-empty string, not {item!r}")
            problem = _check_date_format(item)
            if problem:
                raise ctx.error(f"{key}.format", problem)
        formats = tuple(items)
    leave_empty = False
    if "on_invalid" in raw:
        if name not in LENIENT_FIELDS:
            raise ctx.error(f"{key}.on_invalid", f"applies to {' and '.join(LENIENT_FIELDS)} only")
        if raw["on_invalid"] not in ("reject", "empty"):
            raise ctx.error(f"{key}.on_invalid", f"is 'reject' (the default) or 'empty', not {raw['on_invalid']!r}")
        leave_empty = raw["on_invalid"] == "empty"
    return FieldSpec(columns=columns, formats=formats, leave_invalid_empty=leave_empty)


def _required_string(raw: dict[str, Any], key: str, ctx: _Context) -> str:
    if key not in raw:
        raise ctx.error(key, "is missing")
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(key, f"must be a non-empty string, not {value!r}")
    return value


def _parse_source(raw: object, index: int, mapping_path: Path) -> Source:
    ctx = _Context(mapping_path, index)
    if not isinstance(raw, dict):
        raise ctx.error(None, "must be a table")
    name_raw = raw.get("name")
    ctx.name = name_raw if isinstance(name_raw, str) and name_raw.strip() else None
    for key in raw:
        if key not in _SOURCE_KEYS:
            raise ctx.error(key, f"unknown key{_suggest(key, _SOURCE_KEYS)} (known: {', '.join(_SOURCE_KEYS)})")
    name = _required_string(raw, "name", ctx)
    if not _SOURCE_NAME.fullmatch(name):
        raise ctx.error("name", f"{name!r} is not a source code: use letters, digits, '_', '.' and '-'")
    path_text = _required_string(raw, "path", ctx)
    id_column = _required_string(raw, "id", ctx)

    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = mapping_path.parent / path
    if not path.exists():
        raise ctx.error("path", f"file not found: {path} (a relative path is read from the mapping file's folder)")
    if not path.is_file():
        raise ctx.error("path", f"{path} is not a file")
    parquet = path.suffix.lower() in _PARQUET_SUFFIXES

    encoding = "utf-8"
    if "encoding" in raw:
        value = raw["encoding"]
        if parquet:
            raise ctx.error("encoding", "applies to CSV only; Parquet text is always UTF-8")
        if not isinstance(value, str):
            raise ctx.error("encoding", f"must be a string such as 'utf-8' or 'latin-1', not {value!r}")
        try:
            codecs.lookup(value)
        except LookupError:
            raise ctx.error("encoding", f"unknown encoding {value!r} (try 'utf-8', 'latin-1' or 'cp1252')") from None
        encoding = value
    delimiter = ","
    if "delimiter" in raw:
        value = raw["delimiter"]
        if parquet:
            raise ctx.error("delimiter", "applies to CSV only")
        if not isinstance(value, str) or len(value) != 1 or value in '"\r\n':
            raise ctx.error("delimiter", f"must be one character other than a quote or a line break, not {value!r}")
        delimiter = value
    max_field_length = DEFAULT_MAX_FIELD_LENGTH
    if "max_field_length" in raw:
        value = raw["max_field_length"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ctx.error("max_field_length", f"must be a positive whole number of characters, not {value!r}")
        max_field_length = value
    missing: frozenset[str] = frozenset()
    if "missing_values" in raw:
        value = raw["missing_values"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ctx.error("missing_values", f"must be a list of strings, not {value!r}")
        missing = frozenset(v.strip().upper() for v in value)

    if "fields" not in raw:
        raise ctx.error("fields", "is missing: add a [source.fields] table mapping canonical fields to columns")
    fields_raw = raw["fields"]
    if not isinstance(fields_raw, dict):
        raise ctx.error("fields", "must be a table ([source.fields])")
    if not fields_raw:
        raise ctx.error("fields", "maps no fields")
    fields: dict[str, FieldSpec] = {}
    for field_name, spec in fields_raw.items():
        if field_name not in CANONICAL_FIELDS:
            raise ctx.error(
                f"fields.{field_name}",
                f"unknown canonical field{_suggest(field_name, CANONICAL_FIELDS)} "
                f"(known: {', '.join(CANONICAL_FIELDS)})",
            )
        fields[field_name] = _field_spec(field_name, spec, ctx)
    if "national_id_scheme" in fields and "national_id" not in fields:
        raise ctx.error("fields.national_id_scheme", "is declared but national_id is not mapped")
    if all(spec.value is not None for spec in fields.values()):
        raise ctx.error("fields", "maps only constants; map at least one column")
    if parquet and not _has_pyarrow():
        raise ctx.error("path", f"{path} is Parquet, and reading Parquet needs pyarrow: pip install pyarrow")
    return Source(
        name=name,
        path=path,
        id_column=id_column,
        fields=fields,
        encoding=encoding,
        delimiter=delimiter,
        max_field_length=max_field_length,
        missing_values=missing,
        mapping_path=mapping_path,
    )


def load_mapping(path: str | os.PathLike[str]) -> Mapping:
    """Read and validate a mapping file; raises :class:`MappingError` naming the file and the offending key.

    Checked: TOML syntax; known keys everywhere (with a suggestion for a misspelt one); ``name``, ``path`` and ``id``
    present; unique source names; the source file exists; encoding and delimiter; canonical field names; column, list
    and table forms; date formats; the national id scheme. Columns are checked against the file when it is read.
    """
    mapping_path = Path(path)
    try:
        with mapping_path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise MappingError(mapping_path, None, "mapping file not found") from None
    except IsADirectoryError:
        raise MappingError(mapping_path, None, "is a folder, not a mapping file") from None
    except tomllib.TOMLDecodeError as error:
        raise MappingError(mapping_path, None, f"not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise MappingError(mapping_path, None, f"not valid UTF-8 (TOML files are UTF-8): {error}") from None
    ctx = _Context(mapping_path)
    for key in document:
        if key != "source":
            raise ctx.error(key, f"unknown key{_suggest(key, ['source'])}; a mapping file holds [[source]] tables")
    raw_sources = document.get("source")
    if raw_sources is None:
        raise ctx.error(None, "lists no sources: add a [[source]] table for each file to link")
    if not isinstance(raw_sources, list):
        raise ctx.error("source", "must be an array of tables: write [[source]], not [source]")
    sources: list[Source] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_sources, 1):
        source = _parse_source(raw, index, mapping_path)
        if source.name in first_index:
            raise _Context(mapping_path, index, source.name).error(
                "name", f"duplicate source name {source.name!r}; [[source]] #{first_index[source.name]} has it too"
            )
        first_index[source.name] = index
        sources.append(source)
    return Mapping(mapping_path, tuple(sources))


# --------------------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Note:
    """Why a field was left empty or flagged; ``message`` reads ``phone '12': has 2 digits; ...``."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class StandardRecord:
    """A record's fields standardised for matching; ``None`` means absent or left empty (see ``notes``).

    Text is upper case without accents (:func:`~entramado.identity.standardise.normalise_text`). ``national_id`` is
    the 8-digit cédula (``12345672``); ``national_id_valid`` is the check-digit result under the ``UY-CI`` scheme and
    ``None`` when no scheme is declared. ``birth_date_ambiguous`` says day and month could be swapped. ``phone`` is
    E.164. ``unit`` uses canonical labels (``APTO 502``).
    """

    given_names: str | None = None
    first_surname: str | None = None
    second_surname: str | None = None
    birth_date: date | None = None
    birth_date_ambiguous: bool = False
    sex: Sex | None = None
    national_id: str | None = None
    national_id_valid: bool | None = None
    street_type: str | None = None
    street_name: str | None = None
    street_number: str | None = None
    unit: str | None = None
    locality: str | None = None
    department: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None
    notes: list[Note] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A usable record: its source, id, raw values by canonical field (non-empty ones), and the standardised form."""

    source: str
    record_id: str
    fields: dict[str, str]
    standardised: StandardRecord
    row: int = 0


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that cannot be used: where it is (``row`` counts the header as row 1), which column, and why."""

    source: str
    path: Path
    row: int
    column: str | None
    reason: str
    record_id: str | None = None

    def __str__(self) -> str:
        column = f", column {self.column!r}" if self.column else ""
        return f"{self.path} row {self.row}{column}: {self.reason}"


Result = SourceRecord | Rejection


class _Rejected(NamedTuple):
    """A cached outcome that rejects the record; it is raised as a new :class:`RecordRejected` on every use."""

    field: str
    reason: str


# Standardising a field is a pure function of its raw value, and values repeat heavily in a person index (a few
# thousand given names and surnames, sex codes, departments, some tens of thousands of dates, a household's address on
# each member's record), so the outcome of each step below is kept: the value, the Note that leaves it empty, or the
# _Rejected that rejects the record. Outcomes are immutable; each record still gets its own list of notes. The size
# holds about one large source's distinct addresses; the least recently used outcomes are dropped first.
_FIELD_CACHE_SIZE = 1 << 17
_T = TypeVar("_T")
_BARE_UNIT = re.compile(r"\d+[A-Z]?|[A-Z]\d*")
_POSTCODE = re.compile(r"\d{5}")


def _left_empty(field: str, error: StandardisationError) -> Note:
    return Note(field, str(StandardisationError(field, error.value, error.reason + "; left empty")))


def _rejected(field: str, error: StandardisationError) -> _Rejected:
    return _Rejected(field, str(StandardisationError(field, error.value, error.reason)))


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _name_outcome(field: str, text: str, keep_hyphens: bool) -> tuple[str | None, Note | None] | _Rejected:
    normalised = normalise_text(text, keep_hyphens=keep_hyphens)
    if not normalised:
        return None, Note(field, f"{field} {text!r}: has no letters; left empty")
    digits = sorted({ch for ch in normalised if ch.isdigit()})
    if digits:
        error = StandardisationError(field, text, f"contains digits ({''.join(digits)}); names have none")
        return _Rejected(field, str(error))
    return normalised, None


def _name_text(field: str, text: str, notes: list[Note], *, keep_hyphens: bool = True) -> str | None:
    outcome = _name_outcome(field, text, keep_hyphens)
    if isinstance(outcome, _Rejected):
        raise RecordRejected(outcome.field, outcome.reason)
    value, note = outcome
    if note is not None:
        notes.append(note)
    return value


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _surnames_outcome(text: str) -> tuple[str | None, str | None, Note | None] | _Rejected:
    """First and second surname from a first-surname column that may hold both."""
    outcome = _name_outcome("first_surname", text, True)
    if isinstance(outcome, _Rejected):
        return outcome
    if outcome[0] is None:
        return None, None, outcome[1]
    try:
        surnames = split_surnames(text)
    except StandardisationError as error:
        return _rejected("first_surname", error)
    return surnames.first, surnames.second, None


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _full_name_outcome(text: str) -> tuple[str, str, str | None] | _Rejected:
    try:
        name = parse_person_name(text)
    except StandardisationError as error:
        return _rejected("full_name", error)
    return normalise_text(name.given_names, keep_hyphens=False), name.first_surname, name.second_surname


# strptime formats read by a regular expression when the value has exactly this shape, in ASCII digits, and is a real
# date: strptime's own pattern for %d and %m takes two digits before one where it can, so it splits such a value the
# same way and returns the same date. Anything else (other digits, spaces, an impossible date) goes to strptime, for
# its result or its error message. The groups are day, month, year.
_DATE_SHAPES: dict[str, re.Pattern[str]] = {
    "%d/%m/%Y": re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})"),
    "%d-%m-%Y": re.compile(r"([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})"),
    "%d.%m.%Y": re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})"),
    "%d%m%Y": re.compile(r"([0-9]{2})([0-9]{2})([0-9]{4})"),
}


def _strptime_date(value: str, fmt: str) -> date:
    """``datetime.strptime(value, fmt).date()``, without strptime for the usual numeric shapes."""
    shape = _DATE_SHAPES.get(fmt)
    if shape is not None and (m := shape.fullmatch(value)) is not None:
        day, month, year = int(m[1]), int(m[2]), int(m[3])
        if year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
            return date(year, month, day)
    return datetime.strptime(value, fmt).date()


def _birth_date(text: str, formats: Sequence[str], today: date, pivot: int) -> tuple[date, bool]:
    field = "birth_date"
    if not formats:
        parsed = parse_date(text, field=field, not_after=today, pivot=pivot)
        return parsed.value, parsed.day_month_ambiguous
    value = " ".join(text.split())
    first_error: StandardisationError | None = None
    for fmt in formats:
        try:
            if "%" not in fmt:
                parsed = parse_date(value, [cast(DateFormat, fmt)], field=field, not_after=today, pivot=pivot)
                return parsed.value, parsed.day_month_ambiguous
            try:
                found = _strptime_date(value, fmt)
            except ValueError as error:
                if "does not match format" in str(error) or "unconverted data remains" in str(error):
                    raise StandardisationError(field, text, f"does not match the format {fmt!r}") from None
                raise StandardisationError(field, text, f"is not a real date in the format {fmt!r} ({error})") from None
            if "%y" in fmt and found > today:
                found = found.replace(year=found.year - 100)  # a two-digit birth year is in the past
            if found > today:
                raise StandardisationError(
                    field, text, f"{found.isoformat()} is after today ({today.isoformat()}); births are in the past"
                )
            textual = any(d in fmt for d in ("%b", "%B"))
            ambiguous = not textual and found.day <= 12 and found.month <= 12 and found.day != found.month
            return found, ambiguous
        except StandardisationError as error:
            if first_error is None or ("does not match" in first_error.reason and "does not match" not in error.reason):
                first_error = error
    assert first_error is not None
    raise first_error


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _birth_date_outcome(text: str, formats: tuple[str, ...], today: date, pivot: int) -> tuple[date, bool] | _Rejected:
    """:func:`_birth_date`; ``pivot`` is the two-digit-year pivot of :func:`parse_date`, passed so that the outcome
    depends on the arguments only."""
    try:
        return _birth_date(text, formats, today, pivot)
    except StandardisationError as error:
        return _Rejected("birth_date", str(error))


def _value_or_note(field: str, standardise: Callable[[str], _T], text: str) -> tuple[_T | None, Note | None]:
    """``standardise(text)``, or nothing and the note that leaves ``field`` empty."""
    try:
        return standardise(text), None
    except StandardisationError as error:
        return None, _left_empty(field, error)


@lru_cache(maxsize=1024)
def _sex_outcome(text: str) -> tuple[Sex | None, Note | None]:
    return _value_or_note("sex", normalise_sex, text)


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _address_outcome(text: str) -> Address | Note:
    try:
        return standardise_address(text)
    except StandardisationError as error:
        return _left_empty("address", error)


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _department_outcome(text: str) -> tuple[str | None, Note | None]:
    name = department(text)
    if name is None:
        return None, Note("department", f"department {text!r}: not a known department; left empty")
    return name, None


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _phone_outcome(text: str) -> tuple[str | None, Note | None]:
    return _value_or_note("phone", lambda value: parse_phone(value).e164, text)


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _email_outcome(text: str) -> tuple[str | None, Note | None]:
    return _value_or_note("email", normalise_email, text)


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _street(text: str) -> tuple[str | None, str | None]:
    """Street type and name from a street-name column (``Av. Italia`` -> ``AVENIDA``, ``ITALIA``)."""
    try:
        parsed = standardise_address(text)
    except StandardisationError:
        return None, normalise_text(text) or None
    simple = parsed.number is None and parsed.unit is None and parsed.km is None and parsed.corner is None
    if simple and parsed.street_name is not None and parsed.extra is None and parsed.locality is None:
        return parsed.street_type, parsed.street_name
    return None, normalise_text(text) or None


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _door(text: str) -> str | None:
    normalised = normalise_text(text)
    if normalised in ("S N", "SN", "S-N"):
        return None
    if normalised.isdigit():
        return normalised.lstrip("0") or "0"
    return normalised or None


@lru_cache(maxsize=_FIELD_CACHE_SIZE)
def _unit(text: str) -> str | None:
    normalised = normalise_text(text)
    if not normalised:
        return None
    if _BARE_UNIT.fullmatch(normalised):
        return f"APTO {normalised}"  # a bare identifier, as in a column called "apto"
    try:
        parsed = standardise_address(f"CALLE X 1 {text}")
    except StandardisationError:
        return normalised
    return parsed.unit if parsed.unit is not None and parsed.extra is None else normalised


def standardise_fields(
    fields: dict[str, str],
    *,
    date_formats: Sequence[str] = (),
    today: date | None = None,
    lenient: frozenset[str] = frozenset(),
) -> StandardRecord:
    """Standardise a record's raw values, keyed by canonical field (absent or ``""`` means no value).

    Raises :class:`RecordRejected` when the record cannot be used (see the module documentation); other problems
    leave the field empty and add a :class:`Note`. ``date_formats`` are the birth-date formats of the mapping;
    ``today`` (default: today) bounds birth dates. Malformed values of the ``lenient`` fields (of
    :data:`LENIENT_FIELDS`) are left empty with a note instead of rejecting the record.
    """
    get = fields.get
    notes: list[Note] = []
    record = StandardRecord(notes=notes)

    # Names: structured parts win; full_name is read when neither given names nor first surname is there.
    given, middle = get("given_names", "").strip(), get("middle_name", "").strip()
    if given and middle:
        given = f"{given} {middle}"
    elif middle:
        given = middle
    first, second = get("first_surname", "").strip(), get("second_surname", "").strip()
    if given:
        record.given_names = _name_text("given_names", given, notes, keep_hyphens=False)
    if first and second:
        record.first_surname = _name_text("first_surname", first, notes)
        record.second_surname = _name_text("second_surname", second, notes)
    elif first:
        surnames = _surnames_outcome(first)  # one column may hold both surnames
        if isinstance(surnames, _Rejected):
            raise RecordRejected(surnames.field, surnames.reason)
        record.first_surname, record.second_surname, note = surnames
        if note is not None:
            notes.append(note)
    elif second:
        record.second_surname = _name_text("second_surname", second, notes)
    if not given and not first and (full := get("full_name", "").strip()):
        name = _full_name_outcome(full)
        if isinstance(name, _Rejected):
            raise RecordRejected(name.field, name.reason)
        record.given_names, record.first_surname, record.second_surname = name

    if born := get("birth_date", "").strip():
        now = _current_date()
        parsed_date = _birth_date_outcome(born, tuple(date_formats), today or now, now.year % 100)
        if not isinstance(parsed_date, _Rejected):
            record.birth_date, record.birth_date_ambiguous = parsed_date
        elif "birth_date" in lenient:
            notes.append(Note("birth_date", parsed_date.reason + "; left empty"))
        else:
            raise RecordRejected(parsed_date.field, parsed_date.reason)

    if code := get("sex", "").strip():
        record.sex, note = _sex_outcome(code)
        if note is not None:
            notes.append(note)

    if national_id := get("national_id", "").strip():
        cedula: Cedula | None
        try:
            cedula = parse_cedula(national_id)
        except StandardisationError as error:
            rejected = _rejected("national_id", error)
            if "national_id" not in lenient:
                raise RecordRejected(rejected.field, rejected.reason) from None
            notes.append(Note("national_id", rejected.reason + "; left empty"))
            cedula = None
        if cedula is not None:
            record.national_id = cedula.digits
        if cedula is not None and get("national_id_scheme", "").strip().upper() == "UY-CI":
            record.national_id_valid = cedula.valid
            if not cedula.valid:
                expected = cedula_check_digit(cedula.body)
                notes.append(
                    Note(
                        "national_id",
                        f"national_id {national_id!r}: check digit {cedula.check_digit} does not match "
                        f"(expected {expected}); kept, flagged invalid",
                    )
                )

    if address := get("address", "").strip():
        parsed = _address_outcome(address)
        if isinstance(parsed, Note):
            notes.append(parsed)
        else:
            record.street_type, record.street_name = parsed.street_type, parsed.street_name
            record.street_number, record.unit, record.locality = parsed.number, parsed.unit, parsed.locality
    if text := get("street_name", "").strip():
        record.street_type, record.street_name = _street(text)
    if text := get("street_number", "").strip():
        record.street_number = _door(text)
    if text := get("unit", "").strip():
        record.unit = _unit(text)
    if text := get("locality", "").strip():
        record.locality = normalise_text(text) or None

    if text := get("department", "").strip():
        record.department, note = _department_outcome(text)
        if note is not None:
            notes.append(note)

    if postcode := get("postcode", "").strip():
        compact = "".join(postcode.split())
        if _POSTCODE.fullmatch(compact):
            record.postcode = compact
        else:
            notes.append(Note("postcode", f"postcode {postcode!r}: a postcode has 5 digits; left empty"))

    if text := get("phone", "").strip():
        record.phone, note = _phone_outcome(text)
        if note is not None:
            notes.append(note)

    if text := get("email", "").strip():
        record.email, note = _email_outcome(text)
        if note is not None:
            notes.append(note)

    if record.given_names is None and record.first_surname is None and record.second_surname is None:
        if record.birth_date is None and record.national_id is None:
            raise RecordRejected(None, "has no name, birth date or national id: nothing to link on")
    return record


# --------------------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------------------


def _has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


# A row as the readers yield it: its number, the mapped columns' values in the order of Source.columns() (the record
# id first) or None when the row is rejected, and then the column and the reason of the rejection. A plain tuple, as
# one is built for every row.
_Row = tuple[int, tuple[str, ...] | None, str | None, str]


def _rejected_row(number: int, column: str | None, reason: str) -> _Row:
    return number, None, column, reason


class _DecodeFailure(Exception):
    def __init__(self, line: int, error: UnicodeDecodeError) -> None:
        super().__init__(str(error))
        self.line = line
        self.error = error


# Bytes of whole lines decoded at a time.
_DECODE_BLOCK = 1 << 20


def _decoded_lines(handle: BinaryIO, encoding: str) -> Iterator[str]:
    """Lines (ending in ``\\n`` except perhaps the last), decoded a block at a time; a bad byte still names its line.

    A block that does not decode is decoded again line by line from the decoder's state before it: the lines before
    the bad byte are yielded and the error names the line it is on.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 0
    pending = ""
    while block := handle.readlines(_DECODE_BLOCK):
        state = decoder.getstate()
        try:
            text = pending + decoder.decode(b"".join(block))
        except UnicodeDecodeError:
            decoder.setstate(state)
            for raw in block:
                try:
                    pending += decoder.decode(raw)
                except UnicodeDecodeError as error:
                    raise _DecodeFailure(line + 1, error) from None
                parts = pending.split("\n")
                pending = parts.pop()
                for part in parts:
                    line += 1
                    yield part + "\n"
            continue
        end = text.rfind("\n") + 1
        pending = text[end:]
        line += text.count("\n", 0, end)
        # newline="\n": lines end at \n only and come out untranslated (a \r stays in the value, as csv expects).
        yield from io.StringIO(text[:end], newline="\n")
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise _DecodeFailure(line + 1, error) from None
    if pending:
        yield pending


def _header_index(source: Source, header: Sequence[str]) -> dict[str, int]:
    """Mapped column -> its position in ``header``; :class:`SourceError` listing every missing column."""
    positions: dict[str, list[int]] = {}
    for i, column in enumerate(header):
        positions.setdefault(column, []).append(i)
    problems: list[str] = []
    first_missing: str | None = None
    index: dict[str, int] = {}
    folded = {column.strip().casefold(): column for column in header}
    for column, use in source.columns().items():
        found = positions.get(column)
        what = "the record id" if use == "id" else f"field {use}"
        if found is None:
            first_missing = first_missing or column
            close = difflib.get_close_matches(column, [c for c in header if c], n=3, cutoff=0.6)
            same = folded.get(column.strip().casefold())
            if same is not None and same not in close:
                close.insert(0, same)
            if close:
                hint = "closest: " + ", ".join(repr(c) for c in close)
            else:
                shown = ", ".join(repr(c) for c in header[:20]) + (", ..." if len(header) > 20 else "")
                hint = f"the columns are {shown}"
            problems.append(f"column {column!r} ({what}) is not in the header; {hint}")
        elif len(found) > 1:
            first_missing = first_missing or column
            problems.append(f"column {column!r} ({what}) appears {len(found)} times in the header")
        else:
            index[column] = found[0]
    if problems:
        raise SourceError(
            source.path,
            f"{source.path}: " + "; ".join(problems) + f" (mapping of {source.where()})",
            row=1,
            column=first_missing,
        )
    return index


def _too_long(source: Source, column: str, value: str, row: int) -> _Row:
    reason = f"is {len(value):,} characters long; the limit is {source.max_field_length:,} (max_field_length)"
    breaks = value.count("\n")
    if breaks:
        reason += (
            f'; it spans {breaks + 1} lines, so an unclosed quote (") may have joined the rows after it into this one'
        )
    return _rejected_row(row, column, reason)


def _picker(positions: Sequence[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A function taking the values at ``positions`` out of a row, as a tuple."""
    if len(positions) == 1:
        (position,) = positions
        return lambda cells: (cells[position],)
    return cast(Callable[[Sequence[str]], tuple[str, ...]], operator.itemgetter(*positions))


def _csv_rows(source: Source) -> Iterator[_Row]:
    path = source.path
    if path.stat().st_size == 0:
        raise SourceError(path, f"{path}: the file is empty (0 bytes); expected a header row naming the columns", row=1)
    if csv.field_size_limit() < _CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(_CSV_FIELD_SIZE_LIMIT)
    encoding = "utf-8-sig" if codecs.lookup(source.encoding).name == "utf-8" else source.encoding
    with path.open("rb") as handle:
        reader = csv.reader(_decoded_lines(handle, encoding), delimiter=source.delimiter)
        header: list[str] | None = None
        pick: Callable[[Sequence[str]], tuple[str, ...]] | None = None
        width = 0
        limit = source.max_field_length
        row = 0
        while True:
            row += 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except _DecodeFailure as failure:
                error = failure.error
                bad = error.object[error.start : error.end]
                tip = (
                    'set encoding = "latin-1" (or "cp1252") for this source in the mapping file'
                    if codecs.lookup(source.encoding).name in ("utf-8", "ascii")
                    else "set the encoding key of this source to the file's real encoding"
                )
                raise SourceError(
                    path,
                    f"{path}: row {row} (line {failure.line}) is not valid {source.encoding}: "
                    f"byte{'s' if len(bad) > 1 else ''} {bad.hex(' ')} cannot be decoded ({error.reason}). "
                    f"The file is probably in another encoding: if it comes from Windows or an older system, "
                    f"{tip} ({source.where()}).",
                    row=row,
                ) from None
            except csv.Error as error:
                if header is None:
                    raise SourceError(
                        path, f"{path}: row {row}: the header is not valid CSV ({error})", row=row
                    ) from None
                reason = str(error)
                if "new-line character seen in unquoted field" in reason:
                    reason = (
                        "a carriage return (\\r) inside an unquoted value; quote the value or remove the line break"
                    )
                yield _rejected_row(row, None, f"is not valid CSV: {reason}")
                continue
            if not any(map(str.strip, cells)):
                continue  # a blank row is not a record
            if header is None or pick is None:
                header = cells  # utf-8 is read as utf-8-sig, so a byte-order mark is not part of the first name
                pick = _picker(list(_header_index(source, header).values()))
                width = len(header)
                continue
            if max(map(len, cells)) > limit:
                long = next(i for i, cell in enumerate(cells) if len(cell) > limit)
                column = header[long] if long < width else f"#{long + 1} (beyond the header)"
                yield _too_long(source, column, cells[long], row)
                continue
            if len(cells) != width:
                if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
                    cells = cells[:width]  # trailing delimiters
                else:
                    yield _rejected_row(
                        row,
                        None,
                        f"has {len(cells)} values but the header has {width} columns "
                        f"(check the delimiter {source.delimiter!r} and the quoting)",
                    )
                    continue
            yield row, pick(cells), None, ""
        if header is None:
            raise SourceError(path, f"{path}: the file has no header row (only blank lines)", row=1)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parquet_rows(source: Source) -> Iterator[_Row]:
    path = source.path
    if not _has_pyarrow():
        raise SourceError(
            path, f"{path}: reading Parquet needs pyarrow, which is not installed (pip install pyarrow)", row=None
        )
    parquet: Any = importlib.import_module("pyarrow.parquet")
    try:
        handle = parquet.ParquetFile(str(path))
        header = list(handle.schema_arrow.names)
    except Exception as error:
        raise SourceError(path, f"{path}: cannot be read as Parquet ({error})") from None
    columns = list(_header_index(source, header))
    row = 1
    for batch in handle.iter_batches(columns=columns, batch_size=8192):
        for item in batch.to_pylist():
            row += 1
            values = tuple(_cell_text(item.get(column)) for column in columns)
            if not any(v.strip() for v in values):
                continue
            long = next((i for i, v in enumerate(values) if len(v) > source.max_field_length), None)
            if long is not None:
                yield _too_long(source, columns[long], values[long], row)
                continue
            yield row, values, None, ""


# How a source's raw fields are built from a row's mapped values: for each field, in mapping order, its name and
# either its constant or the positions of its columns among the values.
_FieldPlan = tuple[tuple[str, str | None, tuple[int, ...]], ...]


def _field_plan(source: Source) -> _FieldPlan:
    position = {column: i for i, column in enumerate(source.columns())}
    return tuple((name, spec.value, tuple(position[c] for c in spec.columns)) for name, spec in source.fields.items())


def _raw_fields(plan: _FieldPlan, missing: frozenset[str], values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, constant, positions in plan:
        if constant is not None:
            out[name] = constant
        elif len(positions) == 1:
            text = values[positions[0]].strip()
            if text and not (missing and text.upper() in missing):
                out[name] = text
        else:
            parts = [values[i].strip() for i in positions]
            text = " ".join(p for p in parts if p and p.upper() not in missing)
            if text:
                out[name] = text
    return out


def read_source(
    source: Source, *, today: date | None = None, rows: tuple[int, int | None] = (2, None)
) -> Iterator[Result]:
    """Stream a source's rows as :class:`SourceRecord` and :class:`Rejection` results, in file order.

    ``rows`` = ``(start, stop)`` reads part of the source: the results of rows ``start`` (inclusive) to ``stop``
    (exclusive, ``None`` for the end), so that several processes can share a large source. The rows before ``start``
    are still parsed, without being standardised, so that row numbers and duplicate ids come out as in a whole read.

    Raises :class:`SourceError` (naming the file, and the row or column) when the source cannot be read at all: an
    empty file (0 bytes), a byte that is not valid in the declared encoding (the rows before it have been yielded),
    a mapped column missing from the header (with the closest column names), Parquet without ``pyarrow``. A header
    without rows yields nothing. Everything wrong with a single row is a :class:`Rejection`; reading goes on.
    Record ids are remembered to reject duplicates (about 100 bytes each).
    """
    parsed = _parquet_rows(source) if source.kind == "parquet" else _csv_rows(source)
    name, path, id_column, missing = source.name, source.path, source.id_column, source.missing_values
    plan = _field_plan(source)
    date_formats, lenient = source.date_formats, source.lenient
    start, stop = rows
    seen: dict[str, int] = {}
    for number, values, column, reason in parsed:
        if stop is not None and number >= stop:
            break
        before = number < start
        if values is None:
            if not before:
                yield Rejection(name, path, number, column, reason)
            continue
        record_id = values[0].strip()  # the record id comes first (Source.columns)
        if not record_id or (missing and record_id.upper() in missing):
            if not before:
                yield Rejection(name, path, number, id_column, "the record id is empty")
            continue
        first = seen.get(record_id)
        if first is not None:
            if not before:
                reason = f"record id {record_id!r} is also on row {first}; only the first is kept"
                yield Rejection(name, path, number, id_column, reason, record_id)
            continue
        seen[record_id] = number
        if before:
            continue
        raw = _raw_fields(plan, missing, values)
        try:
            standardised = standardise_fields(raw, date_formats=date_formats, today=today, lenient=lenient)
        except RecordRejected as error:
            spec = source.fields.get(error.field) if error.field else None
            column = spec.column_label if spec is not None else None
            yield Rejection(name, path, number, column, error.reason, record_id)
            continue
        yield SourceRecord(name, record_id, raw, standardised, number)


def read_mapping(mapping: Mapping, *, today: date | None = None) -> Iterator[Result]:
    """Every source of ``mapping`` in turn, as :func:`read_source` reads it."""
    for source in mapping.sources:
        yield from read_source(source, today=today)


# --------------------------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SourceSummary:
    """Counts for one source. Every result read is accepted or rejected, so ``read == accepted + rejected``."""

    source: str
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_column: Counter[str] = dataclasses.field(default_factory=Counter)
    notes_by_field: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, result: Result) -> None:
        if result.source != self.source:
            raise ValueError(f"a result of source {result.source!r} added to the summary of {self.source!r}")
        self.read += 1
        if isinstance(result, Rejection):
            self.rejected += 1
            self.rejected_by_column[result.column or "(row)"] += 1
        else:
            self.accepted += 1
            self.notes_by_field.update({note.field for note in result.standardised.notes})


class Tally:
    """Per-source counts kept while results stream past: ``for r in tally.counting(read_source(s)): ...``."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceSummary] = {}

    def add(self, result: Result) -> None:
        summary = self.sources.get(result.source)
        if summary is None:
            summary = self.sources[result.source] = SourceSummary(result.source)
        summary.add(result)

    def counting(self, results: Iterable[Result]) -> Iterator[Result]:
        for result in results:
            self.add(result)
            yield result


def summary(results: Iterable[Result]) -> dict[str, SourceSummary]:
    """Read / accepted / rejected counts per source, consuming ``results``."""
    tally = Tally()
    for result in results:
        tally.add(result)
    return tally.sources
