"""The message log on each backend: group commit, verification, and every kind of tampering."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from entramado.evidence.chain import MessageLog, count
from entramado.evidence.models import LogRecord
from entramado.evidence.verify import verify_chain
from tests.integration.logdata import CHAIN, entry, fill


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
