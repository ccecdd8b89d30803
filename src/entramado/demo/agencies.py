"""The demo agencies' own systems: small FastAPI services over the synthetic population.

They are what sits *behind* each gateway: plain HTTP, no security of their own, reachable only
on loopback. Each publishes an OpenAPI description the registry stores. BPS, DGI and IM also take
the person index's change notifications (service ``avisos``, ``POST /notificaciones``) and list
what they received (``GET /notificaciones``, local only, for the demo and its tests).

There is one population: the identity synthetic generator's, with the seed and size of the records the person
index links (``demo/index.py`` writes them). Each agency's system serves the persons it holds records of, with
the truth behind the records (the name as the civil registry has it, the household's address), so a cédula the
demo prints answers at the agencies and in the index alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Path, Query
from pydantic import BaseModel, Field

from entramado.identity.synthetic import (
    Household,
    HouseholdAddress,
    Person,
    SyntheticConfig,
    generate_records,
    iter_households,
)

CI = Path(..., pattern=r"^[0-9]{7,8}$", description="Cédula de identidad, with check digit")
NOTIFICATIONS_PATH = "/notificaciones"
NOTIFY_PURPOSE = "notificacion-cambio"
#: The person index, a service of DNIC's subsystem ``indice`` (run by ``entramado identity serve``, not here).
INDEX_MEMBER = "DNIC"
INDEX_SUBSYSTEM = f"{INDEX_MEMBER}/indice"
INDEX_SERVICE = f"{INDEX_SUBSYSTEM}/personas"


@dataclass(frozen=True)
class ServiceSpec:
    subsystem: str
    code: str
    personal_data: tuple[str, ...]


@dataclass(frozen=True)
class AgencySpec:
    code: str
    name: str
    subsystems: tuple[str, ...]
    services: tuple[ServiceSpec, ...] = field(default_factory=tuple)


AGENCIES = (
    AgencySpec(
        "DNIC",
        "Dirección Nacional de Identificación Civil",
        ("identificacion", "indice"),
        (ServiceSpec("identificacion", "personas", ("identidad",)),),
    ),
    AgencySpec(
        "BPS",
        "Banco de Previsión Social",
        ("prestaciones",),
        (
            ServiceSpec("prestaciones", "afiliaciones", ("seguridad-social",)),
            ServiceSpec("prestaciones", "avisos", ("identidad",)),
        ),
    ),
    AgencySpec(
        "DGI",
        "Dirección General Impositiva",
        ("tributos",),
        (ServiceSpec("tributos", "ingresos", ("ingresos",)), ServiceSpec("tributos", "avisos", ("identidad",))),
    ),
    AgencySpec(
        "IM",
        "Intendencia de Montevideo",
        ("tramites",),
        (
            ServiceSpec("tramites", "domicilios", ("domicilio",)),
            ServiceSpec("tramites", "catalogo", ()),
            ServiceSpec("tramites", "avisos", ("identidad",)),
        ),
    ),
)
#: Agencies that follow the persons they hold in the person index: agency code -> its subsystem.
SUBSCRIBERS = {a.code: s.subsystem for a in AGENCIES for s in a.services if s.code == "avisos"}

# (client subsystem, provider service, purposes, method, path)
GRANTS: tuple[tuple[str, str, list[str], str | None, str | None], ...] = (
    (
        "BPS/prestaciones",
        "DGI/tributos/ingresos",
        ["prestaciones-sociales"],
        "GET",
        "/personas/{ci}/ingresos",
    ),
    ("BPS/prestaciones", "DNIC/identificacion/personas", ["prestaciones-sociales"], "GET", None),
    ("DGI/tributos", "DNIC/identificacion/personas", ["fiscalizacion"], "GET", None),
    ("IM/tramites", "DNIC/identificacion/personas", ["tramite-municipal"], "GET", None),
    ("IM/tramites", "BPS/prestaciones/afiliaciones", ["tramite-municipal"], None, None),
    ("DNIC/identificacion", "IM/tramites/domicilios", ["actualizacion-domicilio"], "GET", None),
    ("BPS/prestaciones", "IM/tramites/catalogo", [], None, None),
    ("DGI/tributos", "IM/tramites/catalogo", [], None, None),
    ("DNIC/identificacion", "IM/tramites/catalogo", [], None, None),
    # The person index: each subscribing agency identifies persons and manages its subscriptions with it...
    *((f"{code}/{sub}", INDEX_SERVICE, ["identificacion"], None, None) for code, sub in SUBSCRIBERS.items()),
    # ...and the index tells each of them when a person it follows changes.
    *(
        (INDEX_SUBSYSTEM, f"{code}/{sub}/avisos", [NOTIFY_PURPOSE], "POST", NOTIFICATIONS_PATH)
        for code, sub in SUBSCRIBERS.items()
    ),
)


#: The agencies' records, as the identity synthetic generator writes them for this seed and size: the person index
#: links them (``demo/index.py``) and the agencies' systems serve the persons behind them.
RECORDS = 3000
SEED = 450
#: The only year DGI has declarations for.
TAX_YEAR = 2025


@dataclass(frozen=True)
class Citizen:
    """A person as the agencies' systems know them: the truth behind their records, and what follows from it."""

    person: Person
    address: HouseholdAddress
    affiliated: bool  # contributes to social security
    benefits: tuple[str, ...]
    income: int  # declared nominal income in TAX_YEAR, pesos

    @property
    def ci(self) -> str:
        """The cédula's digits as people write them (``9686429``, no padding)."""
        return str(int(self.person.cedula_digits))


#: Agency code -> the persons it holds records of, by :attr:`Citizen.ci`.
Population = dict[str, dict[str, Citizen]]


def population(records: int = RECORDS, seed: int = SEED) -> Population:
    """The persons each agency holds at least one record of, among the ``records`` synthetic records of ``seed``.

    A record carries the truth's person id, not always the person's own cédula (a typo at DGI, a parent's at BPS or
    IM for a minor): the agency serves the person, under their true cédula.
    """
    config = SyntheticConfig()
    held: dict[int, set[str]] = {}
    for record in generate_records(records, seed=seed, config=config):
        held.setdefault(record.person_id, set()).add(record.agency)
    out: Population = {agency.code: {} for agency in AGENCIES}
    remaining = len(held)
    households = iter_households(seed, config)
    while remaining:  # records come household by household: the people behind them are the stream's first ones
        household = next(households)
        for person in household.members:
            agencies = held.get(person.person_id)
            if agencies is None:
                continue
            remaining -= 1
            citizen = _citizen_of(person, household, config.reference_date)
            for agency in agencies:
                out[agency][citizen.ci] = citizen
    return out


def _citizen_of(person: Person, household: Household, at: dt.date) -> Citizen:
    """What no record carries (affiliation, benefits, income) follows from the person, their household and a draw
    seeded by their cédula: the same at every start. Ages are at the generator's reference date ``at``."""
    born = person.birth_date
    age = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    parent = any(person.person_id in m.parent_ids and m.is_minor(at) for m in household.members)
    draw = random.Random(f"entramado-demo/{person.cedula_digits}")
    # Retirees and four adults in five contribute; a minor is covered through a parent and declares nothing.
    affiliated = age >= 65 or (age >= 18 and draw.random() < 0.8)
    if age >= 65:
        benefits: tuple[str, ...] = ("jubilacion",)
    else:
        benefits = ("asignacion-familiar",) if affiliated and parent else ()
    income = draw.randint(0, 250) * 10_000 if age >= 18 else 0
    return Citizen(person, household.address, affiliated, benefits, income)


def _citizen(people: Mapping[str, Citizen], ci: str) -> Citizen:
    citizen = people.get(ci.lstrip("0"))  # 8 digits padded (09686429) or as written (9686429)
    if citizen is None:
        raise HTTPException(404, f"no person with cédula {ci}")
    return citizen


def dnic_app(people: Mapping[str, Citizen]) -> FastAPI:
    app = FastAPI(title="DNIC — personas", version="1.0.0")

    @app.get("/personas/{ci}", summary="Identity data of a person")
    def persona(ci: str = CI) -> dict[str, Any]:
        c = _citizen(people, ci)
        p = c.person
        return {
            "ci": c.ci,
            "nombres": p.given_names,
            "primer_apellido": p.first_surname,
            "segundo_apellido": p.second_surname,
            "sexo": p.sex,
            "fecha_nacimiento": p.birth_date.isoformat(),
        }

    return app


def bps_app(people: Mapping[str, Citizen]) -> FastAPI:
    app = FastAPI(title="BPS — afiliaciones", version="1.0.0")

    @app.get("/personas/{ci}/afiliacion", summary="Social-security affiliation")
    def afiliacion(ci: str = CI) -> dict[str, Any]:
        c = _citizen(people, ci)
        return {"ci": c.ci, "afiliado": c.affiliated, "prestaciones": list(c.benefits)}

    return app


def dgi_app(people: Mapping[str, Citizen]) -> FastAPI:
    app = FastAPI(title="DGI — ingresos", version="1.0.0")

    @app.get("/personas/{ci}/ingresos", summary="Declared yearly income")
    def ingresos(ci: str = CI, anio: int = Query(TAX_YEAR, ge=2000, le=2100)) -> dict[str, Any]:
        c = _citizen(people, ci)
        if anio != TAX_YEAR:
            raise HTTPException(404, f"no declaration for {anio}")
        return {"ci": c.ci, "anio": anio, "ingresos_nominales_uyu": c.income}

    return app


def im_app(people: Mapping[str, Citizen]) -> FastAPI:
    app = FastAPI(title="IM — trámites", version="1.0.0")

    @app.get("/personas/{ci}/domicilio", summary="Address on the municipal register")
    def domicilio(ci: str = CI) -> dict[str, Any]:
        c = _citizen(people, ci)
        a = c.address
        return {
            "ci": c.ci,
            "calle": f"{a.street_type} {a.street_name}",
            "numero": a.number,
            "departamento": a.department,
        }

    @app.get("/tramites", summary="Catalogue of municipal procedures")
    def tramites() -> list[dict[str, str]]:
        return [
            {"codigo": "cambio-domicilio", "nombre": "Cambio de domicilio"},
            {"codigo": "permiso-construccion", "nombre": "Permiso de construcción"},
        ]

    return app


class Notification(BaseModel):
    """A change notification from the person index (``identity/notify.py``); other fields are kept as sent."""

    model_config = {"extra": "allow"}

    event: str = Field(max_length=64)
    person_id: str = Field(max_length=64)
    seq: int = Field(ge=1)
    idempotency_key: str = Field(min_length=1, max_length=200)


class Inbox:
    """The notifications an agency's system received, each once: a repeat (a lost acknowledgement) is dropped by
    its idempotency key and acknowledged again."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._keys: set[str] = set()

    def receive(self, notification: Notification, client: str | None, xroad_id: str | None) -> bool:
        """Keep a notification; False when it is a repeat."""
        if notification.idempotency_key in self._keys:
            return False
        self._keys.add(notification.idempotency_key)
        self.received.append(
            {
                "received_at": dt.datetime.now(dt.UTC).isoformat(),
                "from": client,
                "x_road_id": xroad_id,  # the exchange's evidence at both gateways: GET /admin/evidence/{x_road_id}
                "notification": notification.model_dump(),
            }
        )
        return True


def add_inbox(app: FastAPI, inbox: Inbox) -> None:
    """``POST /notificaciones`` (published as the agency's ``avisos`` service) and ``GET /notificaciones``."""

    @app.post(NOTIFICATIONS_PATH, summary="Take a change notification from the person index")
    async def notificar(
        notification: Notification,
        x_road_client: Annotated[str | None, Header()] = None,
        x_road_id: Annotated[str | None, Header()] = None,
    ) -> dict[str, str]:
        inbox.receive(notification, x_road_client, x_road_id)
        return {"acknowledged": notification.idempotency_key}

    @app.get(NOTIFICATIONS_PATH, summary="Notifications received (local only: not published)")
    async def notificaciones() -> list[dict[str, Any]]:
        return inbox.received


APPS = {"DNIC": dnic_app, "BPS": bps_app, "DGI": dgi_app, "IM": im_app}


def agency_app(code: str, people: Mapping[str, Citizen]) -> FastAPI:
    """An agency's whole system over the persons it holds (by cédula): its services, and the notification inbox
    when it follows persons."""
    app = APPS[code](people)
    if code in SUBSCRIBERS:
        add_inbox(app, Inbox())
    return app


async def serve_all(ports: dict[str, int]) -> None:
    """Run every agency's system on its port in one process."""
    import uvicorn

    held = population()
    servers = [
        uvicorn.Server(uvicorn.Config(agency_app(code, held[code]), host="127.0.0.1", port=port, log_level="warning"))
        for code, port in ports.items()
    ]
    await asyncio.gather(*(server.serve() for server in servers))


if __name__ == "__main__":
    # python -m entramado.demo.agencies DNIC=9001 BPS=9002 …
    asyncio.run(serve_all({k: int(v) for k, v in (arg.split("=") for arg in sys.argv[1:])}))
