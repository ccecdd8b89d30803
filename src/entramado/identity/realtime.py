"""Real-time matching: the best person for one new record, in milliseconds, over an in-memory index of records.

Batch linkage (:mod:`entramado.identity.linkage`) scores every blocked pair of a record table in SQL; this module
scores one record against the records it shares a blocking key with, in Python, with the same blocking rules
(:data:`~entramado.identity.linkage.BLOCKING_RULES`), the same comparison levels
(:data:`~entramado.identity.model.COMPARISONS`), the same weights and the same household rules. A record that batch
linkage would pair with an indexed record is a candidate here too, and gets the same match weight.

The one difference is deliberate: a blocking key shared by more than ``max_block`` indexed records (a placeholder
phone number, an agency's own address in every record) is not used for the query, so that one common value never
makes a query slow; the result says which keys were skipped. The record's other keys still find its candidates.

The index is plain Python and does no I/O: per record one tuple of values (repeated strings interned, so that a
million records share one ``"MARIA"``), and per blocking rule a dict from key to the uid of its only record or a
list of uids. It is not thread-safe: one thread (or one asyncio loop) owns an index, or callers lock around it.

Example::

    index = RecordIndex.from_table(table, person_ids)
    result = index.match(keyed_values(record.standardised), model)
    if result.decision == "match":
        ...  # result.person_id
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from entramado.identity.frame import PERSON_FIELDS
from entramado.identity.linkage import BLOCKING_RULES
from entramado.identity.model import COMPARISONS, Model, household_conflict, probability

__all__ = [
    "DEFAULT_MAX_BLOCK",
    "Candidate",
    "Decision",
    "Evidence",
    "IndexedRecord",
    "MatchResult",
    "PersonCandidate",
    "PersonId",
    "Reason",
    "RecordIndex",
    "SkippedBlock",
]

PersonId: TypeAlias = str | int
Decision = Literal["match", "review", "new"]
#: Why a decision was taken: ``clear`` (one person at or above the match weight), ``ambiguous`` (two or more),
#: ``conflict`` (a household conflict at or above the match weight), ``uncertain`` (the best person between the review
#: and the match weight), ``no_candidate`` (nobody at or above the review weight).
Reason = Literal["clear", "ambiguous", "conflict", "uncertain", "no_candidate"]

#: Blocks larger than this are skipped at query time (see the module documentation).
DEFAULT_MAX_BLOCK = 1000
#: How many persons a match result lists by default.
DEFAULT_TOP = 5

# An indexed record is one flat tuple: (source, record_id, person_id, *values in PERSON_FIELDS order). One tuple per
# record instead of two or three objects keeps a million records in a few hundred megabytes.
_HEAD = 3
# Keys of the row dict a comparison reads; the three head keys cannot clash with a column name.
_ROW_KEYS: tuple[str, ...] = (" source", " record_id", " person_id", *PERSON_FIELDS)
_FIELD_INDEX: dict[str, int] = {name: i for i, name in enumerate(PERSON_FIELDS)}


class _Rule(NamedTuple):
    columns: tuple[str, ...]
    # Reads the rule's key from a values tuple (offset 0) or an indexed record (offset _HEAD): the value itself for a
    # one-column rule, else a tuple of values.
    of_values: itemgetter[Any]
    of_entry: itemgetter[Any]
    composite: bool


_RULES: tuple[_Rule, ...] = tuple(
    _Rule(
        columns=rule,
        of_values=itemgetter(*(_FIELD_INDEX[c] for c in rule)),
        of_entry=itemgetter(*(_FIELD_INDEX[c] + _HEAD for c in rule)),
        composite=len(rule) > 1,
    )
    for rule in BLOCKING_RULES
)


def _key(rule: _Rule, key: Any) -> Any:
    # SQL equality never joins on NULL, so a key with a missing part blocks nothing (as in Splink).
    if rule.composite:
        return None if None in key else key
    return key


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one comparison found for a pair: the level reached (index and label) and its weight (``log2(m/u)``)."""

    comparison: str
    level: int
    label: str
    weight: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """An indexed record scored against the query.

    Attributes:
        uid: the indexed record.
        source: its source (agency).
        record_id: its id in the source.
        person_id: the person it belongs to.
        weight: match weight: the prior's weight plus the weight of every comparison in :attr:`evidence`.
        probability: match probability of :attr:`weight`.
        conflict: the two records cannot be one person whatever the weight (twins, a parent's cédula on a child's
            record: :func:`~entramado.identity.model.household_conflict`).
        evidence: one entry per comparison, in :data:`~entramado.identity.model.COMPARISONS` order.
    """

    uid: int
    source: str
    record_id: str
    person_id: PersonId
    weight: float
    probability: float
    conflict: bool
    evidence: tuple[Evidence, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "uid": self.uid,
            "source": self.source,
            "record_id": self.record_id,
            "person_id": self.person_id,
            "weight": self.weight,
            "probability": self.probability,
            "conflict": self.conflict,
            "evidence": [{"comparison": e.comparison, "level": e.label, "weight": e.weight} for e in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class PersonCandidate:
    """A person among the candidates, with all of its records that were scored (strongest first).

    Attributes:
        person_id: the person.
        weight: the weight of the person's best record that does not conflict with the query; ``None`` when every
            one of its scored records conflicts (the query cannot be this person).
        conflict: one of its records conflicts with the query at or above the match weight: the query looks like
            this person but cannot be them (a twin, a child carrying a parent's cédula), which an official should see.
        records: the person's scored records, strongest first.
    """

    person_id: PersonId
    weight: float | None
    conflict: bool
    records: tuple[Candidate, ...]

    @property
    def probability(self) -> float | None:
        return None if self.weight is None else probability(self.weight)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "person_id": self.person_id,
            "weight": self.weight,
            "probability": self.probability,
            "conflict": self.conflict,
            "records": [c.as_dict() for c in self.records],
        }


@dataclass(frozen=True, slots=True)
class SkippedBlock:
    """A blocking key of the query that was not used because too many indexed records share it."""

    rule: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The outcome of :meth:`RecordIndex.match`.

    Attributes:
        decision: ``match`` (the record is :attr:`person_id`), ``review`` (an official decides: see :attr:`reason`
            and :attr:`persons`) or ``new`` (nobody in the index resembles the record).
        reason: why (see :data:`Reason`).
        person_id: the matched person; ``None`` unless :attr:`decision` is ``match``.
        persons: the strongest candidate persons with their evidence, strongest first (a person whose records all
            conflict ranks by its strongest conflicting record).
        scored: how many indexed records were scored.
        skipped: blocking keys not used because their blocks were too large.
    """

    decision: Decision
    reason: Reason
    person_id: PersonId | None
    persons: tuple[PersonCandidate, ...]
    scored: int
    skipped: tuple[SkippedBlock, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "decision": self.decision,
            "reason": self.reason,
            "person_id": self.person_id,
            "persons": [p.as_dict() for p in self.persons],
            "scored": self.scored,
            "skipped": [{"rule": list(s.rule), "size": s.size} for s in self.skipped],
        }


class IndexedRecord(NamedTuple):
    """An indexed record: where it comes from, its person, and its values
    (:data:`~entramado.identity.frame.PERSON_FIELDS` order)."""

    source: str
    record_id: str
    person_id: PersonId
    values: tuple[Any, ...]


class RecordIndex:
    """Records in memory, blocked as batch linkage blocks them, to match one new record against them quickly.

    Build it from a record table (:meth:`from_table`) or record by record (:meth:`add`); keep it current with
    :meth:`add` (which replaces a record already held under the same uid) and :meth:`remove`. Not thread-safe.

    Args:
        max_block: blocks holding more records than this are not used by queries.
    """

    def __init__(self, *, max_block: int = DEFAULT_MAX_BLOCK) -> None:
        if max_block < 1:
            raise ValueError(f"max_block must be at least 1, not {max_block}")
        self.max_block = max_block
        self._records: dict[int, tuple[Any, ...]] = {}
        # Per rule: key -> the uid of the only record with that key, or a list of uids. Most keys belong to one
        # person's two or three records; a bare int for the lone ones saves a list each.
        self._blocks: tuple[dict[Any, int | list[int]], ...] = tuple({} for _ in _RULES)
        # Repeated non-string values (years, integer person ids) shared like the interned strings.
        self._shared: dict[Any, Any] = {}
        self._weights_of: tuple[Model, tuple[tuple[float, ...], ...]] | None = None

    # -- building ------------------------------------------------------------------------------------------------

    @classmethod
    def from_table(
        cls,
        table: pa.Table,
        person_ids: Sequence[PersonId] | None = None,
        *,
        max_block: int = DEFAULT_MAX_BLOCK,
    ) -> RecordIndex:
        """An index of every row of a record table (:data:`~entramado.identity.frame.COLUMNS`).

        Args:
            table: the records; ``uid`` identifies each row.
            person_ids: the person of each row, in row order; by default the table's ``person_id`` column.
            max_block: see :class:`RecordIndex`.

        Returns:
            The index.

        Raises:
            ValueError: a column is missing, or ``person_ids`` does not have one id per row.
        """
        names = ("uid", "source", "record_id", *PERSON_FIELDS)
        missing = [n for n in names if n not in table.column_names]
        if person_ids is None and "person_id" not in table.column_names:
            missing.append("person_id")
        if missing:
            raise ValueError(f"the record table has no column {', '.join(map(repr, missing))}")
        if person_ids is not None and len(person_ids) != table.num_rows:
            raise ValueError(f"{len(person_ids)} person ids for {table.num_rows} records")
        index = cls(max_block=max_block)
        with _collector_paused():
            index._load(table, person_ids)
        if gc.isenabled():
            # The records were made with the collector off, so all of them sit in its youngest generation: the next
            # collections would walk the whole index, a pause of a second at a million records, in some later query.
            # One full collection now moves them to the oldest generation, which is rarely walked.
            gc.collect()
        return index

    def _load(self, table: pa.Table, person_ids: Sequence[PersonId] | None) -> None:
        uids: list[int] = table.column("uid").to_pylist()
        if len(set(uids)) != len(uids):
            raise ValueError("the record table repeats a uid")
        shared = self._shared_column
        columns = [shared(table.column(name)) for name in PERSON_FIELDS]
        persons = shared(table.column("person_id")) if person_ids is None else self._share_all(person_ids)
        # Record ids are unique: interning them would only grow the interpreter's table of interned strings.
        head = (shared(table.column("source")), table.column("record_id").to_pylist(), persons)
        self._records.update(zip(uids, zip(*head, *columns, strict=True), strict=True))
        # Column by column, rule by rule: a million records block in seconds where record by record takes tens.
        for rule, blocks in zip(_RULES, self._blocks, strict=True):
            parts = [columns[_FIELD_INDEX[c]] for c in rule.columns]
            if rule.composite:
                _block_all(blocks, uids, (None if None in key else key for key in zip(*parts, strict=True)))
            else:
                _block_all(blocks, uids, parts[0])

    def add(
        self, uid: int, source: str, record_id: str, values: Sequence[Any], person_id: PersonId
    ) -> IndexedRecord | None:
        """Index a record, replacing the record held under ``uid`` if any (an update).

        Args:
            uid: the record's uid (as in the record table).
            source: its source.
            record_id: its id in the source.
            values: its values of :data:`~entramado.identity.frame.PERSON_FIELDS`, in that order
                (:func:`~entramado.identity.frame.keyed_values`).
            person_id: the person it belongs to.

        Returns:
            The record replaced, or ``None``.
        """
        if len(values) != len(PERSON_FIELDS):
            raise ValueError(f"a record has {len(PERSON_FIELDS)} values, not {len(values)}")
        replaced = self.remove(uid) if uid in self._records else None
        share = self._share
        self._insert(uid, (share(source), record_id, share(person_id), *map(share, values)))
        return replaced

    def remove(self, uid: int) -> IndexedRecord:
        """Take a record out of the index and return it. Raises :class:`KeyError` when ``uid`` is not indexed."""
        entry = self._records.pop(uid)
        for rule, blocks in zip(_RULES, self._blocks, strict=True):
            key = _key(rule, rule.of_entry(entry))
            if key is None:
                continue
            block = blocks[key]
            if isinstance(block, int):
                del blocks[key]
            else:
                block.remove(uid)
                if len(block) == 1:
                    blocks[key] = block[0]
        return _indexed(entry)

    def _insert(self, uid: int, entry: tuple[Any, ...]) -> None:
        self._records[uid] = entry
        for rule, blocks in zip(_RULES, self._blocks, strict=True):
            key = _key(rule, rule.of_entry(entry))
            if key is None:
                continue
            block = blocks.get(key)
            if block is None:
                blocks[key] = uid
            elif isinstance(block, int):
                blocks[key] = [block, uid]
            else:
                block.append(uid)

    def _share(self, value: Any) -> Any:
        if type(value) is str:
            return sys.intern(value)
        if type(value) is int:
            return self._shared.setdefault(value, value)
        return value

    def _shared_column(self, column: pa.ChunkedArray) -> list[Any]:
        # Dictionary-encoding in Arrow finds the distinct values; only those go through _share, and every row takes
        # its value from them (a list lookup instead of an intern call per row). One chunk, one dictionary: chunk by
        # chunk, a value would be interned once per chunk.
        if pa.types.is_boolean(column.type):
            return column.to_pylist()  # type: ignore[no-any-return]
        encoded = column.combine_chunks().dictionary_encode()
        distinct = np.array([*map(self._share, encoded.dictionary.to_pylist()), None], dtype=object)
        indices = pc.fill_null(encoded.indices, len(distinct) - 1).to_numpy()
        return distinct[indices].tolist()  # type: ignore[no-any-return]

    def _share_all(self, values: Iterable[Any]) -> list[Any]:
        share = self._share
        return [share(v) for v in values]

    # -- reading -------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, uid: object) -> bool:
        return uid in self._records

    def record(self, uid: int) -> IndexedRecord:
        """The record held under ``uid``. Raises :class:`KeyError` when ``uid`` is not indexed."""
        return _indexed(self._records[uid])

    def candidates(self, values: Sequence[Any]) -> tuple[list[int], tuple[SkippedBlock, ...]]:
        """The uids of the indexed records that share a blocking key with a record (``values`` in
        :data:`~entramado.identity.frame.PERSON_FIELDS` order), and the keys skipped because their blocks are too
        large."""
        found: set[int] = set()
        skipped: list[SkippedBlock] = []
        for rule, blocks in zip(_RULES, self._blocks, strict=True):
            key = _key(rule, rule.of_values(values))
            if key is None:
                continue
            block = blocks.get(key)
            if block is None:
                continue
            if isinstance(block, int):
                found.add(block)
            elif len(block) > self.max_block:
                skipped.append(SkippedBlock(rule.columns, len(block)))
            else:
                found.update(block)
        return sorted(found), tuple(skipped)

    # -- scoring -------------------------------------------------------------------------------------------------

    def score(self, values: Sequence[Any], model: Model) -> list[Candidate]:
        """Score a record against its candidates.

        Args:
            values: the record's values of :data:`~entramado.identity.frame.PERSON_FIELDS`, in that order.
            model: the match model.

        Returns:
            Every candidate with its weight and evidence, strongest first (ties by uid).
        """
        uids, _ = self.candidates(values)
        return self._score(values, uids, model)

    def match(
        self,
        values: Sequence[Any],
        model: Model,
        *,
        match_weight: float = 8.0,
        review_weight: float = 0.0,
        top: int = DEFAULT_TOP,
    ) -> MatchResult:
        """Find the person a record belongs to, or say that an official should decide, or that it is a new person.

        Candidates are grouped by person. A person weighs as much as its best record that does not conflict with the
        query; a person with a conflicting record at or above ``match_weight`` is flagged as a conflict.

        * ``match``: the best person weighs at least ``match_weight``, is not flagged, and is the only person that
          weighs that much.
        * ``review``: the best person is flagged (``conflict``), or two persons reach ``match_weight``
          (``ambiguous``), or the best person weighs between ``review_weight`` and ``match_weight`` (``uncertain``),
          or nobody does but a person is flagged (``conflict``: the record looks like someone it cannot be).
        * ``new``: nothing weighs ``review_weight`` or more and nobody is flagged.

        Args:
            values: the record's values of :data:`~entramado.identity.frame.PERSON_FIELDS`, in that order.
            model: the match model.
            match_weight: weight from which a record is taken to be a person (by default the batch pipeline's
                :data:`~entramado.identity.pipeline.MATCH_WEIGHT`).
            review_weight: weight from which an official reviews (by default
                :data:`~entramado.identity.pipeline.REVIEW_WEIGHT`).
            top: how many persons the result lists.

        Returns:
            The decision, with the persons and evidence behind it.
        """
        uids, skipped = self.candidates(values)
        scored = self._score(values, uids, model)
        by_person: dict[PersonId, list[Candidate]] = {}
        for candidate in scored:  # strongest first, so each person's list is too
            by_person.setdefault(candidate.person_id, []).append(candidate)
        persons: list[PersonCandidate] = []
        for person_id, records in by_person.items():
            best = next((c.weight for c in records if not c.conflict), None)
            conflict = any(c.conflict and c.weight >= match_weight for c in records)
            persons.append(PersonCandidate(person_id, best, conflict, tuple(records)))
        eligible = sorted((p for p in persons if p.weight is not None), key=_weight_of, reverse=True)
        # A person whose records all conflict ranks by its strongest record, so that a reviewer sees it.
        persons.sort(key=lambda p: p.records[0].weight if p.weight is None else p.weight, reverse=True)

        decision: Decision
        reason: Reason
        best_person = eligible[0] if eligible else None
        if best_person is not None and _weight_of(best_person) >= match_weight:
            if best_person.conflict:
                decision, reason = "review", "conflict"
            elif len(eligible) > 1 and _weight_of(eligible[1]) >= match_weight:
                decision, reason = "review", "ambiguous"
            else:
                decision, reason = "match", "clear"
        elif best_person is not None and _weight_of(best_person) >= review_weight:
            decision, reason = "review", "uncertain"
        elif any(p.conflict for p in persons):
            decision, reason = "review", "conflict"
        else:
            decision, reason = "new", "no_candidate"
        return MatchResult(
            decision=decision,
            reason=reason,
            person_id=best_person.person_id if decision == "match" and best_person is not None else None,
            persons=tuple(persons[:top]),
            scored=len(scored),
            skipped=skipped,
        )

    def _weights(self, model: Model) -> tuple[tuple[float, ...], ...]:
        # Computing weights takes some forty logarithms; a service matches many records with one model.
        cached = self._weights_of
        if cached is None or cached[0] is not model:
            cached = self._weights_of = (model, model.weights())
        return cached[1]

    def _score(self, values: Sequence[Any], uids: Iterable[int], model: Model) -> list[Candidate]:
        weights = self._weights(model)
        prior = model.prior_weight
        # Comparisons read rows as mappings. A dict built once per row reads faster than a mapping view over the
        # tuple (a Python-level __getitem__ per read); a row is read some fifty times.
        query = dict(zip(PERSON_FIELDS, values, strict=True))
        records = self._records
        plan = tuple(zip(COMPARISONS, weights, strict=True))
        out: list[Candidate] = []
        for uid in uids:
            entry = records[uid]
            row = dict(zip(_ROW_KEYS, entry, strict=True))
            levels: list[int] = []
            evidence: list[Evidence] = []
            weight = prior
            for comparison, level_weights in plan:
                # The indexed record is the left side, the newer record the right: Splink pairs uid_l < uid_r.
                level = comparison.level_of(row, query)
                level_weight = level_weights[level]
                weight += level_weight
                levels.append(level)
                evidence.append(Evidence(comparison.name, level, comparison.levels[level].label, level_weight))
            out.append(
                Candidate(
                    uid=uid,
                    source=entry[0],
                    record_id=entry[1],
                    person_id=entry[2],
                    weight=weight,
                    probability=probability(weight),
                    conflict=household_conflict(levels),
                    evidence=tuple(evidence),
                )
            )
        out.sort(key=lambda c: (-c.weight, c.uid))
        return out


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Loading creates millions of containers (records, blocks) that all live on and form no cycles; the cyclic
    # collector would walk every one of them again and again as they pile up, a third of the load time for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _block_all(blocks: dict[Any, int | list[int]], uids: Iterable[int], keys: Iterable[Any]) -> None:
    get = blocks.get
    for uid, key in zip(uids, keys, strict=True):
        if key is None:
            continue
        block = get(key)
        if block is None:
            blocks[key] = uid
        elif isinstance(block, int):
            blocks[key] = [block, uid]
        else:
            block.append(uid)


def _weight_of(person: PersonCandidate) -> float:
    return person.weight if person.weight is not None else float("-inf")


def _indexed(entry: tuple[Any, ...]) -> IndexedRecord:
    return IndexedRecord(entry[0], entry[1], entry[2], entry[_HEAD:])
