"""Mapping files and source readers: validation errors, reading CSV safely, standardising, counting."""

import csv
import random
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from entramado.identity import mapping as mapping_module
from entramado.identity.mapping import (
    CANONICAL_FIELDS,
    DEFAULT_MAX_FIELD_LENGTH,
    MappingError,
    RecordRejected,
    Rejection,
    Result,
    SourceError,
    SourceRecord,
    SourceSummary,
    Tally,
    load_mapping,
    read_mapping,
    read_source,
    standardise_fields,
    summary,
)
from entramado.identity.standardise import canonical_surname, normalise_text
from entramado.identity.synthetic import AGENCY_COLUMNS, Person, generate_records, iter_households, write_csv

HEADER = "id,nombres,apellido1,apellido2,fecha_nac,sexo,cedula,telefono,departamento\n"
FIELDS = """
[source.fields]
given_names = "nombres"
first_surname = "apellido1"
second_surname = "apellido2"
birth_date = { column = "fecha_nac", format = "%d/%m/%Y" }
sex = "sexo"
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
phone = "telefono"
department = "departamento"
"""
GOOD = "1,Juan Pablo,Pérez,Núñez,03/04/1980,M,1.234.567-2,099 123 456,Montevideo\n"


def _write_mapping(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _source_toml(
    name: str = "SRC", path: str = "data.csv", fields: str = FIELDS, extra: str = "", id_column: str = "id"
) -> str:
    return f'[[source]]\nname = "{name}"\npath = "{path}"\nid = "{id_column}"\n{extra}\n{fields}\n'


def _load_one(
    tmp_path: Path, data: str | bytes, *, fields: str = FIELDS, extra: str = "", id_column: str = "id"
) -> mapping_module.Source:
    target = tmp_path / "data.csv"
    if isinstance(data, str):
        target.write_text(data, encoding="utf-8", newline="")
    else:
        target.write_bytes(data)
    body = _source_toml(fields=fields, extra=extra, id_column=id_column)
    return load_mapping(_write_mapping(tmp_path, body)).sources[0]


def _read(tmp_path: Path, data: str | bytes, **kwargs: str) -> list[Result]:  # kwargs: fields, extra, id_column
    return list(read_source(_load_one(tmp_path, data, **kwargs)))


def _mapping_error(tmp_path: Path, body: str) -> str:
    (tmp_path / "data.csv").write_text(HEADER + GOOD, encoding="utf-8")
    path = _write_mapping(tmp_path, body)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def _rejections(results: list[Result]) -> list[Rejection]:
    return [r for r in results if isinstance(r, Rejection)]


def _records(results: list[Result]) -> list[SourceRecord]:
    return [r for r in results if isinstance(r, SourceRecord)]


# -- a good file ----------------------------------------------------------------------------------------------------


def test_reads_and_standardises_a_good_file(tmp_path: Path) -> None:
    results = _read(tmp_path, HEADER + GOOD)
    assert len(results) == 1
    record = results[0]
    assert isinstance(record, SourceRecord)
    assert (record.source, record.record_id, record.row) == ("SRC", "1", 2)
    assert record.fields["first_surname"] == "Pérez"
    assert record.fields["national_id_scheme"] == "UY-CI"
    std = record.standardised
    assert (std.given_names, std.first_surname, std.second_surname) == ("JUAN PABLO", "PEREZ", "NUNEZ")
    assert std.birth_date == date(1980, 4, 3)
    assert std.birth_date_ambiguous is True
    assert (std.sex, std.national_id, std.national_id_valid) == ("M", "12345672", True)
    assert (std.phone, std.department, std.notes) == ("+59899123456", "MONTEVIDEO", [])


# -- mapping file errors ------------------------------------------------------------------------------------------


def test_unknown_canonical_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    message = _mapping_error(tmp_path, _source_toml(fields='[source.fields]\nbirht_date = "fecha_nac"\n'))
    assert "[[source]] #1 (SRC) fields.birht_date: unknown canonical field; did you mean 'birth_date'?" in message


@pytest.mark.parametrize("missing", ["name", "path", "id"])
def test_missing_required_key_is_named(tmp_path: Path, missing: str) -> None:
    lines = [f'{k} = "{v}"' for k, v in (("name", "SRC"), ("path", "data.csv"), ("id", "id")) if k != missing]
    message = _mapping_error(tmp_path, "[[source]]\n" + "\n".join(lines) + "\n" + FIELDS)
    assert "[[source]] #1" in message
    assert message.endswith(f" {missing}: is missing")


def test_duplicate_source_names(tmp_path: Path) -> None:
    message = _mapping_error(tmp_path, _source_toml() + _source_toml())
    assert "[[source]] #2 (SRC) name: duplicate source name 'SRC'; [[source]] #1 has it too" in message


def test_path_not_found_names_the_resolved_path(tmp_path: Path) -> None:
    message = _mapping_error(tmp_path, _source_toml(path="nope.csv"))
    assert f"[[source]] #1 (SRC) path: file not found: {tmp_path / 'nope.csv'}" in message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ('{ column = "fecha_nac", format = "%d/%m" }', "does not read a whole date"),
        ('{ column = "fecha_nac", format = "dd/mm/yyyy" }', "is neither a strptime format"),
        ('{ column = "fecha_nac", format = ["%d/%m/%Y", 3] }', "a format must be a non-empty string, not 3"),
        ('{ column = "fecha_nac", format = [] }', "the list of formats is empty"),
        ('{ column = "fecha_nac", format = "%d/%m/%Y %Q" }', "is not a valid strptime format"),
        ('{ column = "fecha_nac", fromat = "%d/%m/%Y" }', "unknown key; did you mean 'format'?"),
    ],
)
def test_bad_date_format_specs(tmp_path: Path, spec: str, expected: str) -> None:
    message = _mapping_error(tmp_path, _source_toml(fields=f"[source.fields]\nbirth_date = {spec}\n"))
    assert "[[source]] #1 (SRC) fields.birth_date" in message
    assert expected in message


@pytest.mark.parametrize(
    ("fields", "key", "expected"),
    [
        ('sex = { column = "sexo", format = "%d" }', "fields.sex.format", "format applies to birth_date only"),
        ('national_id = "cedula"\nnational_id_scheme = "UY-CI"', "fields.national_id_scheme", "is a constant"),
        ('national_id = "cedula"\nnational_id_scheme = { value = "AR-DNI" }', "national_id_scheme.value", "AR-DNI"),
        ('national_id_scheme = { value = "UY-CI" }', "fields.national_id_scheme", "national_id is not mapped"),
        ('sex = { column = "sexo", value = "M" }', "fields.sex", "either column or value"),
        ('sex = ["sexo", ""]', "fields.sex", "item 2 of the list"),
        ("sex = 3", "fields.sex", "not int"),
        ('department = { value = "MONTEVIDEO" }', "fields", "maps only constants"),
    ],
)
def test_bad_field_specs(tmp_path: Path, fields: str, key: str, expected: str) -> None:
    message = _mapping_error(tmp_path, _source_toml(fields=f"[source.fields]\n{fields}\n"))
    assert key in message and expected in message, message


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ('delimeter = ";"', "delimeter", "did you mean 'delimiter'?"),
        ('encoding = "klingon-8"', "encoding", "unknown encoding 'klingon-8'"),
        ('delimiter = ";;"', "delimiter", "must be one character"),
        ("max_field_length = 0", "max_field_length", "positive whole number"),
        ('missing_values = "S/D"', "missing_values", "list of strings"),
    ],
)
def test_bad_source_keys(tmp_path: Path, extra: str, key: str, expected: str) -> None:
    message = _mapping_error(tmp_path, _source_toml(extra=extra))
    assert f"[[source]] #1 (SRC) {key}: " in message and expected in message, message


def test_mapping_file_level_errors(tmp_path: Path) -> None:
    assert "not valid TOML" in _mapping_error(tmp_path, "[[source]\nname = 1\n")
    assert "did you mean 'source'?" in _mapping_error(tmp_path, _source_toml().replace("[[source]]", "[[sources]]"))
    assert "lists no sources" in _mapping_error(tmp_path, "")
    assert "name: 'S R C' is not a source code" in _mapping_error(tmp_path, _source_toml(name="S R C"))
    assert "fields: is missing" in _mapping_error(tmp_path, _source_toml(fields=""))
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "absent.toml")


def test_parquet_without_pyarrow_is_a_precise_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping_module, "_has_pyarrow", lambda: False)
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    message = _mapping_error(tmp_path, _source_toml(path="data.parquet"))
    assert "[[source]] #1 (SRC) path: " in message and "Parquet needs pyarrow" in message
    # A Source built by hand is refused by the reader the same way.
    csv_source = _load_one(tmp_path, HEADER + GOOD)
    parquet_source = mapping_module.Source(csv_source.name, tmp_path / "data.parquet", "id", csv_source.fields)
    with pytest.raises(SourceError, match=r"data\.parquet: reading Parquet needs pyarrow"):
        list(read_source(parquet_source))


# -- source errors --------------------------------------------------------------------------------------------------


def test_latin1_bytes_read_as_utf8_name_file_row_and_encoding_tip(tmp_path: Path) -> None:
    text = HEADER + GOOD + "2,María,Gómez,Suárez,01/02/1990,F,2.345.678-0,,Salto\n"
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, text.encode("latin-1"))
    message = str(caught.value)
    # row 2 (the first record) already has "é" in latin-1
    assert message.startswith(f"{tmp_path / 'data.csv'}: row 2 (line 2) is not valid utf-8: byte e9 ")
    assert 'encoding = "latin-1"' in message and "source 'SRC'" in message
    assert caught.value.row == 2
    # with the right encoding the same bytes read cleanly
    results = _read(tmp_path, text.encode("latin-1"), extra='encoding = "latin-1"')
    assert [r.standardised.first_surname for r in _records(results)] == ["PEREZ", "GOMEZ"]


def test_decoding_error_row_counts_spreadsheet_rows_not_lines(tmp_path: Path) -> None:
    bad = "3,Ana,Núñez,Silva,01/02/1990,F,,,\n".encode("latin-1")
    data = (HEADER + GOOD + '2,"Ana\nMaría",Silva,Sosa,01/02/1990,F,,,\n').encode() + bad
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, data)
    assert caught.value.row == 4  # header, row 2, row 3 spanning two lines, then the bad row
    assert "row 4 (line 5)" in str(caught.value)


def test_missing_column_names_file_column_and_closest(tmp_path: Path) -> None:
    fields = FIELDS.replace('"fecha_nac"', '"fecha_nacimiento"').replace('"sexo"', '"SEXO "')
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, HEADER + GOOD, fields=fields)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'data.csv'}: ")
    assert "column 'fecha_nacimiento' (field birth_date) is not in the header; closest: 'fecha_nac'" in message
    assert "column 'SEXO ' (field sex) is not in the header; closest: 'sexo'" in message
    assert f"source 'SRC' in {tmp_path / 'mapping.toml'}" in message
    assert caught.value.column == "fecha_nacimiento"


def test_missing_id_column_and_no_close_match(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    source = load_mapping(_write_mapping(tmp_path, _source_toml(id_column="zzz")))
    with pytest.raises(SourceError) as caught:
        list(read_source(source.sources[0]))
    assert "column 'zzz' (the record id) is not in the header; the columns are 'a', 'b'" in str(caught.value)


def test_empty_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"data\.csv: the file is empty \(0 bytes\)"):
        _read(tmp_path, "")
    with pytest.raises(SourceError, match=r"data\.csv: the file has no header row"):
        _read(tmp_path, "\n\n  \n")
    assert _read(tmp_path, HEADER) == []
    assert summary(_read(tmp_path, HEADER)) == {}


# -- rejections -----------------------------------------------------------------------------------------------------


def test_duplicate_ids_reject_later_rows_naming_the_first(tmp_path: Path) -> None:
    rows = [GOOD, GOOD.replace("Juan Pablo", "Juan"), GOOD.replace("1,", "2,", 1), GOOD]
    results = _read(tmp_path, HEADER + "".join(rows))
    assert [type(r).__name__ for r in results] == ["SourceRecord", "Rejection", "SourceRecord", "Rejection"]
    for rejection, row in zip(_rejections(results), (3, 5), strict=True):
        assert (rejection.row, rejection.column, rejection.record_id) == (row, "id", "1")
        assert rejection.reason == "record id '1' is also on row 2; only the first is kept"
    assert str(_rejections(results)[0]).startswith(f"{tmp_path / 'data.csv'} row 3, column 'id': record id '1'")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("31/04/1980", "birth_date '31/04/1980': is not a real date in the format '%d/%m/%Y'"),
        ("29/02/1981", "birth_date '29/02/1981': is not a real date"),
        ("1980-04-03", "birth_date '1980-04-03': does not match the format '%d/%m/%Y'"),
        ("03/04/2999", "2999-04-03 is after today"),
    ],
)
def test_impossible_dates_are_rejected_with_row_and_column(tmp_path: Path, value: str, reason: str) -> None:
    results = _read(tmp_path, HEADER + GOOD.replace("1,", "0,", 1) + GOOD.replace("03/04/1980", value))
    [rejection] = _rejections(results)
    assert (rejection.row, rejection.column, rejection.record_id) == (3, "fecha_nac", "1")
    assert reason in rejection.reason
    assert len(_records(results)) == 1


def test_on_invalid_empty_keeps_the_record_without_the_bad_value_and_says_why(tmp_path: Path) -> None:
    fields = FIELDS.replace('format = "%d/%m/%Y" }', 'format = "%d/%m/%Y", on_invalid = "empty" }').replace(
        'national_id = "cedula"', 'national_id = { column = "cedula", on_invalid = "empty" }'
    )
    bad = GOOD.replace("03/04/1980", "31/04/1980").replace("1.234.567-2", "1.234.A67-2")
    [record] = _records(_read(tmp_path, HEADER + bad, fields=fields))
    assert record.standardised.birth_date is None and record.standardised.national_id is None
    assert record.standardised.national_id_valid is None
    assert record.standardised.given_names == "JUAN PABLO"
    notes = {note.field: note.message for note in record.standardised.notes}
    assert "is not a real date in the format '%d/%m/%Y'" in notes["birth_date"]
    assert notes["birth_date"].endswith("; left empty")
    assert notes["national_id"].startswith("national_id '1.234.A67-2'") and notes["national_id"].endswith("left empty")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ('sex = { column = "sexo", on_invalid = "empty" }', "applies to birth_date and national_id only"),
        ('national_id = { column = "cedula", on_invalid = "skip" }', "'reject' (the default) or 'empty', not 'skip'"),
        ('national_id = { value = "12345672", on_invalid = "empty" }', "a constant takes no on_invalid"),
    ],
)
def test_bad_on_invalid(tmp_path: Path, spec: str, expected: str) -> None:
    message = _mapping_error(tmp_path, _source_toml(fields=f"[source.fields]\n{spec}\n"))
    assert "on_invalid" in message and expected in message, message


def test_default_date_formats_give_precise_reasons(tmp_path: Path) -> None:
    fields = FIELDS.replace('{ column = "fecha_nac", format = "%d/%m/%Y" }', '"fecha_nac"')
    results = _read(tmp_path, HEADER + GOOD.replace("03/04/1980", "29/02/1981"), fields=fields)
    [rejection] = _rejections(results)
    assert rejection.reason == "birth_date '29/02/1981': 1981 is not a leap year: February 1981 has 28 days"
    [record] = _records(_read(tmp_path, HEADER + GOOD.replace("03/04/1980", "3 de marzo de 1980"), fields=fields))
    assert (record.standardised.birth_date, record.standardised.birth_date_ambiguous) == (date(1980, 3, 3), False)


def test_two_digit_years_with_a_format_are_in_the_past(tmp_path: Path) -> None:
    fields = FIELDS.replace('format = "%d/%m/%Y"', 'format = ["%Y-%m-%d", "%d/%m/%y"]')
    [record] = _records(_read(tmp_path, HEADER + GOOD.replace("03/04/1980", "13/04/60"), fields=fields))
    assert record.standardised.birth_date == date(1960, 4, 13)


def test_cedula_with_letters_is_rejected(tmp_path: Path) -> None:
    results = _read(tmp_path, HEADER + GOOD.replace("1.234.567-2", "1.234A67-2"))
    [rejection] = _rejections(results)
    assert (rejection.row, rejection.column) == (2, "cedula")
    assert rejection.reason.startswith("national_id '1.234A67-2': contains letters (A)")


def test_a_wrong_check_digit_is_kept_and_flagged(tmp_path: Path) -> None:
    [record] = _records(_read(tmp_path, HEADER + GOOD.replace("1.234.567-2", "1.234.567-3")))
    assert (record.standardised.national_id, record.standardised.national_id_valid) == ("12345673", False)
    assert [n.field for n in record.standardised.notes] == ["national_id"]
    assert "check digit 3 does not match (expected 2)" in str(record.standardised.notes[0])
    # without a declared scheme the check digit is not judged
    fields = FIELDS.replace('national_id_scheme = { value = "UY-CI" }\n', "")
    [record] = _records(_read(tmp_path, HEADER + GOOD.replace("1.234.567-2", "1.234.567-3"), fields=fields))
    assert (record.standardised.national_id, record.standardised.national_id_valid) == ("12345673", None)


def test_a_50_mb_field_is_rejected_without_aborting_the_run(tmp_path: Path) -> None:
    huge = "x" * 50_000_000
    data = HEADER + GOOD + f"2,{huge},Pérez,Núñez,03/04/1980,M,,,\n" + GOOD.replace("1,", "3,", 1)
    (tmp_path / "data.csv").write_text(data, encoding="utf-8")
    del data
    source = load_mapping(_write_mapping(tmp_path, _source_toml())).sources[0]
    started = time.perf_counter()
    results = list(read_source(source))
    assert time.perf_counter() - started < 3
    assert [r.row for r in _records(results)] == [2, 4]
    [rejection] = _rejections(results)
    assert (rejection.row, rejection.column) == (3, "nombres")
    assert rejection.reason == "is 50,000,000 characters long; the limit is 10,000 (max_field_length)"
    assert DEFAULT_MAX_FIELD_LENGTH == 10_000


def test_max_field_length_is_configurable_and_hints_at_unclosed_quotes(tmp_path: Path) -> None:
    unclosed = HEADER + '1,"Juan,Pérez,Núñez,03/04/1980,M,,,\n' + GOOD.replace("1,", "2,", 1)
    [rejection] = _rejections(_read(tmp_path, unclosed, extra="max_field_length = 30"))
    assert (rejection.row, rejection.column) == (2, "nombres")
    assert "the limit is 30" in rejection.reason and "an unclosed quote" in rejection.reason


def test_bad_rows_never_abort_a_good_run(tmp_path: Path) -> None:
    rows = [
        GOOD,
        "2,Ana,Silva\n",  # too few values
        GOOD.replace("1,", ",", 1),  # empty id
        GOOD.replace("1,", "4,", 1).replace("Juan Pablo", "Juan 2"),  # digits in a name
        GOOD.replace("1,", "5,", 1).replace("099 123 456", "12"),  # bad phone: kept with a note
        GOOD.replace("1,", "6,", 1).replace(",M,", ",X,"),  # unknown sex code: kept with a note
        GOOD.replace("1,", "7,", 1).replace("Montevideo", "Atlantida"),  # not a department: kept with a note
        "8,,,,,,,099 123 456,Salto\n",  # nothing to link on
        "\n",  # blank: not a record
        ",,,,,,,,\n",  # blank too
        GOOD.replace("1,", "9,", 1).replace("Juan Pablo", "Juan\rPablo"),  # a stray carriage return: not valid CSV
        GOOD.replace("1,", "10,", 1).replace("\n", ",,\n"),  # trailing delimiters are tolerated
        GOOD.replace("1,", "11,", 1),
    ]
    results = _read(tmp_path, HEADER + "".join(rows))
    rejected = {r.row: (r.column, r.reason) for r in _rejections(results)}
    assert rejected[3] == (None, "has 3 values but the header has 9 columns (check the delimiter ',' and the quoting)")
    assert rejected[4] == ("id", "the record id is empty")
    assert rejected[5][0] == "nombres" and "contains digits (2)" in rejected[5][1]
    assert rejected[9] == (None, "has no name, birth date or national id: nothing to link on")
    assert rejected[12] == (
        None,
        "is not valid CSV: a carriage return (\\r) inside an unquoted value; quote the value or remove the line break",
    )
    assert sorted(rejected) == [3, 4, 5, 9, 12]
    accepted = {r.record_id: r for r in _records(results)}
    assert sorted(accepted, key=int) == ["1", "5", "6", "7", "10", "11"]
    assert accepted["5"].standardised.phone is None
    assert [n.field for n in accepted["5"].standardised.notes] == ["phone"]
    assert accepted["6"].standardised.sex is None and "sex 'X'" in str(accepted["6"].standardised.notes[0])
    assert accepted["7"].standardised.department is None
    assert accepted["11"].row == 14  # rows count blank rows, as a spreadsheet does
    counts = summary(results)["SRC"]
    assert counts.read == len(results) == counts.accepted + counts.rejected
    assert counts.notes_by_field == {"phone": 1, "sex": 1, "department": 1}
    assert counts.rejected_by_column["id"] == 1


def test_junk_rows_each_give_exactly_one_result(tmp_path: Path) -> None:
    rng = random.Random(7)
    alphabet = "aZ09 ;./-'ñÑé\u00a0\u2028\t#°@+()"
    lines = [HEADER.strip()]
    for i in range(300):
        cells = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(8)]
        lines.append(",".join([str(i), *cells]))
    results = _read(tmp_path, "\n".join(lines) + "\n")
    assert [r.row for r in results] == list(range(2, 302))
    counts = summary(results)["SRC"]
    assert counts.read == 300 == counts.accepted + counts.rejected
    assert counts.accepted > 0 and counts.rejected > 0


def test_standardise_fields_only_rejects_or_notes_on_junk() -> None:
    rng = random.Random(3)
    alphabet = "aZxQ0917 ,;./-'ñé\u00a0#°@+()/:ºª\u2019\u0301"
    for _ in range(1500):
        fields = {
            name: "".join(rng.choice(alphabet) for _ in range(rng.randrange(15)))
            for name in CANONICAL_FIELDS
            if rng.random() < 0.5
        }
        fields["national_id_scheme"] = "UY-CI"
        try:
            record = standardise_fields(fields, date_formats=rng.choice([(), ("%d/%m/%Y", "TEXT_ES")]))
        except RecordRejected as error:
            assert error.field in (None, *CANONICAL_FIELDS)
            assert error.reason
        else:
            assert all(note.field in CANONICAL_FIELDS for note in record.notes)


# -- CSV dialects and field forms ---------------------------------------------------------------------------------


def test_delimiter_bom_constants_lists_and_missing_values(tmp_path: Path) -> None:
    fields = """
[source.fields]
full_name = ["apellidos", "nombres"]
birth_date = { column = "nacido", format = ["%Y%m%d", "TEXT_ES"] }
national_id = "ci"
department = { value = "Montevideo" }
street_name = "calle"
street_number = "puerta"
unit = "apto"
postcode = "cp"
email = "correo"
"""
    data = (
        "\ufeffclave;apellidos;nombres;nacido;ci;calle;puerta;apto;cp;correo\n"
        "A1;Ponce de León Suárez,;María José;3 de marzo de 1980;S/D;Av. Italia;0042;502;11300;MAILTO:Ana@Example.COM\n"
        "A2;García,;Ana;19991231;-;18 de Julio;S/N;Ap. 3B;1130;no-es-un-correo\n"
    )
    extra = 'delimiter = ";"\nmissing_values = ["s/d", "-"]'
    results = _read(tmp_path, data, fields=fields, extra=extra, id_column="clave")
    first, second = _records(results)
    assert first.fields["full_name"] == "Ponce de León Suárez, María José"
    assert "national_id" not in first.fields  # "S/D" is a missing value
    a = first.standardised
    assert (a.given_names, a.first_surname, a.second_surname) == ("MARIA JOSE", "PONCE DE LEON", "SUAREZ")
    assert (a.birth_date, a.department, a.national_id) == (date(1980, 3, 3), "MONTEVIDEO", None)
    assert (a.street_type, a.street_name, a.street_number, a.unit) == ("AVENIDA", "ITALIA", "42", "APTO 502")
    assert (a.postcode, a.email, a.notes) == ("11300", "ana@example.com", [])
    b = second.standardised
    assert (b.given_names, b.first_surname, b.second_surname) == ("ANA", "GARCIA", None)
    assert (b.street_name, b.street_number, b.unit, b.postcode, b.email) == ("18 DE JULIO", None, "APTO 3B", None, None)
    assert sorted(n.field for n in b.notes) == ["email", "postcode"]


# -- standardise_fields directly ----------------------------------------------------------------------------------


def test_standardise_fields_policies() -> None:
    record = standardise_fields({"first_surname": "Pérez De Los Santos", "birth_date": "1980-03-03"})
    assert (record.first_surname, record.second_surname) == ("PEREZ", "DE LOS SANTOS")
    record = standardise_fields({"full_name": "Juan Pablo Pérez", "middle_name": "", "address": "?"})
    assert (record.given_names, record.first_surname) == ("JUAN PABLO", "PEREZ")
    assert [n.field for n in record.notes] == ["address"]
    record = standardise_fields({"given_names": "Ana", "middle_name": "Inés", "first_surname": "-"})
    assert (record.given_names, record.first_surname) == ("ANA INES", None)
    assert [str(n) for n in record.notes] == ["first_surname '-': has no letters; left empty"]
    with pytest.raises(RecordRejected) as caught:
        standardise_fields({"full_name": "Madonna"})
    assert caught.value.field == "full_name" and "needs at least one given name and one surname" in str(caught.value)
    with pytest.raises(RecordRejected) as caught:
        standardise_fields({"sex": "F", "email": "a@b.uy"})
    assert caught.value.field is None
    with pytest.raises(RecordRejected, match="2020-01-01 is after"):
        standardise_fields({"birth_date": "2020-01-01"}, today=date(2019, 12, 31))


def test_canonical_fields_are_the_documented_ones() -> None:
    assert len(CANONICAL_FIELDS) == 18 and len(set(CANONICAL_FIELDS)) == 18
    for name in ("full_name", "national_id_scheme", "postcode", "middle_name", "address", "locality"):
        assert name in CANONICAL_FIELDS


# -- counting -------------------------------------------------------------------------------------------------------


def test_tally_counts_while_streaming(tmp_path: Path) -> None:
    source = _load_one(tmp_path, HEADER + GOOD + GOOD)
    tally = Tally()
    seen = list(tally.counting(read_source(source)))
    assert len(seen) == 2
    counts = tally.sources["SRC"]
    assert (counts.read, counts.accepted, counts.rejected) == (2, 1, 1)
    with pytest.raises(ValueError, match="a result of source 'SRC' added to the summary of 'OTHER'"):
        SourceSummary("OTHER").add(seen[0])


# -- round trip with the synthetic generator -----------------------------------------------------------------------

SYNTHETIC_MAPPING = """
[[source]]
name = "DNIC"
path = "out/DNIC.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
given_names = "given_names"
first_surname = "first_surname"
second_surname = "second_surname"
birth_date = { column = "birth_date", format = "%Y-%m-%d" }
sex = "sex"
address = "address"
department = "department"

[[source]]
name = "BPS"
path = "out/BPS.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
given_names = "given_names"
first_surname = "first_surname"
second_surname = "second_surname"
birth_date = { column = "birth_date", format = ["%d%m%Y", "DMY"] }
sex = "sex"
address = "address"
department = "department"
phone = "phone"

[[source]]
name = "DGI"
path = "out/DGI.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
full_name = "full_name"
birth_date = { column = "birth_date", format = "%d/%m/%Y" }
sex = "sex"
address = "address"
department = "department"
email = "email"

[[source]]
name = "IM"
path = "out/IM.csv"
id = "record_id"
[source.fields]
national_id = "cedula"
national_id_scheme = { value = "UY-CI" }
given_names = "given_names"
first_surname = "first_surname"
second_surname = "second_surname"
birth_date = "birth_date"
sex = "sex"
address = "address"
department = { value = "MONTEVIDEO" }
phone = "phone"
email = "email"
"""


def test_round_trip_with_synthetic_csv(tmp_path: Path) -> None:
    counts = write_csv(generate_records(2500, seed=11), tmp_path / "out")
    mapping = load_mapping(_write_mapping(tmp_path, SYNTHETIC_MAPPING))
    for source in mapping.sources:  # the mapping reads every column the generator writes
        assert set(source.columns()) == set(AGENCY_COLUMNS[source.name])
    results = list(read_mapping(mapping))
    totals = summary(results)
    assert {name: s.read for name, s in totals.items()} == counts
    assert all(s.read == s.accepted + s.rejected for s in totals.values())
    assert all(s.rejected == 0 for s in totals.values()), _rejections(results)[:3]
    assert totals["DGI"].notes_by_field.keys() <= {"national_id"}  # only mistyped cédulas are flagged

    with (tmp_path / "out" / "truth.csv").open(encoding="utf-8", newline="") as handle:
        truth = {(t["agency"], t["record_id"]): t for t in csv.DictReader(handle)}
    last = max(int(t["person_id"]) for t in truth.values())
    people: dict[int, Person] = {}
    departments: dict[int, str] = {}
    for household in iter_households(11):
        people.update((p.person_id, p) for p in household.members)
        departments[household.household_id] = normalise_text(household.address.department)
        if household.members[-1].person_id >= last:
            break

    mismatches: list[str] = []
    checked: dict[str, int] = dict.fromkeys(("cedula", "birth", "names", "department", "phone", "email"), 0)

    def expect(ok: bool, what: str, record: SourceRecord) -> None:
        checked[what] += 1
        if not ok:
            mismatches.append(f"{what}: {record}")

    for record in _records(results):
        t = truth[(record.source, record.record_id)]
        person, tags = people[int(t["person_id"])], set(t["noise"].split("|"))
        std = record.standardised
        if not tags & {"cedula_typo", "parent_cedula", "missing_cedula"}:
            expect(std.national_id == person.cedula_digits and std.national_id_valid is True, "cedula", record)
        if "swap_day_month" in tags:
            swapped = date(person.birth_date.year, person.birth_date.day, person.birth_date.month)
            expect(std.birth_date == swapped and std.birth_date_ambiguous, "birth", record)
        else:
            expect(std.birth_date == person.birth_date and std.sex == person.sex, "birth", record)
        if not tags & {"abbreviate_given", "surname_variant", "drop_second_surname"}:
            names = (std.given_names, std.first_surname, std.second_surname)
            truth_names = (
                normalise_text(person.given_names, keep_hyphens=False),
                normalise_text(person.first_surname),
                normalise_text(person.second_surname),
            )
            expect(names == truth_names, "names", record)
        elif "surname_variant" in tags:
            expect(
                canonical_surname(std.first_surname or "") == canonical_surname(person.first_surname), "names", record
            )
        if "department_typo" not in tags:
            expect(std.department == departments[int(t["household_id"])], "department", record)
        if "phone" in record.fields:
            expect(std.phone is not None and std.phone.startswith("+598"), "phone", record)
        if "email" in record.fields:
            expect(std.email == person.email, "email", record)
    assert not mismatches, mismatches[:3]
    assert min(checked.values()) > 100, checked


# -- reading fast: cached outcomes, block decoding, worker processes ------------------------------------------------


def test_cached_outcomes_keep_notes_per_record_and_reject_every_time() -> None:
    fields = {"given_names": "Ana", "sex": "X", "department": "Atlantida", "phone": "12"}
    first, second = standardise_fields(fields), standardise_fields(fields)
    assert first == second and first.notes is not second.notes
    first.notes.clear()
    assert [note.field for note in standardise_fields(fields).notes] == ["sex", "department", "phone"]
    for _ in range(2):
        with pytest.raises(RecordRejected, match=r"contains digits \(2\)") as caught:
            standardise_fields({"given_names": "Juan 2"})
        assert caught.value.field == "given_names"
        with pytest.raises(RecordRejected, match=r"is not a real date .* \(day is out of range") as caught:
            standardise_fields({"given_names": "Ana", "birth_date": "31/04/1980"}, date_formats=["%d/%m/%Y"])
        assert caught.value.field == "birth_date"


def test_numeric_birth_date_formats_read_as_strptime_does() -> None:
    # The usual numeric formats are read without strptime; what they accept and refuse must not change.
    rng = random.Random(13)
    for fmt, separator in (("%d/%m/%Y", "/"), ("%d-%m-%Y", "-"), ("%d.%m.%Y", "."), ("%d%m%Y", "")):
        for _ in range(3000):
            parts = [str(rng.randint(0, 35)).zfill(rng.choice([1, 2])), str(rng.randint(0, 13)).zfill(2)]
            value = separator.join([*parts, str(rng.choice([0, 1, 1899, 1980, 2000, 2024]))])
            try:
                expected: date | None = datetime.strptime(value, fmt).date()
            except ValueError:
                expected = None
            try:
                found = standardise_fields({"birth_date": value}, date_formats=[fmt], today=date(2025, 1, 1))
            except RecordRejected:
                assert expected is None, (fmt, value)
            else:
                assert found.birth_date == expected, (fmt, value)


def test_a_bad_byte_past_the_first_block_names_its_row_and_line(tmp_path: Path) -> None:
    # Text is decoded a block (1 MiB) at a time; a bad byte further on still names its row and line, and every row
    # before it is read.
    good = "".join(GOOD.replace("1,", f"{i},", 1) for i in range(1, 20_001))
    data = (HEADER + good).encode() + "20001,Ana,Núñez,Silva,01/02/1990,F,,,\n".encode("latin-1")
    assert len(data) > 1 << 20
    results: list[Result] = []
    with pytest.raises(SourceError) as caught:
        results.extend(read_source(_load_one(tmp_path, data)))
    assert len(_records(results)) == 20_000
    assert caught.value.row == 20_002
    assert "row 20002 (line 20002) is not valid utf-8" in str(caught.value)


def test_lines_are_split_at_line_feeds_only_across_blocks(tmp_path: Path) -> None:
    # A carriage return, a Unicode line separator or a form feed inside a quoted value is not a line break; blocks of
    # more than 1 MiB are cut at a line feed, so every row comes out whole.
    rows = [GOOD.replace("1,", f"{i},", 1).replace("Pérez", f'"P\u2028{"e" * 2 * i}\x0cz\rx"') for i in range(1, 1001)]
    data = HEADER + "".join(rows)
    assert len(data.encode()) > 1 << 20
    results = _read(tmp_path, data)
    assert [r.row for r in results] == list(range(2, 1002))
    assert [r.fields["first_surname"] for r in _records(results)] == [
        f"P\u2028{'e' * 2 * i}\x0cz\rx" for i in range(1, 1001)
    ]
