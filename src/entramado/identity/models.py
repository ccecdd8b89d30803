"""The person index's tables: source records and the person each belongs to, persons with their golden record and
history, linkage runs and their model, the review queue, subscriptions and the notification outbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from entramado.db import Base


def utcnow() -> dt.datetime:
    """Now in UTC, naive: the tables store UTC without an offset (SQLite has no time zones)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def utc_iso(value: dt.datetime) -> str:
    """A stored (naive, UTC) time as ISO 8601 with its offset, as the API shows it."""
    return value.replace(tzinfo=dt.UTC).isoformat()


class IndexedRecord(Base):
    """One agency's record of a person, standardised; ``data`` is a JSON object of its ``frame.PERSON_FIELDS`` and
    ``fingerprint`` its SHA-256, so that an unchanged record is recognised at the next run."""

    __tablename__ = "identity_records"
    __table_args__ = (UniqueConstraint("source", "record_id"), Index("ix_identity_records_person_id", "person_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Person(Base):
    """A person: ``active``, ``merged`` into another (``merged_into``: the id it redirects to) or ``retired``.
    ``golden`` caches the golden record as JSON (``None``: compute it from the records); ``version`` grows each time
    the person's records change."""

    __tablename__ = "identity_persons"

    person_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    merged_into: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    golden: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PersonEvent(Base):
    """What happened to a person id: ``created``, ``changed``, ``merged`` (into ``other``), ``split`` (part became
    ``other``), ``retired``."""

    __tablename__ = "identity_person_events"
    __table_args__ = (Index("ix_identity_person_events_person_id", "person_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    other: Mapped[str | None] = mapped_column(String(32))
    run_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LinkRun(Base):
    """A batch linkage: when, the model it used (JSON) and its summary (JSON)."""

    __tablename__ = "identity_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    model: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="{}")


class Review(Base):
    """A pair of records for an official to judge: ``uncertain`` (a score between the review and match weights) or
    ``household`` (a strong score between records the household rules keep apart). Records are named by source and
    record id, smaller first, so that a decision survives reruns."""

    __tablename__ = "identity_reviews"
    __table_args__ = (
        UniqueConstraint("source_a", "record_a", "source_b", "record_b"),
        Index("ix_identity_reviews_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_a: Mapped[str] = mapped_column(String(64))
    record_a: Mapped[str] = mapped_column(String(200))
    source_b: Mapped[str] = mapped_column(String(64))
    record_b: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    weight: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | decided
    decision: Mapped[str | None] = mapped_column(String(16))  # same | different
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """An agency (a network client subsystem) that wants to hear when a person's golden record changes."""

    __tablename__ = "identity_subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber", "person_id"),
        Index("ix_identity_subscriptions_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(300))
    person_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    """Where a subscriber takes its notifications: a service on the network (``INSTANCE/CLASS/MEMBER/SUBSYSTEM/
    SERVICE``) and the path under it."""

    __tablename__ = "identity_subscribers"

    subscriber: Mapped[str] = mapped_column(String(300), primary_key=True)
    service: Mapped[str] = mapped_column(String(400))
    path: Mapped[str] = mapped_column(String(400), default="/notificaciones")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A change notification waiting for (or given) the subscriber's acknowledgement. ``seq`` orders one
    subscriber's notifications about one person; ``idempotency_key`` lets the subscriber drop a repeat."""

    __tablename__ = "identity_outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_identity_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(300))
    person_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    event: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
