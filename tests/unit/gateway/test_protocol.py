import pytest

from entramado.errors import BadRequest, MissingDataSubject, MissingPurpose
from entramado.gateway.protocol import parse_target, read_headers, require_personal_data_headers


def test_service_path() -> None:
    target = parse_target("/r1/UY-DEMO/GOB/DGI/tributos/ingresos/personas/1/ingresos?anio=2025")
    assert str(target.service) == "UY-DEMO/GOB/DGI/tributos/ingresos"
    assert target.path == "/personas/1/ingresos"
    assert target.metaservice is None


def test_metaservice_path() -> None:
    target = parse_target("/r1/UY-DEMO/GOB/DGI/tributos/listMethods")
    assert target.metaservice == "listMethods" and target.service is None


@pytest.mark.parametrize(
    "path",
    [
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/../../secret",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/a/./b",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/%2e%2e/secret",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/a%2Fb",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/a%5cb",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/a%00b",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/a\\b",
        "/r1/UY-DEMO/GOB/DGI",
        "/r2/UY-DEMO/GOB/DGI/tributos/ingresos",
        "/r1/UY-DEMO/GOB/DGI/tributos/..",
        "/r1/UY-DEMO/GOB/DGI/tributos/ingresos/x#fragment",
    ],
)
def test_refuses_traversal_and_malformed(path: str) -> None:
    with pytest.raises(BadRequest):
        parse_target(path)


def test_headers_valid() -> None:
    call = read_headers(
        {"x-road-client": "UY-DEMO/GOB/BPS/prestaciones", "entramado-purpose": "p-1", "x-road-userid": "UY-CI:1"},
        generate_id=True,
    )
    assert call.xroad_id and call.purpose == "p-1"
    assert call.as_headers()["x-road-userid"] == "UY-CI:1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-road-client": "UY-DEMO/GOB/BPS"},
        {"x-road-client": "UY-DEMO/GOB/BPS/x", "x-road-id": "has space"},
        {"x-road-client": "UY-DEMO/GOB/BPS/x", "x-road-userid": "a\r\nX-Injected: 1"},
        {"x-road-client": "UY-DEMO/GOB/BPS/x", "entramado-data-subject": "a\nb"},
        {"x-road-client": "UY-DEMO/GOB/BPS/x", "entramado-purpose": "bad purpose"},
        {"x-road-client": "UY-DEMO/GOB/BPS/x", "x-road-issue": "x" * 201},
    ],
)
def test_headers_refused(headers: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        read_headers(headers, generate_id=True)


def test_personal_data_needs_purpose_and_subject() -> None:
    bare = read_headers({"x-road-client": "UY-DEMO/GOB/BPS/x"}, generate_id=True)
    require_personal_data_headers(bare, ())
    with pytest.raises(MissingPurpose):
        require_personal_data_headers(bare, ("ingresos",))
    purpose_only = read_headers({"x-road-client": "UY-DEMO/GOB/BPS/x", "entramado-purpose": "p"}, generate_id=True)
    with pytest.raises(MissingDataSubject):
        require_personal_data_headers(purpose_only, ("ingresos",))
