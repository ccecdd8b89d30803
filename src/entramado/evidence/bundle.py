"""Evidence for one exchange: its records, signatures, Merkle inclusion proofs, timestamp tokens
and certificates, from the database or from archives, checkable offline on their own."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select
from sqlalchemy.engine import Engine

from entramado import crypto
from entramado.errors import EntramadoError
from entramado.evidence import merkle, tsa
from entramado.evidence.archive import RECORD_COLUMNS
from entramado.evidence.chain import body_matches, hashed_values, record_hash
from entramado.evidence.models import KnownCertificate, LogArchive, LogBatch, LogRecord
from entramado.evidence.verify import check_signature

FORMAT = "entramado-evidence/1"


def bundle(engine: Engine, xroad_id: str) -> dict[str, Any] | None:
    """The evidence this gateway holds for message ``xroad_id``, or None when it has none."""
    items = list(_from_database(engine, xroad_id))
    found = {(i["record"]["chain"], i["record"]["seq"]) for i in items}
    if not {i["record"]["kind"] for i in items} >= {"request", "response"}:
        # Part of the exchange may be archived already (a batch can end between request and response).
        with engine.connect() as conn:
            paths = list(conn.scalars(select(LogArchive.path).order_by(LogArchive.chain, LogArchive.first_seq)))
        for path in paths:
            items += [
                i
                for i in _from_archive(Path(path), xroad_id)
                if (i["record"]["chain"], i["record"]["seq"]) not in found
            ]
        items.sort(key=lambda i: (i["record"]["chain"], i["record"]["seq"]))
    if not items:
        return None
    key_ids = {item["record"]["key_id"] for item in items if item["record"]["key_id"]}
    with engine.connect() as conn:
        certs = dict(
            conn.execute(
                select(KnownCertificate.fingerprint, KnownCertificate.pem).where(
                    KnownCertificate.fingerprint.in_(key_ids)
                )
            ).all()
        )
    return {"format": FORMAT, "x_road_id": xroad_id, "items": items, "certificates": certs}


def _item(record: dict[str, Any], batch: dict[str, Any] | None, leaves: list[bytes] | None) -> dict[str, Any]:
    record = dict(record)
    if isinstance(record.get("body"), bytes):
        record["body"] = base64.b64encode(record["body"]).decode()
    out: dict[str, Any] = {"record": record, "batch": None, "proof": None}
    if batch is not None and leaves is not None:
        index = record["seq"] - batch["first_seq"]
        _, paths = merkle.proofs(leaves)
        out["batch"] = {k: batch[k] for k in ("first_seq", "last_seq", "root", "token")}
        out["proof"] = {"index": index, "size": len(leaves), "path": [p.hex() for p in paths[index]]}
    return out


def _from_database(engine: Engine, xroad_id: str) -> Iterator[dict[str, Any]]:
    columns = [getattr(LogRecord, name) for name in RECORD_COLUMNS]
    with engine.connect() as conn:
        rows = [
            dict(zip(RECORD_COLUMNS, row, strict=True))
            for row in conn.execute(
                select(*columns).where(LogRecord.xroad_id == xroad_id).order_by(LogRecord.chain, LogRecord.seq)
            )
        ]
        for row in rows:
            batch = conn.execute(
                select(LogBatch.first_seq, LogBatch.last_seq, LogBatch.root, LogBatch.token).where(
                    LogBatch.chain == row["chain"], LogBatch.first_seq <= row["seq"], LogBatch.last_seq >= row["seq"]
                )
            ).first()
            if batch is None:
                yield _item(row, None, None)  # not timestamped yet
                continue
            hashes = conn.scalars(
                select(LogRecord.record_hash)
                .where(LogRecord.chain == row["chain"], LogRecord.seq.between(batch.first_seq, batch.last_seq))
                .order_by(LogRecord.seq)
            ).all()
            info = {
                "first_seq": batch.first_seq,
                "last_seq": batch.last_seq,
                "root": batch.root,
                "token": base64.b64encode(batch.token).decode(),
            }
            yield _item(row, info, [merkle.leaf(h) for h in hashes])


def _from_archive(path: Path, xroad_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    wanted: list[dict[str, Any]] = []
    batch: dict[str, Any] | None = None
    leaves: list[bytes] = []
    with gzip.open(path, "rb") as f:
        for raw in f:
            item = orjson.loads(raw)
            kind = item.get("type")
            if kind == "batch":
                batch, leaves, wanted = item, [], []
            elif kind == "record" and batch is not None:
                leaves.append(merkle.leaf(item["record_hash"]))
                if item["xroad_id"] == xroad_id:
                    item.pop("type")
                    wanted.append(item)
                if item["seq"] == batch["last_seq"]:
                    found += [_item(record, batch, leaves) for record in wanted]
    return found


def verify_bundle(evidence: Any, anchor: x509.Certificate) -> list[str]:
    """Check a bundle offline; returns the problems found (empty when it all holds)."""
    if not isinstance(evidence, dict) or not isinstance(evidence.get("items"), list) or not evidence["items"]:
        return ["not an evidence bundle: it has no items"]
    keys: dict[str, ed25519.Ed25519PublicKey] = {}
    certificates = evidence.get("certificates")
    for fingerprint, pem in (certificates if isinstance(certificates, dict) else {}).items():
        try:
            cert = crypto.cert_from_pem(pem)
        except EntramadoError:  # an unreadable certificate simply verifies nothing
            continue
        key = cert.public_key()
        # A certificate counts only under its own fingerprint, and only if the anchor issued it.
        if (
            crypto.fingerprint(cert) == fingerprint
            and crypto.verify_issued_by_at_any_time(cert, anchor)
            and crypto.cert_role(cert) == crypto.ROLE_SIGN
            and isinstance(key, ed25519.Ed25519PublicKey)
        ):
            keys[fingerprint] = key
    problems = []
    for number, item in enumerate(evidence["items"], start=1):
        try:
            problems += _verify_item(item, evidence.get("x_road_id"), keys, anchor)
        except Exception as exc:  # hostile or damaged input is a finding, never a crash
            problems.append(f"item {number}: malformed ({type(exc).__name__}: {exc})"[:300])
    return problems


def _verify_item(
    item: dict[str, Any], xroad_id: object, keys: dict[str, ed25519.Ed25519PublicKey], anchor: x509.Certificate
) -> list[str]:
    problems = []
    record = SimpleNamespace(**item["record"])
    where = f"{record.chain} seq {record.seq}"
    if record.xroad_id != xroad_id:
        problems.append(f"{where}: record is for another message")
    digest = record_hash(record.prev_hash, hashed_values(record))
    if digest != record.record_hash:
        problems.append(f"{where}: record content does not match its hash")
    if record.body is not None and not body_matches(base64.b64decode(record.body, validate=True), record.body_digest):
        problems.append(f"{where}: body does not match its digest")
    if record.signature_base is not None:
        problem = check_signature(record, keys.get)
        if problem:
            problems.append(f"{where}: {problem[0]}: {problem[1]}")
    if item.get("batch") is None:
        return [*problems, f"{where}: not timestamped yet"]
    proof, batch = item["proof"], item["batch"]
    if proof["index"] != record.seq - batch["first_seq"] or proof["size"] != batch["last_seq"] - batch["first_seq"] + 1:
        problems.append(f"{where}: proof position does not match the record's place in its batch")
    root = bytes.fromhex(batch["root"])
    path = [bytes.fromhex(p) for p in proof["path"]]
    if not merkle.verify(merkle.leaf(digest), proof["index"], proof["size"], path, root):
        problems.append(f"{where}: Merkle proof does not lead to the batch root")
    try:
        verified = tsa.verify_token(base64.b64decode(batch["token"], validate=True), root, anchor)
    except tsa.TimestampError as exc:
        return [*problems, f"{where}: timestamp: {exc}"]
    if verified.gen_time.timestamp() + 1 < record.logged_at / 1e6:
        problems.append(f"{where}: timestamp is older than the record it covers")
    return problems
