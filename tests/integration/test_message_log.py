"""The message log on each backend: group commit, verification, and every kind of tampering."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from entramado import crypto
from entramado.db import make_engine
from entramado.evidence.chain import Entry, MessageLog, count
from entramado.evidence.models import KnownCertificate, LogRecord
from entramado.evidence.verify import verify_chain
from entramado.gateway import signatures as sig

CHAIN = "UY-DEMO/GOB/DGI/gw1"
CA = crypto.CertificateAuthority.create("UY-DEMO")


def make_signer(engine: Engine) -> tuple[object, str]:
    """A gateway signing key certified by ``CA`` and known to the log's certificate table."""
    key = crypto.new_signing_key()
    cert = CA.issue(crypto.make_csr(key, CHAIN, crypto.ROLE_SIGN), crypto.ROLE_SIGN)
    with engine.begin() as conn:
        conn.execute(
            insert(KnownCertificate),
            [
                {
                    "fingerprint": crypto.fingerprint(cert),
                    "pem": crypto.cert_to_pem(cert),
                    "first_seen": dt.datetime.now(dt.UTC),
                }
            ],
        )
    return key, crypto.fingerprint(cert)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def signer(engine: Engine) -> tuple[object, str]:
    return make_signer(engine)


def entry(signer: tuple[object, str], n: int, body: bytes = b'{"ok":true}') -> Entry:
    key, key_id = signer
    headers = {"content-digest": sig.content_digest(body), "x-road-id": f"m-{n}", "x-road-request-hash": "h"}
    signed = sig.sign(sig.HttpMessage(headers, status=200), key, key_id, 1_700_000_000 + n)  # type: ignore[arg-type]
    return Entry(
        side="provider",
        kind="response",
        xroad_id=f"m-{n}",
        body_digest=headers["content-digest"],
        body_size=len(body),
        body=body,
        status=200,
        client="UY-DEMO/GOB/BPS/prestaciones",
        key_id=key_id,
        signature_base=signed.base,
        signature=signed.signature,
    )


def fill(engine: Engine, signer: tuple[object, str], n: int = 10) -> None:
    async def run() -> None:
        log = MessageLog(engine, CHAIN, body_limit=1024)
        # Concurrent appends are group-committed and still form one unbroken chain.
        await asyncio.gather(*(log.append(entry(signer, i)) for i in range(n)))
        assert log.records_written == n and log.commits < n
        log.close()

    asyncio.run(run())


def test_chain_verifies(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer)
    report = verify_chain(engine, CHAIN)
    assert report.ok, report.problems
    assert report.records == 10 and report.signatures == 10
    assert count(engine, CHAIN) == 10


def test_restart_continues_the_chain(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer, 3)
    fill(engine, signer, 3)
    assert verify_chain(engine, CHAIN).ok
    with engine.connect() as conn:
        assert list(conn.scalars(select(LogRecord.seq).order_by(LogRecord.seq))) == [1, 2, 3, 4, 5, 6]


def test_body_over_limit_is_not_kept(engine: Engine, signer: tuple[object, str]) -> None:
    async def run() -> None:
        log = MessageLog(engine, CHAIN, body_limit=4)
        await log.append(entry(signer, 1, b"0123456789"))
        log.close()

    asyncio.run(run())
    with engine.connect() as conn:
        row = conn.execute(select(LogRecord.body, LogRecord.body_size)).one()
    assert row == (None, 10)
    assert verify_chain(engine, CHAIN).ok


def _first(engine: Engine) -> tuple[int, str]:
    problem = verify_chain(engine, CHAIN).problems[0]
    return problem.seq, problem.kind


def test_altered_record_is_named(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer)
    with engine.begin() as conn:
        conn.execute(update(LogRecord).where(LogRecord.seq == 4).values(purpose="otra-cosa"))
    assert _first(engine) == (4, "altered")


def test_altered_body_is_named(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer)
    with engine.begin() as conn:
        conn.execute(update(LogRecord).where(LogRecord.seq == 6).values(body=b'{"ok":false}'))
    assert _first(engine) == (6, "altered")


def test_deleted_record_is_named(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer)
    with engine.begin() as conn:
        conn.execute(delete(LogRecord).where(LogRecord.seq == 5))
    problem = verify_chain(engine, CHAIN).problems[0]
    assert (problem.seq, problem.kind) == (6, "deleted") and "5..5" in problem.detail


def test_inserted_record_is_named(engine: Engine, signer: tuple[object, str]) -> None:
    """An attacker shifts records 5.. up and writes a well-formed record (valid hash) at 5."""
    fill(engine, signer)
    with engine.begin() as conn:
        for seq in range(10, 4, -1):
            conn.execute(update(LogRecord).where(LogRecord.seq == seq).values(seq=seq + 1))
        prev = conn.scalar(select(LogRecord.record_hash).where(LogRecord.seq == 4))
        forged = entry(signer, 99)
        from entramado.evidence.chain import record_hash

        values = (
            CHAIN,
            forged.logged_at,
            forged.side,
            forged.kind,
            forged.xroad_id,
            forged.client,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            200,
            None,
            forged.body_digest,
            forged.body_size,
            forged.key_id,
            forged.signature_base,
            forged.signature,
        )
        conn.execute(
            insert(LogRecord).values(
                chain=CHAIN,
                seq=5,
                logged_at=forged.logged_at,
                side="provider",
                kind="response",
                xroad_id="m-99",
                client=forged.client,
                status=200,
                body_digest=forged.body_digest,
                body_size=forged.body_size,
                key_id=forged.key_id,
                signature_base=forged.signature_base,
                signature=forged.signature,
                prev_hash=prev,
                record_hash=record_hash(prev, values),
            )
        )
    assert _first(engine) == (5, "inserted")


def test_reordered_records_are_named(engine: Engine, signer: tuple[object, str]) -> None:
    fill(engine, signer)
    with engine.begin() as conn:
        conn.execute(update(LogRecord).where(LogRecord.seq == 3).values(seq=-3))
        conn.execute(update(LogRecord).where(LogRecord.seq == 4).values(seq=3))
        conn.execute(update(LogRecord).where(LogRecord.seq == -3).values(seq=4))
    assert _first(engine) == (3, "reordered")


def test_forged_signature_is_named(engine: Engine, signer: tuple[object, str]) -> None:
    """Rewriting a record and its hash chain from there on still fails on the signature."""
    fill(engine, signer, 3)
    from entramado.evidence.chain import hashed_values, record_hash

    with engine.begin() as conn:
        conn.execute(update(LogRecord).where(LogRecord.seq == 2).values(signature_base=LogRecord.signature_base + " "))
    # recompute every hash from seq 2 on, as a careful attacker would
    from sqlalchemy.orm import Session

    with Session(engine) as session, session.begin():
        records = list(session.scalars(select(LogRecord).order_by(LogRecord.seq)))
        prev = records[0].record_hash
        for record in records[1:]:
            record.prev_hash = prev
            record.record_hash = prev = record_hash(prev, hashed_values(record))
    assert _first(engine) == (2, "bad-signature")
