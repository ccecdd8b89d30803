"""The demo agencies' own systems: small FastAPI services over the synthetic population.

They are what sits *behind* each gateway: plain HTTP, no security of their own, reachable only
on loopback. Each publishes an OpenAPI description the registry stores.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Path, Query

from entramado.demo.population import Person, generate

CI = Path(..., pattern=r"^[0-9]{7,8}$", description="Cédula de identidad, with check digit")


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
        ("identificacion",),
        (ServiceSpec("identificacion", "personas", ("identidad",)),),
    ),
    AgencySpec(
        "BPS",
        "Banco de Previsión Social",
        ("prestaciones",),
        (ServiceSpec("prestaciones", "afiliaciones", ("seguridad-social",)),),
    ),
    AgencySpec(
        "DGI", "Dirección General Impositiva", ("tributos",), (ServiceSpec("tributos", "ingresos", ("ingresos",)),)
    ),
    AgencySpec(
        "IM",
        "Intendencia de Montevideo",
        ("tramites",),
        (ServiceSpec("tramites", "domicilios", ("domicilio",)), ServiceSpec("tramites", "catalogo", ())),
    ),
)

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
)


def _person(people: dict[str, Person], ci: str) -> Person:
    person = people.get(ci)
    if person is None:
        raise HTTPException(404, f"no person with cédula {ci}")
    return person


def dnic_app(people: dict[str, Person]) -> FastAPI:
    app = FastAPI(title="DNIC — personas", version="1.0.0")

    @app.get("/personas/{ci}", summary="Identity data of a person")
    def persona(ci: str = CI) -> dict[str, Any]:
        p = _person(people, ci)
        return {
            "ci": p.ci,
            "nombres": p.given_names,
            "primer_apellido": p.first_surname,
            "segundo_apellido": p.second_surname,
            "sexo": p.sex,
            "fecha_nacimiento": p.birth_date.isoformat(),
        }

    return app


def bps_app(people: dict[str, Person]) -> FastAPI:
    app = FastAPI(title="BPS — afiliaciones", version="1.0.0")

    @app.get("/personas/{ci}/afiliacion", summary="Social-security affiliation")
    def afiliacion(ci: str = CI) -> dict[str, Any]:
        p = _person(people, ci)
        return {
            "ci": p.ci,
            "afiliado": p.affiliated,
            "prestaciones": ["asignacion-familiar"] if p.affiliated else [],
        }

    return app


def dgi_app(people: dict[str, Person]) -> FastAPI:
    app = FastAPI(title="DGI — ingresos", version="1.0.0")

    @app.get("/personas/{ci}/ingresos", summary="Declared yearly income")
    def ingresos(ci: str = CI, anio: int = Query(2025, ge=2000, le=2100)) -> dict[str, Any]:
        p = _person(people, ci)
        if anio != 2025:
            raise HTTPException(404, f"no declaration for {anio}")
        return {"ci": p.ci, "anio": anio, "ingresos_nominales_uyu": p.income_2025}

    return app


def im_app(people: dict[str, Person]) -> FastAPI:
    app = FastAPI(title="IM — trámites", version="1.0.0")

    @app.get("/personas/{ci}/domicilio", summary="Address on the municipal register")
    def domicilio(ci: str = CI) -> dict[str, Any]:
        p = _person(people, ci)
        return {"ci": p.ci, "calle": p.street, "numero": p.number, "departamento": p.department}

    @app.get("/tramites", summary="Catalogue of municipal procedures")
    def tramites() -> list[dict[str, str]]:
        return [
            {"codigo": "cambio-domicilio", "nombre": "Cambio de domicilio"},
            {"codigo": "permiso-construccion", "nombre": "Permiso de construcción"},
        ]

    return app


APPS = {"DNIC": dnic_app, "BPS": bps_app, "DGI": dgi_app, "IM": im_app}


async def serve_all(ports: dict[str, int]) -> None:
    """Run every agency's system on its port in one process."""
    import uvicorn

    people = generate()
    servers = [
        uvicorn.Server(uvicorn.Config(APPS[code](people), host="127.0.0.1", port=port, log_level="warning"))
        for code, port in ports.items()
    ]
    await asyncio.gather(*(server.serve() for server in servers))


if __name__ == "__main__":
    # python -m entramado.demo.agencies DNIC=9001 BPS=9002 …
    asyncio.run(serve_all({k: int(v) for k, v in (arg.split("=") for arg in sys.argv[1:])}))
