"""Offline verification of archives: no network, no database, only the instance's trust anchor.

Checks, for every archive given: the file is whole (trailer present, its digest over every line
before it); the chain runs on from the previous archive (its digest, last seq and last record
hash) and from record to record; every record hashes to its stored hash; every logged body
matches its digest; every signature verifies with a certificate the trust anchor issued; every
batch's Merkle root is recomputed from its records; every timestamp token verifies over its root.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519

from entramado import crypto
from entramado.errors import EntramadoError
from entramado.evidence import merkle, tsa
from entramado.evidence.archive import FORMAT
from entramado.evidence.chain import GENESIS, body_matches, hashed_values, record_hash
from entramado.evidence.verify import check_signature


@dataclass
class Problem:
    file: str
    line: int
    seq: int | None
    kind: str  # truncated | altered | deleted | inserted | reordered | bad-signature | bad-timestamp | broken-link
    detail: str


@dataclass
class ArchiveReport:
    files: int = 0
    records: int = 0
    batches: int = 0
    signatures: int = 0
    timestamps: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "files": self.files,
            "records": self.records,
            "batches": self.batches,
            "signatures_verified": self.signatures,
            "timestamps_verified": self.timestamps,
            "first_problem": self.problems[0].__dict__ if self.problems else None,
            "problems": [p.__dict__ for p in self.problems[:100]],
        }


# No line of ours comes near this (bodies are logged up to 64 KiB by default); a longer one is
# hostile or corrupt and is refused before it is held in memory whole.
MAX_LINE = 64 * 1024 * 1024


class LineTooLong(ValueError):
    pass


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with gzip.open(path, "rb") as f:
        number = 0
        while line := f.readline(MAX_LINE + 1):
            number += 1
            if len(line) > MAX_LINE:
                raise LineTooLong(f"line {number} is longer than {MAX_LINE} bytes")
            yield number, line


def _header(path: Path) -> dict[str, Any]:
    for _, raw in _lines(path):
        header: dict[str, Any] = orjson.loads(raw)
        return header
    raise ValueError("empty archive")


def verify_archives(paths: list[Path], anchor: x509.Certificate) -> ArchiveReport:
    report = ArchiveReport()
    headers: list[tuple[str, int, Path, dict[str, Any]]] = []
    for path in paths:
        try:
            header = _header(path)
            if header.get("type") != "header" or header.get("format") != FORMAT:
                raise ValueError(f"not an {FORMAT} file")
            headers.append((header["chain"], int(header["first_seq"]), path, header))
        except (OSError, EOFError, ValueError, KeyError, zlib.error) as exc:
            report.problems.append(Problem(str(path), 1, None, "truncated", f"unreadable header: {exc}"))
    previous: dict[str, tuple[str, int, str]] = {}  # chain -> (digest, last seq, last record hash)
    for chain, _, path, header in sorted(headers, key=lambda h: (h[0], h[1])):
        report.files += 1
        link = header.get("previous")
        if link is not None and not (
            isinstance(link, dict) and {"sha256", "last_seq", "last_record_hash"} <= link.keys()
        ):
            report.problems.append(Problem(str(path), 1, None, "altered", "malformed link to the previous archive"))
            continue
        if chain in previous:
            if link is None or (link["sha256"], link["last_seq"], link["last_record_hash"]) != previous[chain]:
                report.problems.append(
                    Problem(
                        str(path),
                        1,
                        header["first_seq"],
                        "broken-link",
                        "does not name the previous archive given (its digest, last seq and hash)",
                    )
                )
        elif link is not None and int(header["first_seq"]) != int(link["last_seq"]) + 1:
            report.problems.append(
                Problem(
                    str(path),
                    1,
                    header["first_seq"],
                    "broken-link",
                    "first seq does not follow the previous archive's last seq",
                )
            )
        start_hash = previous[chain][2] if chain in previous else (link["last_record_hash"] if link else GENESIS)
        outcome = _verify_file(path, header, start_hash, anchor, report)
        if outcome is not None:
            previous[chain] = outcome
    return report


def _verify_file(
    path: Path, header: dict[str, Any], start_hash: str, anchor: x509.Certificate, report: ArchiveReport
) -> tuple[str, int, str] | None:
    name = str(path)
    digest = hashlib.sha256()
    keys: dict[str, ed25519.Ed25519PublicKey] = {}
    chain_state = _ChainState(int(header["first_seq"]) - 1, start_hash, report)
    batch: dict[str, Any] | None = None
    leaves: list[bytes] = []
    trailer: dict[str, Any] | None = None
    line_no = 0
    try:
        for line_no, raw in _lines(path):
            item = orjson.loads(raw)
            if not isinstance(item, dict):
                report.problems.append(Problem(name, line_no, None, "altered", "line is not a JSON object"))
                digest.update(raw)
                continue
            kind = item.get("type")
            if trailer is not None:
                report.problems.append(Problem(name, line_no, None, "inserted", "data after the trailer"))
                break
            if kind == "trailer":
                trailer = item
                if item.get("sha256") != digest.hexdigest():
                    report.problems.append(
                        Problem(name, line_no, None, "altered", "trailer digest does not match the lines before it")
                    )
                continue
            digest.update(raw)
            if kind == "certificate":
                try:
                    cert = crypto.cert_from_pem(item["pem"])
                except EntramadoError:
                    report.problems.append(Problem(name, line_no, None, "altered", "unreadable certificate"))
                    continue
                key = cert.public_key()
                if not crypto.verify_issued_by_at_any_time(cert, anchor):
                    report.problems.append(
                        Problem(
                            name,
                            line_no,
                            None,
                            "bad-signature",
                            f"certificate {item['fingerprint'][:16]}… not issued by the trust anchor",
                        )
                    )
                elif crypto.fingerprint(cert) == item["fingerprint"] and isinstance(key, ed25519.Ed25519PublicKey):
                    keys[item["fingerprint"]] = key
            elif kind == "batch":
                if batch is not None:
                    report.problems.append(
                        Problem(name, line_no, chain_state.seq, "deleted", "batch ended before all its records")
                    )
                batch, leaves = item, []
            elif kind == "record":
                record = SimpleNamespace(**item)
                if record.chain != header["chain"]:
                    report.problems.append(
                        Problem(name, line_no, record.seq, "altered", "record of another chain than the header's")
                    )
                report.records += 1
                problem = chain_state.check(record)
                if problem is None:
                    problem = _check_content(record, keys, report)
                if problem:
                    report.problems.append(Problem(name, line_no, record.seq, *problem))
                if batch is None or not batch["first_seq"] <= record.seq <= batch["last_seq"]:
                    report.problems.append(Problem(name, line_no, record.seq, "inserted", "record outside any batch"))
                    continue
                leaves.append(merkle.leaf(record.record_hash))
                if record.seq == batch["last_seq"]:
                    _check_batch(name, line_no, batch, leaves, anchor, report, record.logged_at)
                    batch = None
            elif kind != "header":
                report.problems.append(Problem(name, line_no, None, "inserted", f"unknown line type {kind!r}"))
    except (TypeError, KeyError, ValueError, AttributeError) as exc:  # hostile content: a finding, not a crash
        report.problems.append(Problem(name, line_no, None, "altered", f"malformed line: {type(exc).__name__}: {exc}"))
        return None
    except (EOFError, OSError, zlib.error, orjson.JSONDecodeError) as exc:
        report.problems.append(
            Problem(name, line_no + 1, None, "truncated", f"archive ends early or is corrupt: {exc}")
        )
        return None
    if trailer is None:
        report.problems.append(Problem(name, line_no, None, "truncated", "no trailer: the archive was cut short"))
        return None
    if batch is not None:
        report.problems.append(Problem(name, line_no, chain_state.seq, "deleted", "last batch is missing records"))
    if trailer.get("last_record_hash") != chain_state.hash or trailer.get("last_seq") != chain_state.seq:
        report.problems.append(
            Problem(name, line_no, chain_state.seq, "deleted", "trailer's last record is not the last one found")
        )
    whole = hashlib.sha256()
    for _, raw in _lines(path):
        whole.update(raw)
    return whole.hexdigest(), chain_state.seq, chain_state.hash


class _ChainState:
    """Follows the hash chain through an archive and names the first break precisely."""

    def __init__(self, seq: int, record_hash: str, report: ArchiveReport) -> None:
        self.seq, self.hash, self.before = seq, record_hash, ""
        self.seen: set[int] = set()
        self.gap: tuple[int, int] | None = None
        self._report = report

    def check(self, record: SimpleNamespace) -> tuple[str, str] | None:
        problem = self._classify(record)
        if record.seq > self.seq:
            self.before, self.seq, self.hash = self.hash, record.seq, record.record_hash
        self.seen.add(record.seq)
        return problem

    def _classify(self, record: SimpleNamespace) -> tuple[str, str] | None:
        if record_hash(record.prev_hash, hashed_values(record)) != record.record_hash:
            return "altered", "content does not match its hash"
        if record.seq in self.seen:
            return "inserted", f"a second record with seq {record.seq}"
        if self.gap and self.gap[0] <= record.seq <= self.gap[1]:
            # The record missing at the jump turned up later: the records were reordered.
            for problem in reversed(self._report.problems):
                if problem.kind == "deleted" and problem.seq == self.gap[1] + 1:
                    problem.kind, problem.detail = "reordered", f"seq {record.seq} comes after seq {problem.seq}"
                    break
            self.gap = None
            return None
        if record.seq > self.seq + 1:
            self.gap = (self.seq + 1, record.seq - 1)
            return (
                "deleted",
                f"sequence jumps from {self.seq} to {record.seq}; missing {self.seq + 1}..{record.seq - 1}",
            )
        if record.seq < self.seq:
            return "reordered", f"seq {record.seq} after seq {self.seq}"
        if record.prev_hash != self.hash:
            if record.prev_hash == self.before:
                return "inserted", f"record {self.seq} is not part of the chain: the next one links past it"
            return "deleted", "links to a record that is not in the archive"
        return None


def _check_content(
    record: SimpleNamespace, keys: dict[str, ed25519.Ed25519PublicKey], report: ArchiveReport
) -> tuple[str, str] | None:
    if record.body is not None and not body_matches(base64.b64decode(record.body), record.body_digest):
        return "altered", "body does not match its digest"
    if record.signature_base is not None and record.signature is not None:
        problem = check_signature(record, keys.get)
        if problem:
            return problem
        report.signatures += 1
    return None


def _check_batch(
    name: str,
    line_no: int,
    batch: dict[str, Any],
    leaves: list[bytes],
    anchor: x509.Certificate,
    report: ArchiveReport,
    last_logged_at: int,
) -> None:
    report.batches += 1
    root = merkle.root(leaves)
    if root.hex() != batch["root"]:
        report.problems.append(
            Problem(name, line_no, batch["last_seq"], "altered", "batch root differs from its records")
        )
        return
    try:
        verified = tsa.verify_token(base64.b64decode(batch["token"]), root, anchor)
    except tsa.TimestampError as exc:
        report.problems.append(Problem(name, line_no, batch["first_seq"], "bad-timestamp", str(exc)))
        return
    # The token must come after the records it covers, and be the time the batch line states.
    stated = dt.datetime.fromisoformat(batch["tsa_time"]).replace(tzinfo=dt.UTC)
    if verified.gen_time.timestamp() + 1 < last_logged_at / 1e6 or stated != verified.gen_time:
        report.problems.append(
            Problem(name, line_no, batch["first_seq"], "bad-timestamp", "token time disagrees with the batch")
        )
        return
    report.timestamps += 1
