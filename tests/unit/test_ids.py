import pytest

from entramado.errors import BadRequest
from entramado.ids import MemberId, ServiceId, SubsystemId


def test_round_trip() -> None:
    sid = ServiceId.parse("UY-DEMO/GOB/DGI/tributos/ingresos")
    assert str(sid) == "UY-DEMO/GOB/DGI/tributos/ingresos"
    assert sid.member == MemberId("UY-DEMO", "GOB", "DGI")
    assert sid.subsystem == SubsystemId.parse("UY-DEMO/GOB/DGI/tributos")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UY-DEMO/GOB",
        "UY-DEMO/GOB/DGI/x/y",
        "UY-DEMO/GOB/../x",
        "UY DEMO/GOB/DGI/x",
        "UY-DEMO/GOB/DGI/" + "a" * 65,
        "UY-DEMO/GOB/DGI/.",
        "UY-DEMO//DGI/x",
        "UY-DEMO/GOB/DGI/x\r\n",
    ],
)
def test_subsystem_rejects(text: str) -> None:
    with pytest.raises(BadRequest) as info:
        SubsystemId.parse(text)
    assert info.value.status == 400 and info.value.type == "Client.BadRequest"
