"""Verify a gateway's message log: the hash chain, every body digest and every signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from entramado import crypto
from entramado.evidence import merkle, tsa
from entramado.evidence.chain import GENESIS, body_matches, hashed_values, iter_records, record_hash
from entramado.evidence.models import KnownCertificate, LogArchive, LogBatch, LogRecord
from entramado.gateway.signatures import verify_base


@dataclass
class Problem:
    seq: int
    kind: str  # altered | deleted | inserted | reordered | bad-signature | unknown-key
    detail: str


@dataclass
class Report:
    chain: str
    records: int = 0
    signatures: int = 0
    batches: int = 0
    timestamps: int = 0
    unstamped: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        first = self.problems[0] if self.problems else None
        return {
            "chain": self.chain,
            "ok": self.ok,
            "records": self.records,
            "signatures_verified": self.signatures,
            "batches_checked": self.batches,
            "timestamps_verified": self.timestamps,
            "records_not_yet_timestamped": self.unstamped,
            "first_problem": first.__dict__ if first else None,
            "problems": [p.__dict__ for p in self.problems[:100]],
        }


def _field_line(base: str, name: str) -> str | None:
    prefix = f'"{name}": '
    for line in base.split("\n"):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return None


def verify_chain(engine: Engine, chain: str, anchor: x509.Certificate | None = None) -> Report:
    """Walk ``chain`` in order and report every record that does not hold up.

    A record is *altered* when its content no longer hashes to its stored hash, its body no
    longer matches its digest, or its signature base disagrees with its fields; *deleted* when
    sequence numbers jump; *inserted* when the next record links past it; *reordered* when a
    record links to one that comes later.
    """
    keys = _keys(engine)
    report = Report(chain)
    prev_seq, prev_hash, before_prev_hash = _start(engine, chain)
    for record in iter_records(engine, chain):
        report.records += 1
        if record_hash(record.prev_hash, hashed_values(record)) != record.record_hash:
            report.problems.append(Problem(record.seq, "altered", "content does not match its hash"))
        elif record.body is not None and not body_matches(record.body, record.body_digest):
            report.problems.append(Problem(record.seq, "altered", "body does not match its digest"))
        if record.seq != prev_seq + 1:
            missing = f"{prev_seq + 1}..{record.seq - 1}" if record.seq > prev_seq + 1 else "none"
            report.problems.append(
                Problem(
                    record.seq,
                    "deleted",
                    f"sequence jumps from {prev_seq} to {record.seq}; missing {missing}",
                )
            )
        elif record.prev_hash != prev_hash:
            report.problems.append(_classify_link(engine, chain, record, before_prev_hash))
        if record.signature_base is not None and record.signature is not None:
            problem = check_signature(record, keys)
            if problem:
                report.problems.append(Problem(record.seq, *problem))
            else:
                report.signatures += 1
        before_prev_hash, prev_hash, prev_seq = prev_hash, record.record_hash, record.seq
    if anchor is not None:
        _verify_batches(engine, chain, anchor, report)
    return report


def _verify_batches(engine: Engine, chain: str, anchor: x509.Certificate, report: Report) -> None:
    """Recompute every batch root from the records still in the database and check its token."""
    with engine.connect() as conn:
        batches = conn.execute(
            select(LogBatch.first_seq, LogBatch.last_seq, LogBatch.root, LogBatch.token, LogBatch.archived)
            .where(LogBatch.chain == chain)
            .order_by(LogBatch.first_seq)
        ).all()
        stamped_to = 0
        for first, last, root, token, archived in batches:
            if first != stamped_to + 1:
                report.problems.append(
                    Problem(stamped_to + 1, "deleted", f"no batch covers records {stamped_to + 1}..{first - 1}")
                )
            hashes = list(
                conn.scalars(
                    select(LogRecord.record_hash)
                    .where(LogRecord.chain == chain, LogRecord.seq.between(first, last))
                    .order_by(LogRecord.seq)
                )
            )
            stamped_to = max(stamped_to, last)
            if not hashes:
                if not archived:
                    report.problems.append(
                        Problem(first, "deleted", f"records {first}..{last} of an unarchived batch are gone")
                    )
                continue  # archived and pruned: `entramado log verify-archive` checks it
            report.batches += 1
            if len(hashes) != last - first + 1:
                report.problems.append(Problem(first, "deleted", f"batch {first}..{last} is missing records"))
                continue
            if merkle.root([merkle.leaf(h) for h in hashes]).hex() != root:
                report.problems.append(
                    Problem(first, "altered", f"batch {first}..{last} root differs from its records")
                )
                continue
            try:
                tsa.verify_token(token, bytes.fromhex(root), anchor)
            except tsa.TimestampError as exc:
                report.problems.append(Problem(first, "bad-timestamp", f"batch {first}..{last}: {exc}"))
                continue
            report.timestamps += 1
        report.unstamped = int(
            conn.scalar(select(func.count()).where(LogRecord.chain == chain, LogRecord.seq > stamped_to)) or 0
        )


def _start(engine: Engine, chain: str) -> tuple[int, str, str]:
    """Where the records still in the database must continue from: genesis, or the last
    record moved to an archive."""
    with engine.connect() as conn:
        first = conn.scalar(select(func.min(LogRecord.seq)).where(LogRecord.chain == chain))
        if first is None or first == 1:
            return 0, GENESIS, ""
        archived = conn.execute(
            select(LogArchive.last_seq, LogArchive.last_record_hash).where(
                LogArchive.chain == chain, LogArchive.last_seq == first - 1
            )
        ).first()
    if archived is None:
        return 0, GENESIS, ""  # reported as deleted records 1..first-1
    return int(archived[0]), str(archived[1]), ""


def _classify_link(engine: Engine, chain: str, record: LogRecord, before_prev_hash: str) -> Problem:
    if record.prev_hash == before_prev_hash:
        return Problem(record.seq - 1, "inserted", "the next record links past this one")
    with engine.connect() as conn:
        later = conn.scalar(
            select(LogRecord.seq).where(
                LogRecord.chain == chain,
                LogRecord.record_hash == record.prev_hash,
                LogRecord.seq > record.seq,
            )
        )
    if later is not None:
        return Problem(record.seq, "reordered", f"links to record {later}, which comes after it")
    return Problem(
        record.seq,
        "deleted",
        "links to a record that is not in the log (a record before it was deleted, or replaced)",
    )


def check_signature(record: Any, keys: Callable[[str], ed25519.Ed25519PublicKey | None]) -> tuple[str, str] | None:
    """Check a record's stored signature and that its signed base states the record's fields.

    Returns the problem's (kind, detail), or None. ``record`` is a log row or an archive line."""
    key = keys(record.key_id or "")
    if key is None:
        return "unknown-key", f"no certificate for key {record.key_id}"
    if not verify_base(record.signature_base, record.signature, key):
        return "bad-signature", "signature does not verify over its signature base"
    base = record.signature_base
    if _field_line(base, "content-digest") != record.body_digest:
        return "altered", "body digest differs from the signed content-digest"
    if _field_line(base, "x-road-id") != record.xroad_id:
        return "altered", "X-Road-Id differs from the signed one"
    for component, column in SIGNED_COLUMNS:
        signed = _field_line(base, component)
        value = getattr(record, column, None)
        if signed is not None and (value is None or str(value) != signed):
            return "altered", f"{column} differs from the signed {component}"
    signed_path, target = _field_line(base, "@path"), getattr(record, "target", None)
    if signed_path is not None and target is not None and target.split("?", 1)[0] != signed_path:
        return "altered", "target differs from the signed @path"
    return None


# Signed components a log record repeats in its own columns: they must agree.
SIGNED_COLUMNS = (
    ("x-road-client", "client"),
    ("entramado-purpose", "purpose"),
    ("entramado-data-subject", "data_subject"),
    ("x-road-userid", "user_id"),
    ("x-road-issue", "issue"),
    ("x-road-represented-party", "represented_party"),
    ("@method", "method"),
    ("@status", "status"),
)


def _keys(engine: Engine) -> Callable[[str], ed25519.Ed25519PublicKey | None]:
    with engine.connect() as conn:
        pems = dict(conn.execute(select(KnownCertificate.fingerprint, KnownCertificate.pem)).all())
    cache: dict[str, ed25519.Ed25519PublicKey | None] = {}

    def lookup(key_id: str) -> ed25519.Ed25519PublicKey | None:
        if key_id not in cache:
            pem = pems.get(key_id)
            public = crypto.cert_from_pem(pem).public_key() if pem else None
            cache[key_id] = public if isinstance(public, ed25519.Ed25519PublicKey) else None
        return cache[key_id]

    return lookup
