"""Timestamps a gateway's message log in Merkle batches, off the exchange's path.

Every ``interval`` seconds the records written since the last batch (at most ``max_batch``) are
put under one Merkle root, the root is sent to an RFC 3161 time-stamping authority, and the
verified token is stored with the batch. When the authority is unreachable the records wait;
the backlog shows at once in health, metrics and logs; after ``grace`` seconds the gateway either
keeps serving (the records stay untimestamped until the authority returns) or refuses new
exchanges, as the operator chose. The backlog is worked off in batches when it returns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass

import aiohttp
from cryptography import x509
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from entramado.errors import EntramadoError
from entramado.evidence import merkle, tsa
from entramado.evidence.models import LogBatch, LogRecord

log = logging.getLogger("entramado.evidence.timestamper")


class TimestampUnavailable(EntramadoError):
    """The message log has gone untimestamped past the grace period and the policy is to refuse."""

    status = 503
    type = "Server.TimestampUnavailable"


@dataclass
class Batch:
    first_seq: int
    last_seq: int
    root: bytes


class Timestamper:
    def __init__(
        self,
        engine: Engine,
        chain: str,
        tsa_url: str,
        anchor: x509.Certificate,
        *,
        interval: float = 1.0,
        max_batch: int = 10_000,
        grace: float = 600.0,
        refuse_after_grace: bool = False,
    ) -> None:
        self._engine = engine
        self._chain = chain
        self._url = tsa_url
        self._anchor = anchor
        self.interval = interval
        self.max_batch = max_batch
        self.grace = grace
        self.refuse_after_grace = refuse_after_grace
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.batches = 0
        self.backlog = 0
        self.oldest_unstamped: float | None = None  # Unix time of the oldest record without a token
        self._next_seq = self._load_next_seq()

    def _load_next_seq(self) -> int:
        with self._engine.connect() as conn:
            last = conn.scalar(select(func.max(LogBatch.last_seq)).where(LogBatch.chain == self._chain))
        return int(last or 0) + 1

    @property
    def stamped_through(self) -> int:
        """Every record of the chain up to this seq is under a timestamped batch."""
        return self._next_seq - 1

    # the exchange path asks this, cheaply
    def check(self) -> None:
        if self.refuse_after_grace and self.overdue():
            raise TimestampUnavailable(
                "message log cannot be timestamped",
                f"records have waited more than {self.grace:.0f}s for the time-stamping authority: {self.last_error}",
            )

    def overdue(self) -> bool:
        return self.oldest_unstamped is not None and time.time() - self.oldest_unstamped > self.grace

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                stamped = await self.stamp_once(session)
            except Exception as exc:  # keep the loop alive whatever the authority or the disk does
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                # A commit whose answer was lost may have stored the batch after all.
                self._next_seq = await asyncio.to_thread(self._load_next_seq)
                log.warning("timestamping failed", extra={"error": self.last_error, "backlog": self.backlog})
                stamped = 0
            # Work a backlog off without pause; otherwise wait for the next interval.
            if stamped < self.max_batch:
                await asyncio.sleep(self.interval)

    async def stamp_once(self, session: aiohttp.ClientSession) -> int:
        """Timestamp the next batch; returns how many records it covered."""
        batch, backlog, oldest = await asyncio.to_thread(self._next_batch)
        self.backlog = backlog
        self.oldest_unstamped = oldest
        if batch is None:
            return 0
        token = await self._request_token(session, batch.root)
        verified = tsa.verify_token(token, batch.root, self._anchor)
        await asyncio.to_thread(self._store, batch, token, verified.gen_time)
        self._next_seq = batch.last_seq + 1
        covered = batch.last_seq - batch.first_seq + 1
        self.backlog = max(0, backlog - covered)
        if self.backlog == 0:
            self.oldest_unstamped = None
        self.batches += 1
        self.last_success, self.last_error = time.time(), None
        return covered

    def _next_batch(self) -> tuple[Batch | None, int, float | None]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(LogRecord.seq, LogRecord.record_hash, LogRecord.logged_at)
                .where(LogRecord.chain == self._chain, LogRecord.seq >= self._next_seq)
                .order_by(LogRecord.seq)
                .limit(self.max_batch)
            ).all()
            if not rows:
                return None, 0, None
            backlog = int(
                conn.scalar(select(func.count()).where(LogRecord.chain == self._chain, LogRecord.seq >= self._next_seq))
                or 0
            )
        if rows[0][0] != self._next_seq or rows[-1][0] - rows[0][0] + 1 != len(rows):
            raise RuntimeError(
                f"chain {self._chain} has a gap after seq {self._next_seq - 1}; run `entramado log verify`"
            )
        root = merkle.root([merkle.leaf(h) for _, h, _ in rows])
        return Batch(rows[0][0], rows[-1][0], root), backlog, rows[0][2] / 1e6

    async def _request_token(self, session: aiohttp.ClientSession, root: bytes) -> bytes:
        headers = {"Content-Type": "application/timestamp-query"}
        nonce = secrets.randbits(63)
        async with session.post(
            self._url, data=tsa.request(root, nonce), headers=headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            if resp.status != 200:
                raise tsa.TimestampError(f"time-stamping authority answered HTTP {resp.status}")
            token = tsa.token_from_response(await resp.read())
        if tsa.token_nonce(token) != nonce:  # RFC 3161 §2.4.2: the answer must be to our request
            raise tsa.TimestampError("time-stamp response carries another nonce")
        return token

    def _store(self, batch: Batch, token: bytes, gen_time: dt.datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(LogBatch).values(
                    chain=self._chain,
                    first_seq=batch.first_seq,
                    last_seq=batch.last_seq,
                    root=batch.root.hex(),
                    token=token,
                    tsa_time=gen_time.replace(tzinfo=None),
                    archived=False,
                )
            )
