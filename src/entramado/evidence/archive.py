"""Archives: closed (timestamped) batches moved out of the database into files that verify on
their own, years later, against the instance's trust anchor only.

An archive is gzip-compressed JSON Lines (``format: entramado-archive/1``):

1. ``header``: chain, the seq range, and a link to the previous archive of the chain
   (its SHA-256, its last seq and its last record hash);
2. ``certificate``: every signing certificate the records' signatures need;
3. for each batch: a ``batch`` line (seq range, Merkle root, RFC 3161 token), then its
   ``record`` lines (every column, body in base64 where it was logged) — complete batches, so a
   verifier recomputes each root from the records themselves;
4. ``trailer``: counts, the last record hash, and the SHA-256 of every line before it.

The archive's own digest (which the next archive names) is the SHA-256 of all its uncompressed
bytes. Writing streams record by record: memory stays flat however large the log.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import gzip
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from entramado.errors import Conflict
from entramado.evidence.models import KnownCertificate, LogArchive, LogBatch, LogRecord

FORMAT = "entramado-archive/1"
RECORD_COLUMNS = tuple(c.name for c in LogRecord.__table__.columns)


@dataclass
class ArchiveResult:
    path: Path
    chain: str
    first_seq: int
    last_seq: int
    records: int
    batches: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "path": str(self.path)}


class _HashingWriter:
    """Writes lines to a gzip file while hashing the uncompressed bytes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._gzip = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)
        self.digest = hashlib.sha256()

    def line(self, obj: dict[str, Any]) -> None:
        data = orjson.dumps(obj) + b"\n"
        self.digest.update(data)
        self._gzip.write(data)

    def close(self) -> None:
        self._gzip.close()


def archive_chain(
    engine: Engine,
    chain: str,
    out_dir: Path,
    *,
    max_records: int = 1_000_000,
    retention: dt.timedelta | None = dt.timedelta(0),
) -> list[ArchiveResult]:
    """Move every closed batch of ``chain`` into archive files of at most about ``max_records``
    records each, then delete archived records older than ``retention`` (None keeps them).

    One run at a time per chain and archive folder (a lock file); a second one is refused.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir / f".{chain.replace('/', '_')}.lock"
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict("archiving already in progress", f"another run holds {lock_path}") from exc
        _set_aside_orphans(engine, chain, out_dir)
        results = []
        while True:
            result = _archive_once(engine, chain, out_dir, max_records)
            if result is None:
                break
            results.append(result)
        if retention is not None:
            prune(engine, chain, retention)
        return results


def _set_aside_orphans(engine: Engine, chain: str, out_dir: Path) -> None:
    """A crash between an archive's rename and its database row leaves a file the database does not
    know; its batches are archived again. Move such files (and stale temporaries) aside so that
    the folder holds exactly the chain's archives."""
    prefix = chain.replace("/", "_")
    with engine.connect() as conn:
        known = {Path(p).name for p in conn.scalars(select(LogArchive.path).where(LogArchive.chain == chain))}
    for path in out_dir.glob(f"{prefix}-*.jsonl.gz"):
        if path.name not in known:
            path.rename(path.with_name(path.name + ".orphan"))
    for path in out_dir.glob(f".{prefix}-*.tmp"):
        path.unlink(missing_ok=True)


def _archive_once(engine: Engine, chain: str, out_dir: Path, max_records: int) -> ArchiveResult | None:
    with engine.connect() as conn:
        batches: list[Any] = []
        total = 0
        for batch in conn.execute(
            select(LogBatch.first_seq, LogBatch.last_seq, LogBatch.root, LogBatch.token, LogBatch.tsa_time)
            .where(LogBatch.chain == chain, LogBatch.archived.is_(False))
            .order_by(LogBatch.first_seq)
        ):
            size = batch.last_seq - batch.first_seq + 1
            if batches and total + size > max_records:
                break
            batches.append(batch)
            total += size
        if not batches:
            return None
        previous = conn.execute(
            select(LogArchive.sha256, LogArchive.last_seq, LogArchive.last_record_hash)
            .where(LogArchive.chain == chain)
            .order_by(LogArchive.last_seq.desc())
            .limit(1)
        ).first()
        first_seq, last_seq = batches[0].first_seq, batches[-1].last_seq
        key_ids = set(
            conn.scalars(
                select(LogRecord.key_id)
                .distinct()
                .where(
                    LogRecord.chain == chain, LogRecord.seq.between(first_seq, last_seq), LogRecord.key_id.is_not(None)
                )
            )
        )
        certificates = conn.execute(
            select(KnownCertificate.fingerprint, KnownCertificate.pem).where(KnownCertificate.fingerprint.in_(key_ids))
        ).all()

    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{chain.replace('/', '_')}-{first_seq:012d}-{last_seq:012d}.jsonl.gz"
    path = out_dir / name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    last_hash = ""
    count = 0
    with tmp.open("wb") as raw:
        writer = _HashingWriter(raw)
        writer.line(
            {
                "type": "header",
                "format": FORMAT,
                "chain": chain,
                "first_seq": first_seq,
                "last_seq": last_seq,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "previous": {"sha256": previous[0], "last_seq": previous[1], "last_record_hash": previous[2]}
                if previous
                else None,
            }
        )
        for fingerprint, pem in certificates:
            writer.line({"type": "certificate", "fingerprint": fingerprint, "pem": pem})
        for batch in batches:
            writer.line(
                {
                    "type": "batch",
                    "first_seq": batch.first_seq,
                    "last_seq": batch.last_seq,
                    "root": batch.root,
                    "token": base64.b64encode(batch.token).decode(),
                    "tsa_time": batch.tsa_time.isoformat(),
                }
            )
            for row in _records(engine, chain, batch.first_seq, batch.last_seq):
                writer.line(row)
                last_hash = str(row["record_hash"])
                count += 1
        if count != last_seq - first_seq + 1:
            tmp.unlink(missing_ok=True)
            raise Conflict(
                "records missing from timestamped batches",
                f"{chain}: expected {last_seq - first_seq + 1} records in {first_seq}..{last_seq}, found {count}; "
                "run `entramado log verify`",
            )
        writer.line(
            {
                "type": "trailer",
                "records": count,
                "batches": len(batches),
                "last_seq": last_seq,
                "last_record_hash": last_hash,
                "sha256": writer.digest.hexdigest(),
            }
        )
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    digest = writer.digest.hexdigest()
    os.replace(tmp, path)
    directory = os.open(out_dir, os.O_RDONLY)  # the rename itself must be durable before we forget
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    with engine.begin() as conn:
        conn.execute(
            update(LogBatch)
            .where(LogBatch.chain == chain, LogBatch.first_seq.between(first_seq, last_seq))
            .values(archived=True)
        )
        conn.execute(
            insert(LogArchive).values(
                chain=chain,
                first_seq=first_seq,
                last_seq=last_seq,
                path=str(path),
                sha256=digest,
                last_record_hash=last_hash,
                records=count,
                created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            )
        )
    return ArchiveResult(path, chain, first_seq, last_seq, count, len(batches), digest)


def _records(engine: Engine, chain: str, first: int, last: int, chunk: int = 5000) -> Iterator[dict[str, Any]]:
    columns = [getattr(LogRecord, name) for name in RECORD_COLUMNS]
    start = first
    while start <= last:
        end = min(last, start + chunk - 1)
        with engine.connect() as conn:
            rows = conn.execute(
                select(*columns)
                .where(LogRecord.chain == chain, LogRecord.seq.between(start, end))
                .order_by(LogRecord.seq)
            ).all()
        for row in rows:
            record = dict(zip(RECORD_COLUMNS, row, strict=True))
            body = record["body"]
            record["body"] = base64.b64encode(body).decode() if body is not None else None
            record["type"] = "record"
            yield record
        start = end + 1


def prune(engine: Engine, chain: str, retention: dt.timedelta) -> int:
    """Delete archived records of ``chain`` logged more than ``retention`` ago.

    The cut is always at the end of an archive whose last record is older than the retention, so
    the database keeps a prefix-free chain that starts right after an archive, and no batch is
    ever split between an archive and the database.
    """
    cutoff = int((dt.datetime.now(dt.UTC) - retention).timestamp() * 1e6)
    with engine.begin() as conn:
        prune_to = None
        for last_seq in conn.scalars(
            select(LogArchive.last_seq).where(LogArchive.chain == chain).order_by(LogArchive.last_seq.desc())
        ):
            logged_at = conn.scalar(
                select(LogRecord.logged_at).where(LogRecord.chain == chain, LogRecord.seq == last_seq)
            )
            if logged_at is None or logged_at <= cutoff:  # None: already pruned up to here
                prune_to = last_seq
                break
        if prune_to is None:
            return 0
        result = conn.execute(delete(LogRecord).where(LogRecord.chain == chain, LogRecord.seq <= prune_to))
        return int(result.rowcount or 0)
