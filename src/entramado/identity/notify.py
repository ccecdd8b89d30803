"""Tell once: when a person's golden record changes, every agency subscribed to that person is told, through the
exchange network, at least once, in order per person, with an idempotency key.

Notifications are written to an outbox in the same transaction as the change that causes them, so a change is
never acknowledged without its notifications. The dispatcher delivers them through the index's own gateway (so each
delivery is signed and logged at both ends like any exchange) and retries with backoff until the subscriber's system
answers 2xx. One subscriber's notifications about one person go one at a time, lowest sequence number first; a
subscriber sees a repeat only when an acknowledgement was lost, and drops it by its ``idempotency_key``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from entramado.errors import BadRequest
from entramado.identity.golden import golden_record
from entramado.identity.models import IndexedRecord, OutboxMessage, Subscriber, Subscription, utc_iso, utcnow
from entramado.ids import ServiceId, SubsystemId

log = logging.getLogger("entramado.identity.notify")

#: Seconds to wait before the n-th retry (the last value repeats).
BACKOFF = (1.0, 2.0, 5.0, 15.0, 60.0, 300.0)


def _golden(session: Session, person_id: str) -> dict[str, Any]:
    from entramado.identity.services import person_records

    return golden_record(person_records(session, person_id))


def subscribers_of(session: Session, person_ids: Iterable[str]) -> dict[str, list[str]]:
    """person id -> its subscribers, for the persons that have any."""
    out: dict[str, list[str]] = {}
    if session.scalar(select(Subscription.id).limit(1)) is None:
        return out  # nobody subscribes (a first batch run): no need to look person by person
    ids = sorted(set(person_ids))
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Subscription.person_id, Subscription.subscriber).where(
                Subscription.person_id.in_(ids[start : start + 500])
            )
        )
        for person_id, subscriber in rows:
            out.setdefault(person_id, []).append(subscriber)
    return out


def goldens(session: Session, person_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The current golden record of each subscribed person among ``person_ids`` (to compare after a change)."""
    return {pid: _golden(session, pid) for pid in subscribers_of(session, person_ids)}


def _key(subscriber: str, person_id: str, seq: int) -> str:
    return hashlib.sha256(f"{subscriber}\n{person_id}\n{seq}".encode()).hexdigest()[:40]


def _enqueue(session: Session, subscriber: str, person_id: str, event: dict[str, Any], now: dt.datetime) -> None:
    last = session.scalar(
        select(func.max(OutboxMessage.seq)).where(
            OutboxMessage.subscriber == subscriber, OutboxMessage.person_id == person_id
        )
    )
    seq = (last or 0) + 1
    key = _key(subscriber, person_id, seq)
    body = {**event, "seq": seq, "idempotency_key": key, "subscriber": subscriber}
    session.add(
        OutboxMessage(
            subscriber=subscriber,
            person_id=person_id,
            seq=seq,
            idempotency_key=key,
            event=json.dumps(body, ensure_ascii=False),
            next_attempt_at=now,
            created_at=now,
        )
    )


def notify_changes(
    session: Session,
    before: dict[str, dict[str, Any]],
    *,
    merged: dict[str, str] | None = None,
    retired: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> int:
    """Queue notifications after a change, inside the change's transaction.

    Args:
        session: the transaction that made the change (records already written).
        before: subscribed person id -> its golden record before the change (:func:`goldens`).
        merged: old id -> the id it now redirects to; its subscribers follow the person there.
        retired: ids left with no records.
        now: the change's time.

    Returns:
        How many notifications were queued.
    """
    now = now or utcnow()
    merged = merged or {}
    count = 0
    subscribers = subscribers_of(session, [*before, *merged, *retired])
    for old, new in merged.items():
        for subscriber in subscribers.get(old, ()):
            event = {"event": "person.merged", "person_id": old, "merged_into": new, "at": utc_iso(now)}
            _enqueue(session, subscriber, old, event, now)
            count += 1
            if (
                session.scalar(
                    select(Subscription.id).where(Subscription.subscriber == subscriber, Subscription.person_id == new)
                )
                is None
            ):
                session.add(Subscription(subscriber=subscriber, person_id=new, created_at=now))
    session.flush()
    for old in retired:
        for subscriber in subscribers.get(old, ()):
            _enqueue(session, subscriber, old, {"event": "person.retired", "person_id": old, "at": utc_iso(now)}, now)
            count += 1
    for person_id in {*before, *merged.values()}:
        after = _golden(session, person_id)
        if after == before.get(person_id):
            continue
        for subscriber in subscribers_of(session, [person_id]).get(person_id, ()):
            changed: dict[str, Any] = {"event": "person.changed", "person_id": person_id, "at": utc_iso(now)}
            changed["golden"] = after
            _enqueue(session, subscriber, person_id, changed, now)
            count += 1
    return count


# --------------------------------------------------------------------------------------------------------------------
# Subscriptions
# --------------------------------------------------------------------------------------------------------------------


def register_subscriber(engine: Engine, subscriber: str, service: str, path: str = "/notificaciones") -> None:
    """Say where a subscriber takes its notifications: a service on the network and a path under it."""
    SubsystemId.parse(subscriber)
    ServiceId.parse(service)
    if not path.startswith("/") or ".." in path.split("/"):
        raise BadRequest("invalid notification path", "an absolute path without '..' segments")
    with Session(engine) as session, session.begin():
        row = session.get(Subscriber, subscriber)
        if row is None:
            session.add(Subscriber(subscriber=subscriber, service=service, path=path))
        else:
            row.service, row.path = service, path


def subscribe(engine: Engine, subscriber: str, *, person_ids: Sequence[str] = (), source: str | None = None) -> int:
    """Subscribe to persons by id, or to every person holding a record of ``source``; returns new subscriptions."""
    SubsystemId.parse(subscriber)
    with Session(engine) as session, session.begin():
        ids = set(person_ids)
        if source is not None:
            ids.update(session.scalars(select(IndexedRecord.person_id).where(IndexedRecord.source == source)))
        have = set(session.scalars(select(Subscription.person_id).where(Subscription.subscriber == subscriber)))
        now = utcnow()
        new = sorted(ids - have)
        if new:
            session.execute(
                Subscription.__table__.insert(),  # type: ignore[attr-defined]
                [{"subscriber": subscriber, "person_id": pid, "created_at": now} for pid in new],
            )
        return len(new)


def outbox_status(
    engine: Engine, person_id: str | None = None, *, subscriber: str | None = None
) -> list[dict[str, Any]]:
    """Notifications and whether each was acknowledged: all, or one person's, or one subscriber's."""
    with Session(engine) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if person_id is not None:
            query = query.where(OutboxMessage.person_id == person_id)
        if subscriber is not None:
            query = query.where(OutboxMessage.subscriber == subscriber)
        return [
            {
                "subscriber": o.subscriber,
                "person_id": o.person_id,
                "seq": o.seq,
                "event": json.loads(o.event)["event"],
                "status": o.status,
                "attempts": o.attempts,
                "delivered_at": utc_iso(o.delivered_at) if o.delivered_at else None,
                "last_error": o.last_error,
            }
            for o in session.scalars(query.limit(1000))
        ]


# --------------------------------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscriber: str
    service: str
    path: str
    person_id: str
    body: bytes
    attempts: int


def due(engine: Engine, limit: int = 100) -> list[Delivery]:
    """Pending notifications whose time has come, only the lowest sequence number per subscriber and person."""
    earlier = aliased(OutboxMessage)
    now = utcnow()
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxMessage, Subscriber.service, Subscriber.path)
            .join(Subscriber, Subscriber.subscriber == OutboxMessage.subscriber)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
                ~select(earlier.id)
                .where(
                    and_(
                        earlier.subscriber == OutboxMessage.subscriber,
                        earlier.person_id == OutboxMessage.person_id,
                        earlier.status == "pending",
                        earlier.seq < OutboxMessage.seq,
                    )
                )
                .exists(),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return [
            Delivery(o.id, o.subscriber, service, path, o.person_id, o.event.encode(), o.attempts)
            for o, service, path in rows
        ]


def settle(engine: Engine, delivery: Delivery, error: str | None) -> None:
    """Mark a delivery acknowledged, or schedule its retry with backoff."""
    now = utcnow()
    with Session(engine) as session, session.begin():
        if error is None:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == delivery.id)
                .values(status="delivered", delivered_at=now, attempts=delivery.attempts + 1, last_error=None)
            )
        else:
            wait = BACKOFF[min(delivery.attempts, len(BACKOFF) - 1)]
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == delivery.id)
                .values(
                    attempts=delivery.attempts + 1,
                    last_error=error[:1000],
                    next_attempt_at=now + dt.timedelta(seconds=wait),
                )
            )


class Dispatcher:
    """Delivers due notifications through the index's gateway (its consumer port), as client ``client``."""

    def __init__(self, engine: Engine, gateway_url: str, client: str, purpose: str, *, timeout: float = 10.0) -> None:
        SubsystemId.parse(client)
        self.engine, self.gateway_url, self.client, self.purpose = engine, gateway_url.rstrip("/"), client, purpose
        self.timeout = timeout

    async def deliver_due(self) -> int:
        """One pass: deliver what is due; returns how many were acknowledged."""
        import aiohttp

        deliveries = await asyncio.to_thread(due, self.engine)
        if not deliveries:
            return 0
        acknowledged = 0
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for delivery in deliveries:
                url = f"{self.gateway_url}/r1/{delivery.service}{delivery.path}"
                headers = {
                    "X-Road-Client": self.client,
                    "Entramado-Purpose": self.purpose,
                    "Entramado-Data-Subject": f"ENTRAMADO-PID:{delivery.person_id}",
                    "Content-Type": "application/json",
                }
                error: str | None = None
                try:
                    async with http.post(url, data=delivery.body, headers=headers) as answer:
                        if not 200 <= answer.status < 300:
                            error = f"HTTP {answer.status}: {(await answer.text())[:300]}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                await asyncio.to_thread(settle, self.engine, delivery, error)
                if error is None:
                    acknowledged += 1
                else:
                    log.warning("notification not delivered", extra={"subscriber": delivery.subscriber, "error": error})
        return acknowledged

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, pausing ``interval`` seconds when nothing is due."""
        while not stop.is_set():
            try:
                delivered = await self.deliver_due()
            except Exception:
                log.exception("notification dispatcher pass failed")
                delivered = 0
            if not delivered:
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except TimeoutError:
                    pass
