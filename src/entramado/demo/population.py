"""A small synthetic Uruguayan population for the demo's agencies (deterministic by seed)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from entramado.identity.standardise import cedula_check_digit

GIVEN_F = [
    "María",
    "Ana",
    "Lucía",
    "Sofía",
    "Valentina",
    "Camila",
    "Florencia",
    "Carolina",
    "Laura",
    "Gabriela",
    "Martina",
    "Natalia",
    "Silvia",
    "Claudia",
    "Rosa",
    "Patricia",
]
GIVEN_M = [
    "Juan",
    "José",
    "Carlos",
    "Luis",
    "Diego",
    "Martín",
    "Santiago",
    "Pablo",
    "Federico",
    "Nicolás",
    "Gonzalo",
    "Andrés",
    "Jorge",
    "Marcelo",
    "Sebastián",
    "Matías",
]
SURNAMES = [
    "Rodríguez",
    "González",
    "Fernández",
    "Pérez",
    "García",
    "Martínez",
    "López",
    "Sosa",
    "Silva",
    "Pereira",
    "Suárez",
    "Díaz",
    "Álvarez",
    "Méndez",
    "Acosta",
    "Da Silva",
    "De Los Santos",
    "Cabrera",
    "Núñez",
    "Romero",
    "Olivera",
    "Techera",
    "Cardozo",
    "Castro",
]
STREETS = [
    "Av. 18 de Julio",
    "Bv. Artigas",
    "Av. Italia",
    "Colonia",
    "Mercedes",
    "Rivera",
    "Av. Brasil",
    "Canelones",
    "Maldonado",
    "Soriano",
    "Av. Millán",
    "Agraciada",
]
DEPARTMENTS = [
    ("Montevideo", 0.55),
    ("Canelones", 0.15),
    ("Maldonado", 0.06),
    ("Salto", 0.04),
    ("Paysandú", 0.04),
    ("Rivera", 0.04),
    ("Colonia", 0.04),
    ("Tacuarembó", 0.04),
    ("Rocha", 0.04),
]


@dataclass(frozen=True)
class Person:
    ci: str
    given_names: str
    first_surname: str
    second_surname: str
    sex: str
    birth_date: dt.date
    street: str
    number: int
    department: str
    income_2025: int
    affiliated: bool


def generate(count: int = 500, seed: int = 450) -> dict[str, Person]:
    rng = random.Random(seed)
    people: dict[str, Person] = {}
    while len(people) < count:
        body = rng.randint(1_000_000, 6_999_999)
        ci = f"{body}{cedula_check_digit(body)}"
        sex = rng.choice("FM")
        given = rng.choice(GIVEN_F if sex == "F" else GIVEN_M)
        if rng.random() < 0.4:
            given += " " + rng.choice(GIVEN_F if sex == "F" else GIVEN_M)
        department = rng.choices([d for d, _ in DEPARTMENTS], [w for _, w in DEPARTMENTS])[0]
        people[ci] = Person(
            ci=ci,
            given_names=given,
            first_surname=rng.choice(SURNAMES),
            second_surname=rng.choice(SURNAMES),
            sex=sex,
            birth_date=dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 30_000)),
            street=rng.choice(STREETS),
            number=rng.randint(100, 4000),
            department=department,
            income_2025=rng.randint(0, 250) * 10_000,
            affiliated=rng.random() < 0.8,
        )
    return people
