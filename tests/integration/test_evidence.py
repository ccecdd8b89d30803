"""Merkle-batched timestamps, archives and offline verification, on each backend, with a real
RFC 3161 authority over HTTP on loopback; every kind of tampering named."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from entramado import crypto
from entramado.bench.exchange import free_port
from entramado.evidence import tsa
from entramado.evidence.archive import archive_chain
from entramado.evidence.models import LogBatch, LogRecord
from entramado.evidence.offline import verify_archives
from entramado.evidence.timestamper import Timestamper, TimestampUnavailable
from entramado.evidence.verify import verify_chain
from tests.integration.logdata import CA, CHAIN, fill

AUTHORITY, _ = tsa.new_authority(CA, "UY-DEMO")


async def _with_tsa(work: object) -> object:
    async def stamp(request: web.Request) -> web.Response:
        return web.Response(body=AUTHORITY.respond(await request.read()), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsa", stamp)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            return await work(f"http://127.0.0.1:{port}/tsa", session)  # type: ignore[operator]
    finally:
        await runner.cleanup()


def stamp_all(engine: Engine, max_batch: int = 4) -> Timestamper:
    async def work(url: str, session: aiohttp.ClientSession) -> Timestamper:
        stamper = Timestamper(engine, CHAIN, url, CA.cert, max_batch=max_batch)
        while await stamper.stamp_once(session):
            pass
        return stamper

    return asyncio.run(_with_tsa(work))  # type: ignore[return-value]


def test_every_record_is_covered_by_a_verified_batch(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer, 10)
    stamper = stamp_all(engine)
    assert stamper.batches == 3 and stamper.backlog == 0 and stamper.oldest_unstamped is None
    with engine.connect() as conn:
        batches = conn.execute(select(LogBatch.first_seq, LogBatch.last_seq, LogBatch.root, LogBatch.token)).all()
    assert [(b[0], b[1]) for b in batches] == [(1, 4), (5, 8), (9, 10)]
    for _first, _last, root, token in batches:
        tsa.verify_token(token, bytes.fromhex(root), CA.cert)
    # New records go into the next batch; stamped ones are never stamped twice.
    fill(engine, signer, 2)
    assert stamp_all(engine).batches == 1


def test_unreachable_authority_queues_then_refuses_when_told_to(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer, 3)

    async def run() -> Timestamper:
        stamper = Timestamper(
            engine, CHAIN, f"http://127.0.0.1:{free_port()}/tsa", CA.cert, grace=0.0, refuse_after_grace=True
        )
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                await stamper.stamp_once(session)
        return stamper

    stamper = asyncio.run(run())
    assert stamper.backlog == 3 and stamper.overdue()
    with pytest.raises(TimestampUnavailable) as info:
        stamper.check()
    assert info.value.status == 503
    stamper.refuse_after_grace = False
    stamper.check()  # the other policy keeps serving
    # When the authority is back, the backlog is stamped.
    assert stamp_all(engine).backlog == 0


def _archives(engine: Engine, signer: tuple[object, str], tmp_path: Path) -> list[Path]:
    fill(engine, signer, 10)
    stamp_all(engine)
    results = archive_chain(engine, CHAIN, tmp_path / "archives", max_records=5, retention=dt.timedelta(0))
    return [r.path for r in results]


def test_archive_prune_and_verify_offline(engine: Engine, signer: tuple[object, str], tmp_path: Path) -> None:
    paths = _archives(engine, signer, tmp_path)
    assert len(paths) == 3  # batches of 4: [1-4], [5-8], [9-10]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(LogRecord)) == 0
    report = verify_archives(paths[::-1], CA.cert)  # any order
    assert report.ok, report.problems
    assert (report.records, report.signatures, report.batches, report.timestamps) == (10, 10, 3, 3)
    # The chain goes on after pruning: new records link to the last archived one.
    fill(engine, signer, 2)
    assert verify_chain(engine, CHAIN).ok
    stamp_all(engine)
    more = archive_chain(engine, CHAIN, tmp_path / "archives", retention=None)
    assert verify_archives([*paths, more[0].path], CA.cert).ok
    # Another trust anchor accepts nothing.
    assert not verify_archives(paths, crypto.CertificateAuthority.create("UY-DEMO").cert).ok


def _rewrite(path: Path, change: object) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    lines = change(lines)  # type: ignore[operator]
    path.write_bytes(gzip.compress(b"".join(lines)))


def _edit_record(lines: list[bytes], seq: int, **fields: object) -> list[bytes]:
    out = []
    for line in lines:
        item = json.loads(line)
        if item.get("type") == "record" and item["seq"] == seq:
            item.update(fields)
            line = json.dumps(item, separators=(",", ":")).encode() + b"\n"
        out.append(line)
    return out


def _kinds(paths: list[Path]) -> list[tuple[str, int | None]]:
    return [(p.kind, p.seq) for p in verify_archives(paths, CA.cert).problems]


def test_tampered_archives_are_named(engine: Engine, signer: tuple[object, str], tmp_path: Path) -> None:
    paths = _archives(engine, signer, tmp_path)
    originals = [p.read_bytes() for p in paths]

    def restore() -> None:
        for path, data in zip(paths, originals, strict=True):
            path.write_bytes(data)

    def record_lines(lines: list[bytes]) -> list[int]:
        return [i for i, line in enumerate(lines) if b'"type":"record"' in line]

    cases = {
        "a byte of a record": lambda ls: _edit_record(ls, 2, purpose="otra"),
        "a deleted record": lambda ls: [ls[i] for i in range(len(ls)) if i != record_lines(ls)[1]],
        "an inserted record": lambda ls: (
            [*ls[: record_lines(ls)[1]], ls[record_lines(ls)[1]], *ls[record_lines(ls)[1] :]]
        ),
        "two records swapped": lambda ls: _swap(ls, *record_lines(ls)[1:3]),
    }
    expected = {
        "a byte of a record": ("altered", 2),
        "a deleted record": ("deleted", 3),
        "an inserted record": ("inserted", 2),
        "two records swapped": ("reordered", 3),
    }
    for name, change in cases.items():
        _rewrite(paths[0], change)
        assert _kinds(paths)[0] == expected[name], name
        restore()

    # A timestamp token swapped in from another batch.
    tokens = [
        json.loads(line)["token"] for line in gzip.decompress(originals[1]).splitlines() if b'"type":"batch"' in line
    ]
    _rewrite(paths[0], lambda ls: [_replace_token(line, tokens[0]) for line in ls])
    assert ("bad-timestamp", 1) in _kinds(paths)
    restore()

    # A truncated archive.
    paths[0].write_bytes(originals[0][: len(originals[0]) // 2])
    assert _kinds(paths)[0][0] == "truncated"
    restore()

    # A missing archive in the middle breaks the link.
    assert ("broken-link", 9) in _kinds([paths[0], paths[2]])
    assert verify_archives(paths, CA.cert).ok


def _swap(lines: list[bytes], i: int, j: int) -> list[bytes]:
    lines = list(lines)
    lines[i], lines[j] = lines[j], lines[i]
    return lines


def _replace_token(line: bytes, token: str) -> bytes:
    item = json.loads(line)
    if item.get("type") != "batch":
        return line
    item["token"] = token
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def test_database_batches_are_checked(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer, 10)
    stamp_all(engine)
    report = verify_chain(engine, CHAIN, CA.cert)
    assert report.ok and report.timestamps == 3 and report.unstamped == 0
    fill(engine, signer, 2)
    assert verify_chain(engine, CHAIN, CA.cert).unstamped == 2
    with engine.begin() as conn:
        tokens = dict(conn.execute(select(LogBatch.first_seq, LogBatch.token)).all())
        conn.execute(update(LogBatch).where(LogBatch.first_seq == 1).values(token=tokens[5]))
    problem = verify_chain(engine, CHAIN, CA.cert).problems[0]
    assert (problem.seq, problem.kind) == (1, "bad-timestamp")
    with engine.begin() as conn:
        conn.execute(update(LogBatch).where(LogBatch.first_seq == 1).values(token=tokens[1], root="00" * 32))
    problem = verify_chain(engine, CHAIN, CA.cert).problems[0]
    assert (problem.seq, problem.kind) == (1, "altered")


def test_one_archive_run_at_a_time(engine: Engine, signer: tuple[object, str], tmp_path: Path) -> None:
    import fcntl

    from entramado.errors import Conflict

    fill(engine, signer, 4)
    stamp_all(engine)
    out = tmp_path / "archives"
    out.mkdir()
    with (out / f".{CHAIN.replace('/', '_')}.lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(Conflict, match="already in progress"):
            archive_chain(engine, CHAIN, out)
    assert len(archive_chain(engine, CHAIN, out)) == 1


def test_deleted_tail_of_a_stamped_log_is_named(engine: Engine, signer: tuple[object, str]) -> None:
    from sqlalchemy import delete

    fill(engine, signer, 10)
    stamp_all(engine)
    with engine.begin() as conn:
        conn.execute(delete(LogRecord).where(LogRecord.seq >= 9))
    problem = verify_chain(engine, CHAIN, CA.cert).problems[0]
    assert (problem.seq, problem.kind) == (9, "deleted")


def test_bundle_checks_bodies_and_certificates(engine: Engine, signer: tuple[object, str]) -> None:
    from entramado.evidence.bundle import bundle, verify_bundle

    fill(engine, signer, 4)
    stamp_all(engine)
    evidence = bundle(engine, "m-2")
    assert evidence is not None and verify_bundle(evidence, CA.cert) == []
    altered = json.loads(json.dumps(evidence))
    altered["items"][0]["record"]["body"] = "eyJvayI6ZmFsc2V9"  # {"ok":false}
    assert "body does not match" in verify_bundle(altered, CA.cert)[0]
    # A certificate listed under someone else's fingerprint verifies nothing.
    other_key = crypto.new_signing_key()
    other = CA.issue(crypto.make_csr(other_key, "UY-DEMO/GOB/EVIL/gw1", crypto.ROLE_SIGN), crypto.ROLE_SIGN)
    forged = json.loads(json.dumps(evidence))
    forged["certificates"] = {fp: crypto.cert_to_pem(other) for fp in forged["certificates"]}
    assert "unknown-key" in verify_bundle(forged, CA.cert)[0]
    assert verify_bundle({"items": []}, CA.cert) == ["not an evidence bundle: it has no items"]


def test_a_file_left_by_a_crash_is_set_aside(engine: Engine, signer: tuple[object, str], tmp_path: Path) -> None:
    fill(engine, signer, 4)
    stamp_all(engine)
    out = tmp_path / "archives"
    out.mkdir()
    orphan = out / f"{CHAIN.replace('/', '_')}-000000000001-000000000004.jsonl.gz"
    orphan.write_bytes(b"written before a crash, never recorded in the database")
    results = archive_chain(engine, CHAIN, out)
    assert (out / (orphan.name + ".orphan")).exists()
    assert verify_archives(sorted(out.glob("*.jsonl.gz")), CA.cert).ok
    assert [r.path.name for r in results] == [orphan.name]
