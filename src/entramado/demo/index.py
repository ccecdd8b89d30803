"""The person index in the demo: its first linkage, its settings, its publication and the agencies' subscriptions.

At first start the agencies' source files are written by the identity synthetic generator (with the seed and size
of the population the agencies' systems serve, ``demo/agencies.py``) and linked in one batch into
``DATA_DIR/identity/identity.db``; one person held by DNIC, BPS and DGI (and not by IM) is kept in ``example.json``
for the calls the demo prints and for its tests. Later starts reuse all of it. The index then runs as
``entramado identity serve`` and is an ordinary service of DNIC on the network, which each subscribing agency calls
through its own gateway to say where it takes notifications and which persons it follows.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from entramado.demo.agencies import NOTIFICATIONS_PATH, RECORDS, SEED
from entramado.identity.synthetic import SyntheticRecord, generate_records, identity_fields, write_csv

PURPOSE = "identificacion"
PERSONAL_DATA = ("identidad",)
#: The index's operations offered on the network; the review queue stays with DNIC's officials.
PUBLIC_OPERATIONS = (
    ("POST", "/records"),
    ("POST", "/persons/match"),
    ("GET", "/persons/{person_id}"),
    ("GET", "/persons/{person_id}/records"),
    ("PUT", "/subscriber"),
    ("POST", "/subscriptions"),
    ("GET", "/persons/{person_id}/notifications"),
)
#: Where the example person moves to (the municipality records it).
NEW_ADDRESS = {"address": "Av. Italia 2890 apto 501", "department": "Montevideo"}
MOVE_RECORD_ID = "MUDANZA-0001"


@dataclass(frozen=True)
class Example:
    """A person of the index the demo's calls use: held by DNIC, BPS and DGI, not yet by IM, in the index and in the
    agencies' systems alike."""

    person_id: str
    ci: str
    fields: dict[str, str]  # raw values by canonical field, as DNIC writes them
    held_by: list[str]

    @property
    def move(self) -> dict[str, Any]:
        """The record IM sends when the person registers the new address at the municipality."""
        return {"source": "IM", "record_id": MOVE_RECORD_ID, "fields": {**self.fields, **NEW_ADDRESS}}


def prepare(directory: Path, say: Callable[[str], None], records: int = RECORDS) -> tuple[Example, float | None]:
    """The index's state in ``directory``: made at first start (sources, batch link, example), then reused.

    Returns the example person and, at first start, the seconds it took.
    """
    saved = directory / "example.json"
    if saved.exists():
        if _has_model(directory):
            return Example(**json.loads(saved.read_text())), None
        say("the saved person index was made by an earlier version (another match model): making it again")
    started = time.monotonic()
    # Built aside and renamed when complete, so that an interrupted first start is simply redone.
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"writing {records:,} synthetic records for DNIC, BPS, DGI and IM")
    written = list(generate_records(records, seed=SEED))
    write_csv(written, partial / "sources", truth=False)
    _link(partial, say)
    say("choosing an example person")
    example = _choose_example(partial, written)
    (partial / "example.json").write_text(json.dumps(asdict(example), indent=2, ensure_ascii=False))
    if directory.exists():  # an index folder without example.json is a half-made first start
        shutil.rmtree(directory)
    partial.rename(directory)
    return example, time.monotonic() - started


def _has_model(directory: Path) -> bool:
    """Whether the index in ``directory`` has a match model this version can use."""
    from sqlalchemy.exc import SQLAlchemyError

    from entramado.db import make_engine, sqlite_url
    from entramado.identity.services import latest_model

    engine = make_engine(sqlite_url(directory / "identity.db"))
    try:
        return latest_model(engine) is not None
    except SQLAlchemyError:  # no database, or not an index
        return False
    finally:
        engine.dispose()


def _link(directory: Path, say: Callable[[str], None]) -> None:
    from entramado.db import connect, sqlite_url
    from entramado.identity import services
    from entramado.identity.mapping import load_mapping

    # Splink's advice (on sample sizes for real populations) would print over the demo's screen: keep it quiet. A
    # handler of our own stops Splink from adding its stderr handler.
    splink_log = logging.getLogger("splink")
    splink_log.addHandler(logging.NullHandler())
    splink_log.propagate = False
    engine = connect(sqlite_url(directory / "identity.db"))
    try:
        services.link_mapping(
            engine,
            load_mapping(directory / "sources" / "mapping.toml"),
            progress=lambda stage: say(f"linking: {stage}"),
        )
    finally:
        engine.dispose()


def _choose_example(directory: Path, records: Sequence[SyntheticRecord]) -> Example:
    """The first person (in DNIC's file order) with one record at each of DNIC, BPS and DGI and none at IM, in the
    index and in the agencies' systems (a linkage error must not make the printed calls fail), whose DNIC values plus
    the new address match them in real time: that is what IM's record of the move will do."""
    from sqlalchemy import text

    from entramado.db import make_engine, sqlite_url
    from entramado.identity.realtime_service import RealtimeIndex

    engine = make_engine(sqlite_url(directory / "identity.db"))
    try:
        held: dict[str, list[str]] = {}
        person_of: dict[str, str] = {}
        with engine.connect() as connection:
            for source, record_id, person_id in connection.execute(
                text("SELECT source, record_id, person_id FROM identity_records")
            ):
                held.setdefault(person_id, []).append(source)
                if source == "DNIC":
                    person_of[record_id] = person_id
        # The truth behind the sources: which person each record is of, and which agencies' systems serve that person.
        truth = {(r.agency, r.record_id): r.person_id for r in records}
        serve: dict[int, set[str]] = {}
        for r in records:
            serve.setdefault(r.person_id, set()).add(r.agency)
        index = RealtimeIndex(engine)
        index.load()
        with (directory / "sources" / "DNIC.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        # Plain ASCII names first: the printed calls are pasted into every kind of terminal.
        rows.sort(key=lambda row: not all(row[c].isascii() for c in ("given_names", "first_surname", "second_surname")))
        for row in rows:
            person_id = person_of.get(row["record_id"], "")
            adult = int(row["birth_date"][:4]) < 2005
            ci = "".join(c for c in row["cedula"] if c.isdigit())
            if sorted(held.get(person_id, [])) != ["BPS", "DGI", "DNIC"] or not ci or not adult:
                continue
            if serve[truth["DNIC", row["record_id"]]] != {"DNIC", "BPS", "DGI"}:
                continue
            fields = identity_fields(row)
            result = index.match({**fields, **NEW_ADDRESS})
            if result.decision == "match" and result.person_id == person_id:
                return Example(person_id, ci, fields, ["BPS", "DGI", "DNIC"])
    finally:
        engine.dispose()
    raise RuntimeError("no person held by DNIC, BPS and DGI matches in real time; see the index's review queue")


def write_settings(directory: Path, port: int, gateway_url: str, client: str) -> None:
    """``identity.toml`` for ``entramado identity serve -d DIRECTORY``: its port, and its gateway and subsystem for
    delivering notifications."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = {"host": "127.0.0.1", "port": port, "gateway_url": gateway_url, "client": client}
    (directory / "identity.toml").write_text(tomli_w.dumps(settings))


def openapi() -> dict[str, Any]:
    """The index's OpenAPI description, only the operations offered on the network."""
    import tempfile

    from entramado.identity.api import create_app
    from entramado.settings import IdentitySettings

    with tempfile.TemporaryDirectory() as scratch:
        # The description does not depend on the index's state: build the app over an empty in-memory database.
        app = create_app(IdentitySettings(data_dir=Path(scratch), database_url="sqlite://"))
        document = app.openapi()
    public: dict[str, dict[str, Any]] = {}
    for method, path in PUBLIC_OPERATIONS:
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:  # the publication must not promise an operation the index lacks
            raise RuntimeError(f"the person index has no {method} {path}")
        public.setdefault(path, {})[method.lower()] = operation
    return {**document, "paths": public, "info": {**document["info"], "title": "DNIC indice personas"}}


def call(
    gateway_url: str,
    client: str,
    method: str,
    path: str,
    subject: str,
    body: dict[str, Any] | None = None,
    *,
    service: str,
    purpose: str = PURPOSE,
) -> Any:
    """Call the index as ``client``'s system does: through its own gateway, with purpose and data subject."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"X-Road-Client": client, "Entramado-Purpose": purpose, "Entramado-Data-Subject": subject}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - an http URL on loopback
        f"{gateway_url}/r1/{service}{path}", data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:500]
        raise RuntimeError(f"{client}: {method} {service}{path} answered {error.code}: {detail}") from None


def subscribe(gateway_url: str, client: str, agency: str, service: str, avisos: str) -> int:
    """``client`` says where it takes notifications (its ``avisos`` service) and follows every person it holds a
    record of; returns how many persons it newly follows."""
    subject = f"ENTRAMADO-SOURCE:{agency}"  # the persons whose records the agency holds
    call(
        gateway_url,
        client,
        "PUT",
        "/subscriber",
        subject,
        {"service": avisos, "path": NOTIFICATIONS_PATH},
        service=service,
    )
    answer = call(gateway_url, client, "POST", "/subscriptions", subject, {"source": agency}, service=service)
    return int(answer["added"])
