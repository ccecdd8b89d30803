"""The person index's operations over its database: batch linkage with persistent ids, persons and their golden
records, the review queue.

A batch run takes every source in full (a record absent from its source's file has been withdrawn), links all
records again, and keeps the ids agencies already hold (:mod:`entramado.identity.persons`). Officials' decisions are
constraints of every later run. The real-time side lives in :mod:`entramado.identity.realtime_service`.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from entramado.errors import BadRequest, Conflict, NotFound
from entramado.identity import model as m
from entramado.identity.frame import PERSON_FIELDS
from entramado.identity.golden import SourceValues, golden_record
from entramado.identity.mapping import Mapping, Rejection
from entramado.identity.models import IndexedRecord, LinkRun, Person, PersonEvent, Review, utc_iso, utcnow
from entramado.identity.notify import goldens, notify_changes
from entramado.identity.persons import assign_ids
from entramado.identity.pipeline import LinkConfig, Timings, collect_sources, gc_paused, link_table

RecordKey = tuple[str, str]


@dataclass
class LinkReport:
    """The outcome of a batch run; ``as_dict`` is what ``entramado identity link --json`` prints."""

    run_id: int
    read: int
    linked: int
    rejected: int
    persons: int
    pairs_scored: int
    kept: int
    created: int
    merged: int
    split: int
    retired: int
    withdrawn: int
    reviews_opened: int
    notifications: int
    trained: bool
    labels: int
    timings: Timings
    peak_memory_mb: float
    assignments: list[tuple[str, str, str]] = field(default_factory=list, repr=False)
    rejections: list[Rejection] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "records": {"read": self.read, "linked": self.linked, "rejected": self.rejected},
            "persons": self.persons,
            "pairs_scored": self.pairs_scored,
            "ids": {
                "kept": self.kept,
                "created": self.created,
                "merged": self.merged,
                "split": self.split,
                "retired": self.retired,
            },
            "records_withdrawn": self.withdrawn,
            "reviews_opened": self.reviews_opened,
            "model": {"trained": self.trained, "labels": self.labels},
            "notifications_queued": self.notifications,
            "seconds": self.timings.stages,
            "peak_memory_mb": self.peak_memory_mb,
        }


def _peak_memory_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def latest_model(engine: Engine) -> m.Model | None:
    """The model of the newest finished run, if any and if it fits today's comparisons (a model trained for other
    comparison levels is not used: the next batch run trains again)."""
    with Session(engine) as session:
        text = session.scalar(
            select(LinkRun.model).where(LinkRun.finished_at.is_not(None)).order_by(LinkRun.id.desc()).limit(1)
        )
    if not text:
        return None
    try:
        return m.Model.from_dict(json.loads(text))
    except ValueError:
        return None


def _decided_since_training(engine: Engine) -> bool:
    """Whether an official decided a review after the newest finished run trained its model (or took it over)."""
    with Session(engine) as session:
        trained_at = session.scalar(
            select(LinkRun.started_at).where(LinkRun.finished_at.is_not(None)).order_by(LinkRun.id.desc()).limit(1)
        )
        if trained_at is None:
            return False
        return session.scalar(select(Review.id).where(Review.decided_at > trained_at).limit(1)) is not None


def record_json(table: pa.Table) -> tuple[list[str], list[str]]:
    """Each record's values as a JSON array (:data:`PERSON_FIELDS` order) and its SHA-256, computed by DuckDB: a
    million rows in about a second."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("records", table)
        fields = ", ".join(f"coalesce(CAST(to_json(\"{name}\") AS VARCHAR), 'null')" for name in PERSON_FIELDS)
        rows = con.sql(
            f"SELECT v, sha256(v) FROM (SELECT uid, '[' || concat_ws(',', {fields}) || ']' AS v "  # noqa: S608
            "FROM records) ORDER BY uid"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows], [r[1] for r in rows]


def link_mapping(
    engine: Engine,
    mapping: Mapping,
    *,
    config: LinkConfig = LinkConfig(),  # noqa: B008 - frozen
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    spark: Any = None,
) -> LinkReport:
    """Link every record of the mapping's sources and persist persons with persistent ids.

    Args:
        engine: the person index's database (migrated).
        mapping: the sources (:func:`~entramado.identity.mapping.load_mapping`).
        config: backend, thresholds, whether to retrain the model.
        today: bounds birth dates (default: today).
        progress: told the name of each stage as it starts.
        spark: a SparkSession when ``config.backend`` is ``spark``.

    Returns:
        Counts that reconcile (read = linked + rejected), id history, time per stage, peak memory.
    """
    with gc_paused():
        return _link_mapping(engine, mapping, config=config, today=today, progress=progress, spark=spark)


def _link_mapping(
    engine: Engine,
    mapping: Mapping,
    *,
    config: LinkConfig,
    today: dt.date | None,
    progress: Callable[[str], None] | None,
    spark: Any,
) -> LinkReport:
    say = progress or (lambda _stage: None)
    timings = Timings()
    say("read")
    with timings.stage("read"):
        table, rejections = collect_sources(mapping, today=today, workers=config.read_workers)
        n = table.num_rows
        sources = table.column("source").to_pylist()
        record_ids = table.column("record_id").to_pylist()
        keys: list[RecordKey] = list(zip(sources, record_ids, strict=True))
        uid_of = {key: uid for uid, key in enumerate(keys)}

    say("load")
    with timings.stage("load"), Session(engine) as session:
        previous: dict[RecordKey, tuple[str, str, dt.datetime]] = {
            (s, r): (p, f, u)
            for s, r, p, f, u in session.execute(
                select(
                    IndexedRecord.source,
                    IndexedRecord.record_id,
                    IndexedRecord.person_id,
                    IndexedRecord.fingerprint,
                    IndexedRecord.updated_at,
                )
            )
        }
        same, different = _decisions(session, uid_of)
    # Officials' decisions are labels: a decision the model has not seen yet makes this run train it again.
    model = None if config.retrain or _decided_since_training(engine) else latest_model(engine)
    trained = model is None

    say("link")
    # Each record's stored form depends on the read alone: DuckDB makes it in a thread (outside the GIL) while the
    # model trains and scores, which leave part of the cores idle.
    background = ThreadPoolExecutor(1)
    stored = background.submit(record_json, table)
    background.shutdown(wait=False)  # the thread ends with its one task
    model, pairs, labels, _refused = link_table(
        table, config=config, model=model, same=same, different=different, timings=timings, spark=spark
    )

    say("persist")
    with timings.stage("persist"):
        values, fingerprints = stored.result()
        clusters: dict[int, list[int]] = {}
        for uid, label in enumerate(labels.tolist()):
            clusters.setdefault(label, []).append(uid)
        assignment = assign_ids(
            clusters,
            {uid: previous[key][0] for uid, key in enumerate(keys) if key in previous},
            lambda uid: previous[keys[uid]][1] == fingerprints[uid],
        )
        person_of = [""] * n
        for label, uids in clusters.items():
            pid = assignment.ids[label]
            for uid in uids:
                person_of[uid] = pid
        now = utcnow()
        withdrawn = [key for key in previous if key not in uid_of]
        reviews = _review_pairs(pairs, labels, config)
        with engine.begin() as connection:
            session = Session(bind=connection)
            run = LinkRun(model=json.dumps(model.as_dict()), started_at=now)
            session.add(run)
            session.flush()
            run_id = run.id
            changed = _changed_persons(keys, person_of, fingerprints, previous, withdrawn)
            before = goldens(session, changed)
            order = pc.sort_indices(table, sort_keys=[("source", "ascending"), ("record_id", "ascending")])
            _write_records(
                connection, keys, person_of, fingerprints, values, previous, withdrawn, now, order.to_pylist()
            )
            _record_persons(session, connection, assignment, changed, run_id, now)
            opened = _open_reviews(session, reviews, keys, pairs, model)
            session.flush()
            notified = notify_changes(session, before, merged=assignment.merged, retired=assignment.retired, now=now)
            run.finished_at = utcnow()
            session.flush()
            session.close()
        assignments = list(zip(sources, record_ids, person_of, strict=True))
    report = LinkReport(
        run_id=run_id,
        read=n + len(rejections),
        linked=n,
        rejected=len(rejections),
        persons=len(clusters),
        pairs_scored=len(pairs),
        kept=len(clusters) - len(assignment.created),
        created=len(assignment.created),
        merged=len(assignment.merged),
        split=len(assignment.split),
        retired=len(assignment.retired),
        withdrawn=len(withdrawn),
        reviews_opened=opened,
        notifications=notified,
        trained=trained,
        labels=len(same) + len(different) if trained else 0,
        timings=timings,
        peak_memory_mb=_peak_memory_mb(),
        assignments=assignments,
        rejections=rejections,
    )
    with Session(engine) as session, session.begin():
        session.execute(update(LinkRun).where(LinkRun.id == run_id).values(summary=json.dumps(report.as_dict())))
    return report


def _decisions(session: Session, uid_of: dict[RecordKey, int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    same: list[tuple[int, int]] = []
    different: list[tuple[int, int]] = []
    rows = session.execute(
        select(Review.source_a, Review.record_a, Review.source_b, Review.record_b, Review.decision).where(
            Review.status == "decided"
        )
    )
    for sa, ra, sb, rb, decision in rows:
        a, b = uid_of.get((sa, ra)), uid_of.get((sb, rb))
        if a is None or b is None:
            continue
        (same if decision == "same" else different).append((a, b))
    return same, different


def _write_records(
    connection: Any,
    keys: Sequence[RecordKey],
    person_of: Sequence[str],
    fingerprints: Sequence[str],
    values: Sequence[str],
    previous: dict[RecordKey, tuple[str, str, dt.datetime]],
    withdrawn: Sequence[RecordKey],
    now: dt.datetime,
    order: Sequence[int],
) -> None:
    """Insert new records, update those whose values or person changed, delete withdrawn ones; an unchanged record
    keeps the time it was last received. Records are visited in ``order``, (source, record id) order, that of the
    unique index, which SQLite then fills page after page instead of at random (a first run of a million records inserts
    in half the time)."""
    stamp = now.isoformat(sep=" ")
    updates = []
    inserts = []
    for uid in order:
        key = keys[uid]
        prev = previous.get(key)
        if prev is None:
            inserts.append((key[0], key[1], person_of[uid], fingerprints[uid], values[uid], stamp))
        elif prev[1] != fingerprints[uid]:
            updates.append(
                {"s": key[0], "r": key[1], "p": person_of[uid], "f": fingerprints[uid], "d": values[uid], "u": now}
            )
        elif prev[0] != person_of[uid]:
            updates.append({"s": key[0], "r": key[1], "p": person_of[uid], "f": prev[1], "d": None, "u": prev[2]})
    table = IndexedRecord.__table__
    for chunk in range(0, len(withdrawn), 500):
        part = withdrawn[chunk : chunk + 500]
        for source in {s for s, _ in part}:
            ids = [r for s, r in part if s == source]
            connection.execute(
                delete(IndexedRecord).where(IndexedRecord.source == source, IndexedRecord.record_id.in_(ids))
            )
    from sqlalchemy import bindparam, func

    if updates:
        connection.execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.source == bindparam("s"), table.c.record_id == bindparam("r"))
            .values(
                person_id=bindparam("p"),
                fingerprint=bindparam("f"),
                data=func.coalesce(bindparam("d"), table.c.data),
                updated_at=bindparam("u"),
            ),
            updates,
        )
    # A large load drops the person index and builds it again by sorting: faster than a million random inserts.
    rebuild = len(inserts) >= 100_000 and connection.dialect.name == "sqlite"
    if rebuild:
        connection.exec_driver_sql("DROP INDEX IF EXISTS ix_identity_records_person_id")
    bulk_insert(
        connection,
        "identity_records",
        ("source", "record_id", "person_id", "fingerprint", "data", "updated_at"),
        inserts,
    )
    if rebuild:
        connection.exec_driver_sql("CREATE INDEX ix_identity_records_person_id ON identity_records (person_id)")


def bulk_insert(connection: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert many rows through the driver's bulk path (COPY on PostgreSQL, one prepared statement on SQLite): a
    million rows at the first run, which the ORM would take minutes over. ``table`` and ``columns`` are ours; times
    are given as ISO text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), which both databases read."""
    if not rows:
        return
    raw = connection.connection.driver_connection
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        with raw.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608


def _changed_persons(
    keys: Sequence[RecordKey],
    person_of: Sequence[str],
    fingerprints: Sequence[str],
    previous: dict[RecordKey, tuple[str, str, dt.datetime]],
    withdrawn: Iterable[RecordKey],
) -> set[str]:
    """Persons whose set of records or any record's values changed in this run."""
    changed: set[str] = set()
    for uid, key in enumerate(keys):
        prev = previous.get(key)
        if prev is None or prev[0] != person_of[uid] or prev[1] != fingerprints[uid]:
            changed.add(person_of[uid])
            if prev is not None:
                changed.add(prev[0])
    for key in withdrawn:
        changed.add(previous[key][0])
    return changed


def _record_persons(
    session: Session, connection: Any, assignment: Any, changed: set[str], run_id: int, now: dt.datetime
) -> None:
    created = sorted(assignment.created)
    stamp = now.isoformat(sep=" ")
    bulk_insert(
        connection,
        "identity_persons",
        ("person_id", "status", "version", "created_at", "updated_at"),
        [(pid, "active", 1, stamp, stamp) for pid in created],
    )
    bulk_insert(
        connection,
        "identity_person_events",
        ("person_id", "kind", "run_id", "at"),
        [(pid, "created", run_id, stamp) for pid in created],
    )
    events: list[dict[str, Any]] = []
    for old, new in sorted(assignment.merged.items()):
        session.execute(
            update(Person)
            .where(Person.person_id == old)
            .values(status="merged", merged_into=new, golden=None, updated_at=now, version=Person.version + 1)
        )
        events.append({"person_id": old, "kind": "merged", "other": new, "run_id": run_id, "at": now})
    for old, parts in sorted(assignment.split.items()):
        events.extend({"person_id": old, "kind": "split", "other": p, "run_id": run_id, "at": now} for p in parts)
    for old in assignment.retired:
        session.execute(
            update(Person).where(Person.person_id == old).values(status="retired", golden=None, updated_at=now)
        )
        events.append({"person_id": old, "kind": "retired", "other": None, "run_id": run_id, "at": now})
    kept_changed = sorted(changed - set(created) - set(assignment.merged) - set(assignment.retired))
    for chunk in _chunks(kept_changed, 500):
        session.execute(
            update(Person)
            .where(Person.person_id.in_(chunk))
            .values(golden=None, updated_at=now, version=Person.version + 1)
        )
    events.extend(
        {"person_id": pid, "kind": "changed", "other": None, "run_id": run_id, "at": now} for pid in kept_changed
    )
    if events:
        session.execute(PersonEvent.__table__.insert(), events)  # type: ignore[attr-defined]


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class _ReviewPair:
    index: int  # row in the scored pairs
    kind: str


def _review_pairs(pairs: Any, labels: Any, config: LinkConfig) -> list[_ReviewPair]:
    """Uncertain pairs left in different persons, and strong pairs the household rules kept apart although they
    share a cédula (one record carries someone else's: a parent's on a child's record, a typing error), which an
    official should correct. Siblings and twins with cédulas of their own are kept apart without asking anyone."""
    split = labels[pairs.uid_l] != labels[pairs.uid_r]
    uncertain = (pairs.weight >= config.review_weight) & (pairs.weight < config.match_weight) & ~pairs.conflict
    same_id = np.isin(pairs.levels[:, 0], m.NATIONAL_ID_SAME)
    household = (pairs.weight >= config.match_weight) & pairs.conflict & same_id
    out = [_ReviewPair(int(i), "uncertain") for i in np.flatnonzero(split & uncertain)]
    out.extend(_ReviewPair(int(i), "household") for i in np.flatnonzero(split & household))
    return out


def evidence(levels: Sequence[int], weights: Sequence[Sequence[float]]) -> dict[str, dict[str, Any]]:
    """Per comparison: the level's label and its weight."""
    return {
        c.name: {"level": c.levels[level].label, "weight": round(weights[i][level], 3)}
        for i, (c, level) in enumerate(zip(m.COMPARISONS, levels, strict=True))
    }


def _open_reviews(
    session: Session, reviews: Sequence[_ReviewPair], keys: Sequence[RecordKey], pairs: Any, model: m.Model
) -> int:
    weights = model.weights()
    existing = {
        (sa, ra, sb, rb)
        for sa, ra, sb, rb in session.execute(
            select(Review.source_a, Review.record_a, Review.source_b, Review.record_b)
        )
    }
    rows = []
    for review in reviews:
        a, b = sorted((keys[int(pairs.uid_l[review.index])], keys[int(pairs.uid_r[review.index])]))
        key = (*a, *b)
        if key in existing:
            continue
        existing.add(key)
        levels = [int(x) for x in pairs.levels[review.index]]
        rows.append(
            {
                "source_a": a[0],
                "record_a": a[1],
                "source_b": b[0],
                "record_b": b[1],
                "kind": review.kind,
                "weight": float(pairs.weight[review.index]),
                "evidence": json.dumps(evidence(levels, weights)),
                "status": "open",
            }
        )
    if rows:
        session.execute(Review.__table__.insert(), rows)  # type: ignore[attr-defined]
    return len(rows)


# --------------------------------------------------------------------------------------------------------------------
# Persons, records, golden records
# --------------------------------------------------------------------------------------------------------------------


def resolve(session: Session, person_id: str) -> Person:
    """The person an id names now, following merges; :class:`NotFound` for an unknown id."""
    person = session.get(Person, person_id)
    seen = set()
    while person is not None and person.status == "merged" and person.merged_into and person.person_id not in seen:
        seen.add(person.person_id)
        person = session.get(Person, person.merged_into)
    if person is None:
        raise NotFound("unknown person", person_id)
    return person


def person_records(session: Session, person_id: str) -> list[SourceValues]:
    rows = session.execute(
        select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.updated_at, IndexedRecord.data)
        .where(IndexedRecord.person_id == person_id)
        .order_by(IndexedRecord.source, IndexedRecord.record_id)
    )
    return [SourceValues(s, r, u, dict(zip(PERSON_FIELDS, json.loads(v), strict=True))) for s, r, u, v in rows]


def get_person(engine: Engine, person_id: str) -> dict[str, Any]:
    """A person's golden record with the source and date behind each attribute; a merged id redirects."""
    with Session(engine) as session, session.begin():
        person = resolve(session, person_id)
        if person.golden is None:
            golden = golden_record(person_records(session, person.person_id))
            person.golden = json.dumps(golden)
        else:
            golden = json.loads(person.golden)
        return {
            "person_id": person.person_id,
            "requested_id": person_id,
            "status": person.status,
            "version": person.version,
            "golden": golden,
            "updated_at": utc_iso(person.updated_at),
        }


def get_person_records(engine: Engine, person_id: str) -> dict[str, Any]:
    with Session(engine) as session:
        person = resolve(session, person_id)
        records = person_records(session, person.person_id)
    return {
        "person_id": person.person_id,
        "records": [
            {"source": r.source, "record_id": r.record_id, "updated_at": utc_iso(r.updated_at), "fields": r.fields}
            for r in records
        ],
    }


def person_history(engine: Engine, person_id: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.execute(
            select(PersonEvent).where(PersonEvent.person_id == person_id).order_by(PersonEvent.id)
        ).scalars()
        return [{"kind": e.kind, "other": e.other, "run_id": e.run_id, "at": utc_iso(e.at)} for e in rows]


# --------------------------------------------------------------------------------------------------------------------
# Review queue
# --------------------------------------------------------------------------------------------------------------------


def list_reviews(engine: Engine, *, status: str = "open", limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    if status not in {"open", "decided"}:
        raise BadRequest("status must be open or decided", status)
    with Session(engine) as session:
        rows = session.execute(
            select(Review)
            .where(Review.status == status)
            .order_by(Review.weight.desc(), Review.id)
            .limit(limit)
            .offset(offset)
        ).scalars()
        return [_review_dict(r) for r in rows]


def _review_dict(r: Review) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "a": {"source": r.source_a, "record_id": r.record_a},
        "b": {"source": r.source_b, "record_id": r.record_b},
        "weight": round(r.weight, 3),
        "probability": round(m.probability(r.weight), 6),
        "evidence": json.loads(r.evidence),
        "status": r.status,
        "decision": r.decision,
        "decided_by": r.decided_by,
        "decided_at": utc_iso(r.decided_at) if r.decided_at else None,
    }


def decide_review(engine: Engine, review_id: int, decision: str, decided_by: str) -> dict[str, Any]:
    """Record an official's decision (``same`` or ``different``); final: a decided review cannot be decided again.
    It binds every later run."""
    if decision not in {"same", "different"}:
        raise BadRequest("decision must be same or different", decision)
    if not decided_by.strip():
        raise BadRequest("say who decides", "decided_by is empty")
    with Session(engine) as session, session.begin():
        review = session.get(Review, review_id, with_for_update=True)
        if review is None:
            raise NotFound("unknown review", str(review_id))
        if review.status == "decided":
            raise Conflict("review already decided", f"{review.decision} by {review.decided_by}")
        review.status, review.decision, review.decided_by, review.decided_at = "decided", decision, decided_by, utcnow()
        session.flush()
        return _review_dict(review)
