"""Tell once: a change to a subscribed person's golden record queues a notification in the same transaction, and the
dispatcher delivers it over real HTTP on loopback, retrying until acknowledged, in order per person, with a stable
idempotency key."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy.engine import Engine

from entramado.db import upgrade
from entramado.identity import notify, services
from entramado.identity.mapping import load_mapping
from entramado.identity.pipeline import LinkConfig
from entramado.identity.realtime_service import RealtimeIndex
from entramado.identity.synthetic import generate_records, identity_fields, write_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:splink")
BPS = "UY-DEMO/GOB/BPS/prestaciones"
INDEX = "UY-DEMO/GOB/DNIC/indice"


class Receiver:
    """Plays the index's gateway consumer port: answers 503 to the first ``failures`` calls, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[str, dict[str, str], dict[str, object]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append((request.path, dict(request.headers), body))
        if self.failures > 0:
            self.failures -= 1
            return web.json_response({"type": "Server.Unavailable"}, status=503)
        return web.json_response({"ok": True})


async def _serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def _im_row(folder: Path) -> dict[str, str]:
    with (folder / "BPS.csv").open(newline="") as handle:
        return next(r for r in csv.DictReader(handle) if r["cedula"] and r["second_surname"])


async def test_change_is_told_once_in_order_with_retries(tmp_path: Path, database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    write_csv(generate_records(1200, seed=5), tmp_path)
    services.link_mapping(engine, load_mapping(tmp_path / "mapping.toml"), config=LinkConfig(u_max_pairs=1e5))
    notify.register_subscriber(engine, BPS, "UY-DEMO/GOB/BPS/avisos/notificaciones")
    assert notify.subscribe(engine, BPS, source="BPS") > 0
    assert notify.subscribe(engine, BPS, source="BPS") == 0  # idempotent

    index = RealtimeIndex(engine)
    index.load()
    row = _im_row(tmp_path)
    fields = identity_fields(row)
    # The municipality, trusted most for addresses, records a new address: the golden address changes.
    first = index.upsert("IM", "MOVE-1", {**fields, "address": "Bv. Artigas 1500 apto 3"}, ["%d%m%Y"])
    assert first.decision == "match", json.dumps(first.as_dict())[:3000]
    person = first.person_id
    second = index.upsert("IM", "MOVE-1", {**fields, "address": "Av. Italia 2000"}, ["%d%m%Y"])
    assert second.person_id == person
    queued = [n for n in notify.outbox_status(engine, person) if n["subscriber"] == BPS]
    assert [n["seq"] for n in queued] == [1, 2] and {n["event"] for n in queued} == {"person.changed"}
    # In order per person: only the first is due while it is pending.
    assert [d.person_id for d in notify.due(engine) if d.person_id == person] == [person]

    receiver = Receiver(failures=1)
    runner, url = await _serve(receiver)
    try:
        dispatcher = notify.Dispatcher(engine, url, INDEX, "notificacion-cambio")
        assert await dispatcher.deliver_due() == 0  # the gateway answered 503: retry later
        notify_rows = notify.outbox_status(engine, person)
        assert notify_rows[0]["status"] == "pending" and notify_rows[0]["attempts"] == 1
        await asyncio.sleep(1.1)  # the first backoff
        assert await dispatcher.deliver_due() == 1
        assert await dispatcher.deliver_due() == 1  # then seq 2, now that seq 1 is acknowledged
    finally:
        await runner.cleanup()

    path, headers, body = receiver.calls[0]
    assert path == "/r1/UY-DEMO/GOB/BPS/avisos/notificaciones/notificaciones"
    assert headers["X-Road-Client"] == INDEX and headers["Entramado-Purpose"] == "notificacion-cambio"
    assert headers["Entramado-Data-Subject"] == f"ENTRAMADO-PID:{person}"
    assert receiver.calls[1][2]["idempotency_key"] == body["idempotency_key"]  # the retry is recognisable
    seqs = [c[2]["seq"] for c in receiver.calls[1:]]
    assert seqs == [1, 2]
    golden = receiver.calls[-1][2]["golden"]
    assert isinstance(golden, dict) and "ITALIA" in json.dumps(golden)
    assert all(n["status"] == "delivered" for n in notify.outbox_status(engine, person))
