"""Flow 2 of the architecture in `entramado demo`: a citizen moves house, the person index updates the golden address
and tells every agency that follows the person, through the network; each delivery is signed and logged at both
gateways and acknowledged by the agency's system. Everything goes over the real network on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from entramado.gateway.identity import GatewayFiles, admin_token
from tests.integration.test_demo import _free_block

BASE = "UY-DEMO/GOB"
INDEX = f"{BASE}/DNIC/indice/personas"
CLIENTS = {"BPS": f"{BASE}/BPS/prestaciones", "DGI": f"{BASE}/DGI/tributos", "IM": f"{BASE}/IM/tramites"}
OFFSET = {"DNIC": 1, "BPS": 2, "DGI": 3, "IM": 4}  # the demo's port scheme (demo/cli.py)


def _until(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.25)


def _plain(name: str) -> str:
    """A name without accents, as the index standardises it."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.upper()) if not unicodedata.combining(c))


def test_move_of_house_is_told_to_every_agency_following_the_person(tmp_path: Path) -> None:
    base = _free_block()
    data_dir, out = tmp_path / "demo", tmp_path / "demo.out"
    with out.open("w") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "entramado", "demo", "-d", str(data_dir), "--base-port", str(base)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _until("demo running", lambda: "Running." in out.read_text() or demo.poll() is not None, 150)
        assert demo.poll() is None, out.read_text()[-3000:]
        with httpx.Client(timeout=30) as http:
            _exercise(http, base, data_dir)
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert code == 0 and "stopping" in out.read_text(), out.read_text()[-3000:]
    try:
        httpx.get(f"http://127.0.0.1:{base + 30}/readyz", timeout=2)
        raise AssertionError("the person index still answers after Ctrl-C")
    except httpx.TransportError:
        pass
    # Both message logs verify whole (hash chains, signatures, timestamps), side by side to save time.
    verifiers = [
        subprocess.Popen(
            [sys.executable, "-m", "entramado", "log", "verify", "-d", str(data_dir / "gateways" / agency)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for agency in ("DNIC", "BPS")
    ]
    for verifier in verifiers:
        output, _ = verifier.communicate(timeout=60)
        assert verifier.returncode == 0 and "OK" in output, output


def _exercise(http: httpx.Client, base: int, data_dir: Path) -> None:
    example = json.loads((data_dir / "identity" / "example.json").read_text())
    person = example["person_id"]

    def index(agency: str, method: str, path: str, subject: str, body: object = None) -> httpx.Response:
        """The agency's system calls the person index through its own gateway."""
        headers = {"X-Road-Client": CLIENTS[agency], "Entramado-Purpose": "identificacion"}
        headers["Entramado-Data-Subject"] = subject
        url = f"http://127.0.0.1:{base + OFFSET[agency]}/r1/{INDEX}{path}"
        return http.request(method, url, headers=headers, json=body)

    # One population: the example person's cédula answers at DNIC through the network, and the index's golden
    # record of the person has the same cédula and names (taken from DNIC's record); BPS and DGI hold the person too.
    subject = f"UY-CI:{example['ci']}"
    asked = {"X-Road-Client": CLIENTS["BPS"], "Entramado-Purpose": "prestaciones-sociales"}
    identity = http.get(
        f"http://127.0.0.1:{base + OFFSET['BPS']}/r1/{BASE}/DNIC/identificacion/personas/personas/{example['ci']}",
        headers={**asked, "Entramado-Data-Subject": subject},
    )
    assert identity.status_code == 200, identity.text
    assert identity.headers["X-Road-Service"] == f"{BASE}/DNIC/identificacion/personas"
    dnic = identity.json()
    assert dnic["ci"] == example["ci"]
    golden = index("BPS", "GET", f"/persons/{person}", f"ENTRAMADO-PID:{person}")
    assert golden.status_code == 200, golden.text
    values = {name: attribute["value"] for name, attribute in golden.json()["golden"].items()}
    assert values["national_id"] == dnic["ci"].zfill(8)
    names = ("nombres", "primer_apellido", "segundo_apellido")
    assert [_plain(dnic[n]) for n in names] == [
        _plain(values[n]) for n in ("given_names", "first_surname", "second_surname")
    ]
    assert [_plain(dnic[n]) for n in names] == [
        _plain(example["fields"][n]) for n in ("given_names", "first_surname", "second_surname")
    ]
    assert (dnic["fecha_nacimiento"], dnic["sexo"]) == (values["birth_date"], values["sex"])
    systems = {agency: f"http://127.0.0.1:{base + 20 + OFFSET[agency]}/personas/{example['ci']}" for agency in OFFSET}
    assert http.get(f"{systems['BPS']}/afiliacion").status_code == 200
    assert http.get(f"{systems['DGI']}/ingresos").json()["ci"] == example["ci"]
    assert http.get(f"{systems['IM']}/domicilio").status_code == 404  # IM holds no record of the person yet
    assert http.get(f"http://127.0.0.1:{base + 21}/personas/12345672").status_code == 404  # nobody's cédula

    # BPS finds the person by what it knows of them.
    found = index("BPS", "POST", "/persons/match", f"UY-CI:{example['ci']}", {"fields": example["fields"]})
    assert found.status_code == 200, found.text
    assert found.headers["X-Road-Service"] == INDEX
    assert (found.json()["decision"], found.json()["person_id"]) == ("match", person)
    held = index("DGI", "GET", f"/persons/{person}/records", f"ENTRAMADO-PID:{person}")
    assert held.status_code == 200, held.text
    assert {r["source"] for r in held.json()["records"]} == {"DNIC", "BPS", "DGI"}

    # The person registers a new address at the municipality, whose system sends it to the index.
    move = {
        "source": "IM",
        "record_id": "TEST-MOVE-1",
        "fields": {**example["fields"], "address": "Bv. Artigas 1234 apto 2", "department": "Montevideo"},
    }
    moved = index("IM", "POST", "/records", f"UY-CI:{example['ci']}", move)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["decision"], moved.json()["person_id"]) == ("match", person)

    # BPS and DGI follow the person (they hold records of them): each system is told once, through the network.
    def told(agency: str) -> list[dict[str, Any]]:
        inbox = http.get(f"http://127.0.0.1:{base + 20 + OFFSET[agency]}/notificaciones").json()
        return [n for n in inbox if n["notification"]["person_id"] == person]

    _until("BPS and DGI told", lambda: told("BPS") and told("DGI"), 20)
    time.sleep(1.5)  # a repeat, were there one, would come within the dispatcher's next pass
    deliveries = {}
    for agency in ("BPS", "DGI"):
        [received] = told(agency)
        notification = received["notification"]
        assert notification["event"] == "person.changed" and notification["seq"] == 1
        assert notification["subscriber"] == CLIENTS[agency]
        assert received["from"] == f"{BASE}/DNIC/indice"
        address = notification["golden"]["address"]
        assert address["source"] == "IM" and address["value"]["street_name"] == "ARTIGAS", address
        deliveries[agency] = received["x_road_id"]
    assert told("IM") == []  # IM held no record of the person when it subscribed

    # The index shows each agency its own delivery acknowledged, and nobody else's.
    for agency in ("BPS", "DGI"):

        def delivered(agency: str = agency) -> list[dict[str, Any]]:
            answer = index(agency, "GET", f"/persons/{person}/notifications", f"ENTRAMADO-PID:{person}")
            assert answer.status_code == 200, answer.text
            rows = answer.json()
            return rows if rows and all(r["status"] == "delivered" for r in rows) else []

        rows = _until(f"{agency}'s delivery acknowledged", delivered, 20)
        assert [r["subscriber"] for r in rows] == [CLIENTS[agency]]

    # Each delivery is signed and logged at both ends: DNIC's gateway sent it, BPS's took it.
    for agency, side in (("DNIC", "client"), ("BPS", "provider")):
        token = admin_token(GatewayFiles(data_dir / "gateways" / agency))
        evidence = http.get(
            f"http://127.0.0.1:{base + OFFSET[agency]}/admin/evidence/{deliveries['BPS']}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert evidence.status_code == 200, evidence.text
        records = [item["record"] for item in evidence.json()["items"]]
        assert {(r["side"], r["kind"]) for r in records} == {(side, "request"), (side, "response")}
        assert {r["service"] for r in records} == {f"{BASE}/BPS/prestaciones/avisos"}
        assert {r["client"] for r in records} == {f"{BASE}/DNIC/indice"}
        assert all(r["purpose"] == "notificacion-cambio" for r in records)
        assert [r["status"] for r in records if r["kind"] == "response"] == [200]
