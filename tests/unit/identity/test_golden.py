"""Golden record survivorship: validity, trust per attribute, recency, agreement; the address taken whole."""

from __future__ import annotations

from datetime import datetime

from entramado.identity.golden import SourceValues, golden_record


def _r(source: str, rid: str, when: int, **fields: object) -> SourceValues:
    return SourceValues(source, rid, datetime(2026, 1, when), fields)


def test_valid_cedula_beats_trusted_source() -> None:
    golden = golden_record(
        [
            _r("DNIC", "1", 1, national_id="12345678", national_id_valid=False),
            _r("IM", "2", 2, national_id="12345672", national_id_valid=True),
        ]
    )
    assert golden["national_id"]["value"] == "12345672" and golden["national_id"]["source"] == "IM"


def test_trust_then_recency_then_agreement() -> None:
    golden = golden_record(
        [
            _r("BPS", "1", 1, given_names="JOSE"),
            _r("DNIC", "2", 1, given_names="JOSE LUIS"),
            _r("IM", "3", 5, street_name="ITALIA", street_number="2000", department="MONTEVIDEO"),
            _r("IM", "4", 9, street_name="ARTIGAS", street_number="1500"),
            _r("BPS", "5", 20, street_name="RIVERA", street_number="1", unit="APTO 2"),
        ]
    )
    assert golden["given_names"]["value"] == "JOSE LUIS"
    address = golden["address"]
    assert address["record_id"] == "4"  # IM is trusted for addresses, and its newest record wins
    assert address["value"] == {
        "street_name": "ARTIGAS",
        "street_number": "1500",
        "unit": None,
        "locality": None,
        "department": None,
        "postcode": None,
    }  # taken whole: no department borrowed from another record


def test_ambiguous_birth_date_loses_and_absent_attributes_are_left_out() -> None:
    golden = golden_record(
        [
            _r("DNIC", "1", 1, birth_date="1980-03-04", birth_date_ambiguous=True),
            _r("DGI", "2", 1, birth_date="1980-04-03", birth_date_ambiguous=False),
        ]
    )
    assert golden["birth_date"]["value"] == "1980-04-03"
    assert "phone" not in golden and "email" not in golden
