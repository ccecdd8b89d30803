"""The person index in real time: one record at a time, matched against every record the index holds.

The in-memory :class:`~entramado.identity.realtime.RecordIndex` is built from the database at start and kept in
step with every upsert; the database is written first, so that an acknowledged record is durable. One lock
serialises upserts (the index is not thread-safe); a match without storing takes the same lock for the few
milliseconds it needs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from entramado.errors import BadRequest, EntramadoError
from entramado.identity.frame import PERSON_FIELDS, FrameBuilder, keyed_values
from entramado.identity.mapping import CANONICAL_FIELDS, RecordRejected, standardise_fields
from entramado.identity.model import Model
from entramado.identity.models import IndexedRecord, Person, PersonEvent, Review, utcnow
from entramado.identity.notify import goldens, notify_changes
from entramado.identity.persons import new_person_id
from entramado.identity.realtime import MatchResult, RecordIndex
from entramado.identity.services import latest_model


class NoModel(EntramadoError):
    """The index has not been trained yet."""

    status = 503
    type = "Server.NoModel"


class RecordInvalid(EntramadoError):
    """A record that cannot be used: the field and the reason."""

    status = 422
    type = "Client.RecordRejected"


def fingerprint(values: Sequence[Any]) -> tuple[str, str]:
    """The record's values as stored (a JSON array in :data:`PERSON_FIELDS` order) and their SHA-256, the same as
    batch linkage computes, so that a record sent again unchanged is recognised."""
    data = "[" + ",".join(json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in values) + "]"
    return data, hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Upserted:
    """What an upsert did: the record's person, the decision, whether the person is new, the match behind it."""

    person_id: str
    decision: str
    created: bool
    review_id: int | None
    match: MatchResult | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "person_id": self.person_id,
            "decision": self.decision,
            "person_created": self.created,
            "review_id": self.review_id,
        }
        if self.match is not None:
            out["match"] = self.match.as_dict()
        return out


class RealtimeIndex:
    """The index's real-time operations over its database."""

    def __init__(self, engine: Engine, *, match_weight: float = 8.0, review_weight: float = 0.0) -> None:
        self.engine = engine
        self.match_weight, self.review_weight = match_weight, review_weight
        self.lock = threading.Lock()
        self.model: Model | None = None
        self.index = RecordIndex()
        self.uid_of: dict[tuple[str, str], int] = {}
        self.next_uid = 0

    def load(self) -> None:
        """Build the in-memory index from the database and take the newest model."""
        builder = FrameBuilder()
        persons: list[str] = []
        fields = PERSON_FIELDS
        with Session(self.engine) as session:
            rows = session.execute(
                select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.person_id, IndexedRecord.data)
            )
            for source, record_id, person_id, data in rows:
                values = json.loads(data)
                if len(values) != len(fields):
                    continue
                builder.add(source, record_id, values)
                persons.append(person_id)
        table = builder.table()
        with self.lock:
            self.model = latest_model(self.engine)
            self.index = RecordIndex.from_table(table, persons)
            sources, ids = table.column("source").to_pylist(), table.column("record_id").to_pylist()
            self.uid_of = {key: uid for uid, key in enumerate(zip(sources, ids, strict=True))}
            self.next_uid = table.num_rows

    @property
    def size(self) -> int:
        return len(self.uid_of)

    def _model(self) -> Model:
        if self.model is None:
            raise NoModel("the index has no match model yet", "run `entramado identity link` once first")
        return self.model

    @staticmethod
    def standardise(fields: Mapping[str, str], date_formats: Sequence[str] = ()) -> tuple[Any, ...]:
        unknown = sorted(set(fields) - set(CANONICAL_FIELDS))
        if unknown:
            raise BadRequest("unknown fields", ", ".join(unknown) + f"; known: {', '.join(CANONICAL_FIELDS)}")
        try:
            record = standardise_fields(dict(fields), date_formats=date_formats)
        except RecordRejected as error:
            raise RecordInvalid("record rejected", str(error)) from None
        return keyed_values(record)

    def match(self, fields: Mapping[str, str], date_formats: Sequence[str] = ()) -> MatchResult:
        """Find the person a record belongs to, without storing it."""
        values = self.standardise(fields, date_formats)
        with self.lock:
            return self.index.match(
                values, self._model(), match_weight=self.match_weight, review_weight=self.review_weight
            )

    def upsert(
        self, source: str, record_id: str, fields: Mapping[str, str], date_formats: Sequence[str] = ()
    ) -> Upserted:
        """Store one source record and give it its person: the matched one, or a new person (with a review when
        the match was uncertain or conflicting). A record sent again unchanged keeps its person."""
        if not source.strip() or not record_id.strip():
            raise BadRequest("source and record_id are required", "")
        values = self.standardise(fields, date_formats)
        data, digest = fingerprint(values)
        with self.lock:
            model = self._model()
            key = (source, record_id)
            now = utcnow()
            with Session(self.engine) as session, session.begin():
                existing = session.scalar(
                    select(IndexedRecord).where(IndexedRecord.source == source, IndexedRecord.record_id == record_id)
                )
                if existing is not None and existing.fingerprint == digest:
                    return Upserted(existing.person_id, "unchanged", False, None, None)
                uid = self.uid_of.get(key)
                held = self.index.remove(uid) if uid is not None else None
                try:
                    result = self.index.match(
                        values, model, match_weight=self.match_weight, review_weight=self.review_weight
                    )
                finally:
                    if held is not None and uid is not None:
                        self.index.add(uid, held.source, held.record_id, held.values, held.person_id)
                created = False
                review_id = None
                if result.decision == "match" and result.person_id is not None:
                    person_id = str(result.person_id)
                elif existing is not None and result.decision != "new":
                    person_id = existing.person_id  # an uncertain update stays with its person until reviewed
                else:
                    person_id, created = new_person_id(), True
                    session.add(Person(person_id=person_id, created_at=now, updated_at=now))
                    session.add(PersonEvent(person_id=person_id, kind="created", at=now))
                before = goldens(session, {person_id} | ({existing.person_id} if existing is not None else set()))
                if result.decision == "review" and result.persons:
                    review_id = self._open_review(session, key, result)
                if existing is None:
                    session.add(
                        IndexedRecord(
                            source=source,
                            record_id=record_id,
                            person_id=person_id,
                            fingerprint=digest,
                            data=data,
                            updated_at=now,
                        )
                    )
                else:
                    if existing.person_id != person_id:
                        self._touch(session, existing.person_id, now)
                    existing.person_id, existing.fingerprint, existing.data, existing.updated_at = (
                        person_id,
                        digest,
                        data,
                        now,
                    )
                if not created:
                    self._touch(session, person_id, now)
                session.flush()
                notify_changes(session, before, now=now)
            # Committed: now the in-memory index may show it.
            if uid is None:
                uid = self.next_uid
                self.next_uid += 1
                self.uid_of[key] = uid
            self.index.add(uid, source, record_id, values, person_id)
        return Upserted(person_id, result.decision, created, review_id, result)

    @staticmethod
    def _touch(session: Session, person_id: str, now: Any) -> None:
        session.execute(
            update(Person)
            .where(Person.person_id == person_id)
            .values(golden=None, updated_at=now, version=Person.version + 1)
        )
        session.add(PersonEvent(person_id=person_id, kind="changed", at=now))

    def _open_review(self, session: Session, key: tuple[str, str], result: MatchResult) -> int | None:
        best = result.persons[0]
        strongest = best.records[0]
        other = (strongest.source, strongest.record_id)
        (sa, ra), (sb, rb) = sorted((key, other))
        found = session.scalar(
            select(Review.id).where(
                Review.source_a == sa, Review.record_a == ra, Review.source_b == sb, Review.record_b == rb
            )
        )
        if found is not None:
            return int(found)
        review = Review(
            source_a=sa,
            record_a=ra,
            source_b=sb,
            record_b=rb,
            kind="household" if best.conflict else "uncertain",
            weight=strongest.weight,
            evidence=json.dumps({e.comparison: {"level": e.label, "weight": e.weight} for e in strongest.evidence}),
        )
        session.add(review)
        session.flush()
        return review.id
