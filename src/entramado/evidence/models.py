"""The message log's tables.

One row per message (request or response) as a gateway saw it, in a hash chain per gateway
node; Merkle batches of consecutive records, each with its RFC 3161 timestamp token; and the
archives that records were moved to.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from entramado.db import Base


class LogRecord(Base):
    __tablename__ = "message_log"
    __table_args__ = (Index("ix_message_log_xroad_id", "xroad_id"),)

    chain: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    logged_at: Mapped[int] = mapped_column(BigInteger)  # microseconds since the Unix epoch, UTC
    side: Mapped[str] = mapped_column(String(8))  # client | provider
    kind: Mapped[str] = mapped_column(String(8))  # request | response
    xroad_id: Mapped[str] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(300))
    service: Mapped[str | None] = mapped_column(String(400))
    purpose: Mapped[str | None] = mapped_column(String(200))
    data_subject: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    issue: Mapped[str | None] = mapped_column(String(200))
    represented_party: Mapped[str | None] = mapped_column(String(300))
    method: Mapped[str | None] = mapped_column(String(10))
    target: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(100))
    body_digest: Mapped[str] = mapped_column(String(100))
    body_size: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(64))
    signature_base: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))


class KnownCertificate(Base):
    """Every signing certificate a gateway has seen in a verified configuration."""

    __tablename__ = "message_log_certificates"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    pem: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[dt.datetime]


class LogBatch(Base):
    """Records ``first_seq..last_seq`` of one chain under one Merkle root and timestamp token."""

    __tablename__ = "message_log_batches"

    chain: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    tsa_time: Mapped[dt.datetime]
    archived: Mapped[bool] = mapped_column(default=False)


class LogArchive(Base):
    """An archive file written from one chain, linked to the previous one by its digest."""

    __tablename__ = "message_log_archives"

    chain: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    last_record_hash: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime]
