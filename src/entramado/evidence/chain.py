"""The message log's hash chain: record format, group-committed writer and verifier.

Each gateway node keeps its own chain. A record's hash is
``SHA-256(prev_hash || canonical JSON of the record's fields)``; the body itself is not hashed
but its RFC 9530 digest is, and the stored body (when kept) must match that digest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

from entramado.errors import EntramadoError
from entramado.evidence.models import LogArchive, LogRecord

GENESIS = "0" * 64


class LogUnavailable(EntramadoError):
    """The message log cannot be written: nothing may leave unlogged, so the exchange stops."""

    status = 503
    type = "Server.LogUnavailable"


@dataclass(slots=True)
class Entry:
    """One message as a gateway saw it, before it has a place in the chain."""

    side: str
    kind: str
    xroad_id: str
    body_digest: str
    body_size: int
    client: str | None = None
    service: str | None = None
    purpose: str | None = None
    data_subject: str | None = None
    user_id: str | None = None
    issue: str | None = None
    represented_party: str | None = None
    method: str | None = None
    target: str | None = None
    status: int | None = None
    error_type: str | None = None
    key_id: str | None = None
    signature_base: str | None = None
    signature: str | None = None
    logged_at: int = field(default_factory=lambda: time.time_ns() // 1000)
    body: bytes | None = None


HASHED_FIELDS = (
    "chain",
    "logged_at",
    "side",
    "kind",
    "xroad_id",
    "client",
    "service",
    "purpose",
    "data_subject",
    "user_id",
    "issue",
    "represented_party",
    "method",
    "target",
    "status",
    "error_type",
    "body_digest",
    "body_size",
    "key_id",
    "signature_base",
    "signature",
)
COLUMNS = ("seq", *HASHED_FIELDS, "body", "prev_hash", "record_hash")


def record_hash(prev_hash: str, values: tuple[object, ...]) -> str:
    """Hash of one record: SHA-256 over the previous hash and the JSON array of the record's
    ``HASHED_FIELDS`` values, in that order."""
    return hashlib.sha256(prev_hash.encode() + orjson.dumps(values)).hexdigest()


def hashed_values(record: object) -> tuple[object, ...]:
    return tuple(getattr(record, name) for name in HASHED_FIELDS)


def body_matches(body: bytes, digest: str) -> bool:
    return digest == "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


class MessageLog:
    """Appends entries to one chain with group commit.

    ``append`` returns only once its entries are committed; entries that arrive while a commit is
    in progress are written together in the next one, so one fsync serves many exchanges. The
    chain is extended on the event loop (cheap hashing); the writer thread only runs one
    ``executemany`` and the commit, and the chain head moves only when the commit succeeded.

    On SQLite the write runs on the event loop itself: it is a local fsync of one batch, and
    handing it to a thread, or to a writer process with pipelined batches, cost more than it saved
    (measured in docs/benchmarks.md). A network database (PostgreSQL) is written from a thread so that a slow
    server never stalls the loop.
    """

    def __init__(self, engine: Engine, chain: str, body_limit: int) -> None:
        self._engine = engine
        self._chain = chain
        self._body_limit = body_limit
        self._pending: list[tuple[list[Entry], asyncio.Future[None]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="message-log")
        self._inline = engine.dialect.name == "sqlite"
        self._dbapi: PoolProxiedConnection | None = None
        self._head = self._load_head()
        placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        # A constant table and column list; every value is bound.
        columns, marks = ", ".join(COLUMNS), ", ".join([placeholder] * len(COLUMNS))
        self._insert = f"INSERT INTO message_log ({columns}) VALUES ({marks})"  # noqa: S608
        self.records_written = 0
        self.commits = 0

    @property
    def head_seq(self) -> int:
        """The seq of the last committed record."""
        return self._head[0]

    def _load_head(self) -> tuple[int, str]:
        return chain_head(self._engine, self._chain)

    async def append(self, *entries: Entry) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((list(entries), future))
        if not self._flushing:
            self._flushing = True
            self._flush_task = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if self._inline:
                    await asyncio.sleep(0)  # let appends from this loop iteration join the batch
                batch, self._pending = self._pending, []
                rows, head = self._chain_rows([entry for group, _ in batch for entry in group])
                try:
                    if self._inline:
                        self._write(rows)
                    else:
                        await loop.run_in_executor(self._executor, self._write, rows)
                except Exception as exc:  # the callers must learn their entries were not logged
                    error = LogUnavailable("message log unavailable", f"{type(exc).__name__}: {exc}"[:300])
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                self._head = head
                self.records_written += len(rows)
                self.commits += 1
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flushing = False

    def _chain_rows(self, entries: list[Entry]) -> tuple[list[tuple[object, ...]], tuple[int, str]]:
        seq, prev = self._head
        rows: list[tuple[object, ...]] = []
        for e in entries:
            seq += 1
            values = (
                self._chain,
                e.logged_at,
                e.side,
                e.kind,
                e.xroad_id,
                e.client,
                e.service,
                e.purpose,
                e.data_subject,
                e.user_id,
                e.issue,
                e.represented_party,
                e.method,
                e.target,
                e.status,
                e.error_type,
                e.body_digest,
                e.body_size,
                e.key_id,
                e.signature_base,
                e.signature,
            )
            digest = record_hash(prev, values)
            body = e.body if e.body is not None and e.body_size <= self._body_limit else None
            rows.append((seq, *values, body, prev, digest))
            prev = digest
        return rows, (seq, prev)

    def _write(self, rows: list[tuple[object, ...]]) -> None:
        self._insert_rows(rows)
        self._commit()

    def _insert_rows(self, rows: list[tuple[object, ...]]) -> None:
        # One DBAPI connection, used only by the writer, without the pool's per-batch checkout.
        if self._dbapi is None:
            self._dbapi = self._engine.raw_connection()
        try:
            cursor = self._dbapi.cursor()
            cursor.executemany(self._insert, rows)
            cursor.close()
        except Exception:
            self._discard()
            raise

    def _commit(self) -> None:
        assert self._dbapi is not None
        try:
            self._dbapi.commit()
        except Exception:
            self._discard()
            raise

    def _discard(self) -> None:
        connection, self._dbapi = self._dbapi, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.rollback()
                connection.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._dbapi is not None:
            self._dbapi.close()
            self._dbapi = None


def chain_head(engine: Engine, chain: str) -> tuple[int, str]:
    """The last seq and record hash of ``chain``, in the database or, once pruned, in its archives."""
    with engine.connect() as conn:
        last = conn.execute(
            select(LogRecord.seq, LogRecord.record_hash)
            .where(LogRecord.chain == chain)
            .order_by(LogRecord.seq.desc())
            .limit(1)
        ).first()
        if last is None:
            last = conn.execute(
                select(LogArchive.last_seq, LogArchive.last_record_hash)
                .where(LogArchive.chain == chain)
                .order_by(LogArchive.last_seq.desc())
                .limit(1)
            ).first()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS)


def chains(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(LogRecord.chain).distinct().order_by(LogRecord.chain)))


def count(engine: Engine, chain: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(LogRecord.chain == chain)) or 0)


def iter_records(engine: Engine, chain: str, batch: int = 5000) -> Iterator[LogRecord]:
    """Stream a chain's records in order without loading them all."""
    from sqlalchemy.orm import Session

    last = 0
    with Session(engine) as session:
        while True:
            rows = list(
                session.scalars(
                    select(LogRecord)
                    .where(LogRecord.chain == chain, LogRecord.seq > last)
                    .order_by(LogRecord.seq)
                    .limit(batch)
                )
            )
            if not rows:
                return
            yield from rows
            last = rows[-1].seq
            session.expunge_all()
