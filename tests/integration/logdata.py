"""Message-log data for the tests: a certified signer and signed, group-committed entries."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from entramado import crypto
from entramado.evidence.chain import Entry, MessageLog
from entramado.evidence.models import KnownCertificate
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
