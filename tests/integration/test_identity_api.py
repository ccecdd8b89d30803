"""The person index's API on each database, after a batch run: upsert, match, persons, records, review queue, and
precise errors for bad input."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from entramado.db import upgrade
from entramado.identity import services
from entramado.identity.api import create_app
from entramado.identity.mapping import load_mapping
from entramado.identity.pipeline import LinkConfig
from entramado.identity.synthetic import generate_records, identity_fields, write_csv
from entramado.settings import identity_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:splink")
TOKEN = "test-admin-token"


@pytest.fixture
def client(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[tuple[TestClient, Path]]:
    upgrade(database_url)
    write_csv(generate_records(1500, seed=11), tmp_path)
    services.link_mapping(engine, load_mapping(tmp_path / "mapping.toml"), config=LinkConfig(u_max_pairs=1e5))
    settings = identity_settings(tmp_path / "index", database_url=database_url, admin_token=TOKEN)
    with TestClient(create_app(settings)) as http:
        yield http, tmp_path


def _dnic_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "DNIC.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_upsert_matches_a_known_person_and_creates_a_new_one(client: tuple[TestClient, Path]) -> None:
    http, folder = client
    assert http.get("/readyz").json()["ready"] is True
    row = _dnic_rows(folder)[0]
    known = http.post("/persons/match", json={"fields": {"national_id": row["cedula"]}}).json()
    fields = identity_fields(row)
    matched = http.post("/persons/match", json={"fields": fields})
    assert matched.status_code == 200
    body = matched.json()
    assert body["decision"] == "match", body
    person_id = body["person_id"]
    evidence = body["persons"][0]["records"][0]["evidence"]
    assert {e["comparison"] for e in evidence} >= {"national_id", "given_names", "birth_date"}
    assert all(isinstance(e["weight"], float) for e in evidence)
    assert known["persons"]  # the cédula alone finds the candidates

    # A new agency record of the same person joins that person, durably.
    stored = http.post("/records", json={"source": "MIDES", "record_id": "A-1", "fields": fields}).json()
    assert stored["decision"] == "match" and stored["person_id"] == person_id and not stored["person_created"]
    again = http.post("/records", json={"source": "MIDES", "record_id": "A-1", "fields": fields}).json()
    assert again["decision"] == "unchanged" and again["person_id"] == person_id
    records = http.get(f"/persons/{person_id}/records").json()["records"]
    assert ("MIDES", "A-1") in {(r["source"], r["record_id"]) for r in records}
    golden = http.get(f"/persons/{person_id}").json()["golden"]
    assert golden["national_id"]["source"] in {"DNIC", "BPS", "IM", "DGI", "MIDES"}

    # Someone nobody has seen is a new person.
    stranger = {
        "given_names": "Zoraida",
        "first_surname": "Quintanilla",
        "second_surname": "Eguren",
        "birth_date": "1931-02-03",
        "national_id": "1.000.001-5",
        "national_id_scheme": "UY-CI",
    }
    new = http.post("/records", json={"source": "MIDES", "record_id": "A-2", "fields": stranger}).json()
    assert new["decision"] == "new" and new["person_created"]
    assert http.get(f"/persons/{new['person_id']}").json()["golden"]["first_surname"]["value"] == "QUINTANILLA"


def test_bad_input_gets_precise_errors(client: tuple[TestClient, Path]) -> None:
    http, _ = client
    cases = [
        ({"source": "X", "record_id": "1", "fields": {"cedula": "1"}}, 400, "Client.BadRequest"),
        ({"source": "X", "record_id": "1", "fields": {"national_id": "12A45678"}}, 422, "Client.RecordRejected"),
        ({"source": "X", "record_id": "1", "fields": {"birth_date": "31/02/1980"}}, 422, "Client.RecordRejected"),
        ({"source": "", "record_id": "1", "fields": {}}, 400, "Client.BadRequest"),
        ({"source": "X", "record_id": "1", "fields": {"given_names": "A" * 5000}}, 400, "Client.BadRequest"),
        ({"source": "X", "record_id": "1", "fields": {}, "extra": 1}, 400, "Client.BadRequest"),
    ]
    for body, status, kind in cases:
        answer = http.post("/records", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["type"] == kind and answer.headers["X-Road-Error"] == kind
    assert http.post("/records", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert http.get("/persons/NOSUCHPERSON").json()["type"] == "Client.NotFound"
    assert http.get("/reviews").status_code == 401


def test_review_queue_over_http(client: tuple[TestClient, Path]) -> None:
    http, _ = client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    queue = http.get("/reviews", headers=auth).json()
    assert isinstance(queue, list)
    assert queue, "the batch run over this population sends pairs to review"
    review = queue[0]
    assert {"a", "b", "weight", "probability", "evidence", "kind"} <= set(review)
    decided = http.post(
        f"/reviews/{review['id']}/decision", json={"decision": "different", "decided_by": "official-1"}, headers=auth
    )
    assert decided.status_code == 200 and decided.json()["status"] == "decided"
    twice = http.post(
        f"/reviews/{review['id']}/decision", json={"decision": "same", "decided_by": "official-2"}, headers=auth
    )
    assert twice.status_code == 409
    bad = http.post(f"/reviews/{review['id']}/decision", json={"decision": "maybe", "decided_by": "x"}, headers=auth)
    assert bad.status_code == 400


def test_subscriptions_over_http_take_the_caller_from_its_gateway(client: tuple[TestClient, Path]) -> None:
    http, _ = client
    bps = {"X-Road-Client": "UY-DEMO/GOB/BPS/prestaciones"}
    answer = http.put("/subscriber", json={"service": "UY-DEMO/GOB/BPS/prestaciones/avisos"}, headers=bps)
    assert answer.status_code == 200 and answer.json()["subscriber"] == bps["X-Road-Client"]
    added = http.post("/subscriptions", json={"source": "BPS"}, headers=bps).json()
    assert added["subscriber"] == bps["X-Road-Client"] and added["added"] > 0
    assert http.post("/subscriptions", json={"source": "BPS"}, headers=bps).json()["added"] == 0
    # No gateway, no subscriber: a query parameter cannot stand in for the header.
    for call in (
        http.post("/subscriptions?client=UY-DEMO/GOB/DGI/tributos", json={"source": "DGI"}),
        http.put("/subscriber", json={"service": "UY-DEMO/GOB/DGI/tributos/avisos"}),
        http.get("/persons/X/notifications"),
    ):
        assert call.status_code == 400 and call.json()["type"] == "Client.BadRequest", call.text
    bad = http.post("/subscriptions", json={"source": "BPS"}, headers={"X-Road-Client": "not/an/id"})
    assert bad.status_code == 400
    assert http.get("/openapi.json").status_code == 200
