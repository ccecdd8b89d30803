"""Street addresses and departments."""

import random

import pytest

from entramado.identity.standardise import DEPARTMENTS, Address, StandardisationError, department, standardise_address

A = Address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Av. 18 de Julio 1234 apto 502", A("AVENIDA", "18 DE JULIO", "1234", "APTO 502")),
        ("Avda. Italia 3456", A("AVENIDA", "ITALIA", "3456")),
        ("Avenida Italia 3456", A("AVENIDA", "ITALIA", "3456")),
        ("AV ITALIA 3456", A("AVENIDA", "ITALIA", "3456")),
        ("Bv. Artigas 1100 ap. 302", A("BULEVAR", "ARTIGAS", "1100", "APTO 302")),
        ("Bvar. España 2345 esc. 301", A("BULEVAR", "ESPANA", "2345", "ESC 301")),
        ("Bulevar Batlle y Ordóñez 2976", A("BULEVAR", "BATLLE Y ORDONEZ", "2976")),
        ("Camino Carrasco 5678", A("CAMINO", "CARRASCO", "5678")),
        ("Cno. Maldonado 6000 apt. 4", A("CAMINO", "MALDONADO", "6000", "APTO 4")),
        ("Pje. A 123", A("PASAJE", "A", "123")),
        ("Rbla. República de México 5555", A("RAMBLA", "REPUBLICA DE MEXICO", "5555")),
        ("Rambla O'Higgins 5555 dpto. 3", A("RAMBLA", "OHIGGINS", "5555", "APTO 3")),
        ("Av. 8 de Octubre 2.345 apto 5B", A("AVENIDA", "8 DE OCTUBRE", "2345", "APTO 5B")),
        ("25 de Mayo 444", A(None, "25 DE MAYO", "444")),
        ("Calle 12 N° 345", A("CALLE", "12", "345")),
        ("Calle 12 N\u00ba 345", A("CALLE", "12", "345")),
        ("Calle 12 Nro. 345", A("CALLE", "12", "345")),
        ("Calle 12 #345", A("CALLE", "12", "345")),
        ("12 345/5", A(None, "12", "345", "APTO 5")),
        ("Arenal Grande 1234 bis", A(None, "ARENAL GRANDE", "1234 BIS")),
        ("Arenal Grande 1234A", A(None, "ARENAL GRANDE", "1234A")),
        ("San José 1234/502", A(None, "SAN JOSE", "1234", "APTO 502")),
        ("Colonia 1234 esquina Ejido", A(None, "COLONIA", "1234", corner="EJIDO")),
        ("Bv. Artigas 1100 esq. Av. Italia", A("BULEVAR", "ARTIGAS", "1100", corner="AVENIDA ITALIA")),
        ("Av. Italia 3456 block B apto 101", A("AVENIDA", "ITALIA", "3456", "BLOCK B APTO 101")),
        ("Av. Italia 3456 Torre 2 Piso 7 Of. 703", A("AVENIDA", "ITALIA", "3456", "TORRE 2 PISO 7 OF 703")),
        ("Manzana 12 Solar 5", A(unit="MZ 12 SOLAR 5")),
        ("Camino del Andaluz s/n", A("CAMINO", "DEL ANDALUZ")),
        ("Camino del Andaluz S/N km 8", A("CAMINO", "DEL ANDALUZ", km="8")),
        ("Ruta 5 km 32", A("RUTA", "5", km="32")),
        ("Ruta 8 Km. 17.500", A("RUTA", "8", km="17.5")),
        ("Ruta Nacional 5 Km 32,5", A("RUTA", "5", km="32.5")),
        ("RUTA 5, KM 32.0", A("RUTA", "5", km="32")),
        ("Ruta Interbalnearia km 40,100", A("RUTA", "INTERBALNEARIA", km="40.1")),
        ("18 DE JULIO 1234 - APTO 502, MONTEVIDEO", A(None, "18 DE JULIO", "1234", "APTO 502", locality="MONTEVIDEO")),
        ("Colonia y Ejido", A(None, "COLONIA Y EJIDO")),
        (
            "18 de Julio 1234 entre Ejido y Yaguarón",
            A(None, "18 DE JULIO", "1234", extra="ENTRE EJIDO Y YAGUARON"),
        ),
        ("Uruguay 1234 Montevideo", A(None, "URUGUAY", "1234", extra="MONTEVIDEO")),
        (
            "Uruguay 1234, Ciudad Vieja, Montevideo",
            A(None, "URUGUAY", "1234", locality="CIUDAD VIEJA", extra="MONTEVIDEO"),
        ),
        ("Casavalle 4000", A(None, "CASAVALLE", "4000")),
        ("Calle Torre Alta 12", A("CALLE", "TORRE ALTA", "12")),  # a unit word without an id is part of the name
    ],
)
def test_addresses(text: str, expected: Address) -> None:
    assert standardise_address(text) == expected


def test_the_five_ways_the_im_writes_one_address_agree() -> None:
    ways = [
        "Av. 18 de Julio 1234 apto 502",
        "AVENIDA 18 DE JULIO 1234/502",
        "18 de Julio N° 1234 Ap. 502",
        "Avda. 18 de Julio 1234 esq. Ejido apto. 502",
        "18 DE JULIO 1234 - APTO 502, MONTEVIDEO",
    ]
    parsed = [standardise_address(w) for w in ways]
    assert {(a.street_name, a.number, a.unit) for a in parsed} == {("18 DE JULIO", "1234", "APTO 502")}
    assert {a.street_type for a in parsed} == {"AVENIDA", None}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("... -- ()", "has no letters or digits"),
        (", ,", "has no street, number, unit or km"),
    ],
)
def test_address_errors(text: str, reason: str) -> None:
    with pytest.raises(StandardisationError) as info:
        standardise_address(text)
    assert (info.value.field, info.value.reason) == ("address", reason)


def test_all_nineteen_departments() -> None:
    assert len(DEPARTMENTS) == 19
    assert all(department(name) == name for name in DEPARTMENTS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Montevideo", "MONTEVIDEO"),
        ("montevideo ", "MONTEVIDEO"),
        ("MVD", "MONTEVIDEO"),
        ("UY-MO", "MONTEVIDEO"),
        ("Paysandú", "PAYSANDU"),
        ("Tacuarembó", "TACUAREMBO"),
        ("Río Negro", "RIO NEGRO"),
        ("rionegro", "RIO NEGRO"),
        ("San José", "SAN JOSE"),
        ("Treinta y Tres", "TREINTA Y TRES"),
        ("Treintaytres", "TREINTA Y TRES"),
        ("33", "TREINTA Y TRES"),
        ("T. y Tres", "TREINTA Y TRES"),
        ("Cerro Largo", "CERRO LARGO"),
        ("Departamento de Canelones", "CANELONES"),
        ("Dpto. Lavalleja", "LAVALLEJA"),
        ("UY-FS", "FLORES"),
        ("UY-FD", "FLORIDA"),
        # typos
        ("Montevdeo", "MONTEVIDEO"),
        ("Montevidoe", "MONTEVIDEO"),  # adjacent transposition
        ("Canelnes", "CANELONES"),
        ("Paysnadu", "PAYSANDU"),
        ("Tacuarenbo", "TACUAREMBO"),
        ("Maldonaod", "MALDONADO"),
        ("Trenta y Tes", "TREINTA Y TRES"),  # two edits in a long name
        ("Slato", "SALTO"),
        ("Rivrea", "RIVERA"),
        ("Floridda", "FLORIDA"),
        ("Florez", "FLORES"),
        # not departments, or too far, or ambiguous
        ("Buenos Aires", None),
        ("Mvdeo Centro", None),
        ("Sato", "SALTO"),  # one edit; the allowance depends on the department's length (5: one edit)
        ("Sxlto", "SALTO"),
        ("Sxxto", None),  # two edits on a 5-letter name
        ("Montxvxdxo", None),  # three edits on a 10-letter name
        ("Flor", None),
        ("", None),
        ("  ", None),
    ],
)
def test_department(text: str, expected: str | None) -> None:
    assert department(text) == expected


def test_department_ties_return_none() -> None:
    assert department("ABCD", names=("ABCDE", "ABCDF")) is None
    assert department("ABCDE", names=("ABCDE", "ABCDF")) == "ABCDE"


def test_department_tables_are_replaceable() -> None:
    provinces = ("BUENOS AIRES", "CORDOBA", "SANTA FE")
    assert department("Córdoba", names=provinces, aliases={}) == "CORDOBA"
    assert department("Bs As", names=provinces, aliases={"BS AS": "BUENOS AIRES"}) == "BUENOS AIRES"
    assert department("Montevideo", names=provinces, aliases={}) is None


def test_the_plain_reading_agrees_with_the_general_one() -> None:
    # Addresses of plain words and numbers (perhaps with "/apartment" or ", locality") take a shorter path. A final
    # "." changes no token but sends the same address down the general path, so the two readings can be compared.
    words = [
        *("CALLE", "AV", "RUTA", "NACIONAL", "CAMINO", "MZ", "SOLAR", "APTO", "AP", "TORRE", "ESQ", "ENTRE", "KM"),
        *("N", "NRO", "BIS", "B", "S", "Y", "DE", "LA", "18", "JULIO", "EJIDO", "MONTEVIDEO", "1234", "0012", "5"),
    ]
    rng = random.Random(11)
    for _ in range(20_000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        text += rng.choice(["", "", "/502", " / 7", ", MONTEVIDEO", ",CIUDAD VIEJA 2", ",5 X", ", 5"])
        try:
            plain: Address | str = standardise_address(text)
        except StandardisationError as error:
            plain = error.reason
        try:
            general: Address | str = standardise_address(text + ".")
        except StandardisationError as error:
            general = error.reason
        assert plain == general, text
