"""``entramado bench archive``: archiving a large message log, in bounded memory.

Builds a gateway database with N signed, hash-chained records in timestamped Merkle batches
(an in-process time-stamping authority), then, each in a fresh process so that peak memory is
its own: (a) ``archive_chain`` — the real archiver, JSON Lines, chained, fsynced, pruning the
database; (b) a baseline — the same rows dumped to a gzip CSV with no evidence format at all.
Optionally (c) verifies the archives offline.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert as sa_insert

from entramado import crypto
from entramado.db import make_engine, sqlite_url, upgrade
from entramado.evidence import merkle, tsa
from entramado.evidence.chain import COLUMNS, GENESIS, record_hash
from entramado.evidence.models import KnownCertificate
from entramado.gateway import signatures as sig

CHAIN = "UY-BENCH/GOB/DGI/gw1"
BATCH = 10_000


def build(db: Path, records: int, anchor_path: Path) -> dict[str, float]:
    """Write ``records`` signed, chained, batched records; return timings."""
    started = time.perf_counter()
    url = sqlite_url(db)
    upgrade(url)
    engine = make_engine(url)
    ca = crypto.CertificateAuthority.create("UY-BENCH")
    anchor_path.write_text(crypto.cert_to_pem(ca.cert))
    authority, _ = tsa.new_authority(ca, "UY-BENCH")
    key = crypto.new_signing_key()
    cert = ca.issue(crypto.make_csr(key, CHAIN, crypto.ROLE_SIGN), crypto.ROLE_SIGN)
    key_id = crypto.fingerprint(cert)
    with engine.begin() as conn:
        conn.execute(
            sa_insert(KnownCertificate),
            [{"fingerprint": key_id, "pem": crypto.cert_to_pem(cert), "first_seen": dt.datetime.now(dt.UTC)}],
        )
    insert = f"INSERT INTO message_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
    raw = engine.raw_connection()
    prev, seq = GENESIS, 0
    body = b'{"ci":"12345672","anio":2025,"ingresos_nominales_uyu":620000}'
    digest = sig.content_digest(body)
    now_us = time.time_ns() // 1000
    while seq < records:
        rows, hashes = [], []
        for _ in range(min(BATCH, records - seq)):
            seq += 1
            headers = {"content-digest": digest, "x-road-id": f"m-{seq}", "x-road-request-hash": "sha-256=:x:"}
            signed = sig.sign(sig.HttpMessage(headers, status=200), key, key_id, now_us // 1_000_000)
            values = (
                CHAIN,
                now_us + seq,
                "provider",
                "response",
                f"m-{seq}",
                "UY-BENCH/GOB/BPS/prestaciones",
                "UY-BENCH/GOB/DGI/tributos/ingresos",
                "prestaciones-sociales",
                "UY-CI:12345672",
                None,
                None,
                None,
                None,
                None,
                200,
                None,
                digest,
                len(body),
                key_id,
                signed.base,
                signed.signature,
            )
            link, prev = prev, record_hash(prev, values)
            rows.append((seq, *values, body, link, prev))
            hashes.append(prev)
        cursor = raw.cursor()
        cursor.executemany(insert, rows)
        root = merkle.root([merkle.leaf(h) for h in hashes])
        token = tsa.token_from_response(authority.respond(tsa.request(root)))
        cursor.execute(
            "INSERT INTO message_log_batches (chain, first_seq, last_seq, root, token, tsa_time, archived) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            (CHAIN, rows[0][0], rows[-1][0], root.hex(), token, dt.datetime.now(dt.UTC).replace(tzinfo=None)),
        )
        raw.commit()
    raw.close()
    engine.dispose()
    return {"build_s": round(time.perf_counter() - started, 1)}


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "entramado.bench.archive", *args], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_archive(db: Path, out: Path) -> dict[str, Any]:
    from entramado.evidence.archive import archive_chain

    engine = make_engine(sqlite_url(db))
    started = time.perf_counter()
    results = archive_chain(engine, CHAIN, out, max_records=1_000_000, retention=dt.timedelta(0))
    seconds = time.perf_counter() - started
    records = sum(r.records for r in results)
    size = sum(r.path.stat().st_size for r in results)
    return {
        "records": records,
        "seconds": round(seconds, 2),
        "records_per_s": round(records / seconds),
        "files": len(results),
        "bytes": size,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_baseline(db: Path, out: Path) -> dict[str, Any]:
    import csv
    import gzip

    engine = make_engine(sqlite_url(db))
    started = time.perf_counter()
    count = 0
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "dump.csv.gz", "wt", compresslevel=1, newline="") as f:
        writer = csv.writer(f)
        raw = engine.raw_connection()
        cursor = raw.cursor()
        cursor.execute("SELECT * FROM message_log ORDER BY chain, seq")
        while rows := cursor.fetchmany(5000):
            for row in rows:
                writer.writerow([base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in row])
            count += len(rows)
        raw.close()
    seconds = time.perf_counter() - started
    return {
        "records": count,
        "seconds": round(seconds, 2),
        "records_per_s": round(count / seconds),
        "bytes": (out / "dump.csv.gz").stat().st_size,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_verify(out: Path, anchor: Path) -> dict[str, Any]:
    from entramado.evidence.offline import verify_archives

    started = time.perf_counter()
    report = verify_archives(sorted(out.glob("*.jsonl.gz")), crypto.cert_from_pem(anchor.read_bytes()))
    seconds = time.perf_counter() - started
    return {
        "ok": report.ok,
        "records": report.records,
        "seconds": round(seconds, 2),
        "records_per_s": round(report.records / seconds) if seconds else 0,
        "peak_rss_mb": _peak_rss_mb(),
    }


def bench_archive(records: int, verify: bool, keep: Path | None = None) -> dict[str, Any]:
    work = keep or Path(tempfile.mkdtemp(prefix="entramado-bench-archive-"))
    db, anchor = work / "gateway.db", work / "ca.pem"
    built = build(db, records, anchor)
    size_db = db.stat().st_size
    # the baseline reads the same database first, so both see a warm page cache
    baseline = _child(["baseline", str(db), str(work / "baseline")])
    archive = _child(["archive", str(db), str(work / "archives")])
    result: dict[str, Any] = {
        "benchmark": "archive",
        "machine": {"cpus": os.cpu_count()},
        "records": records,
        "database_bytes": size_db,
        **built,
        "archive": archive,
        "baseline_gzip_csv_dump": baseline,
        "targets": {
            "records_per_s_at_least_20000": archive["records_per_s"] >= 20_000,
            "bounded_memory": archive["peak_rss_mb"] < 300,
        },
    }
    if verify:
        result["verify_archive"] = _child(["verify", str(work / "archives"), str(anchor)])
    return result


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "archive":
        print(json.dumps(run_archive(Path(sys.argv[2]), Path(sys.argv[3]))))
    elif kind == "baseline":
        print(json.dumps(run_baseline(Path(sys.argv[2]), Path(sys.argv[3]))))
    elif kind == "verify":
        print(json.dumps(run_verify(Path(sys.argv[2]), Path(sys.argv[3]))))
