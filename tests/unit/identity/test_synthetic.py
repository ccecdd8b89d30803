"""The synthetic generator: determinism, ground truth, households, noise rates, CSV output, truth pairs."""

import csv
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from entramado.identity.standardise import (
    SURNAME_VARIANTS,
    canonical_surname,
    department,
    given_name_initials,
    given_name_key,
    normalise_email,
    normalise_sex,
    normalise_text,
    parse_cedula,
    parse_date,
    parse_person_name,
    parse_phone,
    split_surnames,
    standardise_address,
)
from entramado.identity.synthetic import (
    AGENCIES,
    AGENCY_COLUMNS,
    NOISE_TAGS,
    TRUTH_COLUMNS,
    Household,
    Person,
    SyntheticConfig,
    SyntheticRecord,
    generate_records,
    iter_households,
    main,
    truth_clusters,
    truth_pairs,
    write_csv,
)

# Rates deliberately different from the defaults, so a generator that ignored the configuration would fail.
CONFIG = SyntheticConfig(
    bps_drop_second_surname=0.4,
    bps_abbreviate_given_names=0.3,
    bps_department_typo=0.05,
    dgi_swap_day_month=0.2,
    dgi_cedula_typo=0.06,
    im_missing_cedula=0.25,
    im_surname_variant=0.2,
    child_parent_cedula=0.15,
    twin_rate=0.05,
    records_per_person=(0.1, 0.2, 0.3, 0.25, 0.15),
)
SEED = 2024
N = 60_000


@dataclass
class Sample:
    records: list[SyntheticRecord]
    people: dict[int, Person]
    households: dict[int, Household]


def _sample(n: int, seed: int, config: SyntheticConfig) -> Sample:
    records = list(generate_records(n, seed=seed, config=config))
    last = max(r.person_id for r in records)
    people: dict[int, Person] = {}
    households: dict[int, Household] = {}
    for household in iter_households(seed, config):
        households[household.household_id] = household
        people.update((p.person_id, p) for p in household.members)
        if household.members[-1].person_id >= last:
            break
    return Sample(records, people, households)


@pytest.fixture(scope="module")
def sample() -> Sample:
    return _sample(N, SEED, CONFIG)


def _tags(record: SyntheticRecord) -> set[str]:
    return set(record.noise.split("|")) - {""}


def _minor_with_parents(person: Person, config: SyntheticConfig = CONFIG) -> bool:
    return bool(person.parent_ids) and person.is_minor(config.reference_date)


# -- determinism --------------------------------------------------------------------------------------------------


def test_same_seed_same_records() -> None:
    assert list(generate_records(5000, seed=9)) == list(generate_records(5000, seed=9))
    shuffled = list(generate_records(5000, seed=9, config=CONFIG, shuffle_window=500))
    assert shuffled == list(generate_records(5000, seed=9, config=CONFIG, shuffle_window=500))


def test_different_seeds_differ() -> None:
    a, b = list(generate_records(200, seed=1)), list(generate_records(200, seed=2))
    assert a != b
    assert {r.cedula for r in a if r.agency == "DNIC"}.isdisjoint({r.cedula for r in b if r.agency == "DNIC"})


def test_people_do_not_depend_on_noise_rates() -> None:
    def first(config: SyntheticConfig) -> list[Household]:
        households = iter_households(5, config)
        return [next(households) for _ in range(300)]

    noisy = SyntheticConfig(twin_rate=CONFIG.twin_rate, dgi_cedula_typo=0.9, im_missing_cedula=0.0)
    assert first(CONFIG) == first(noisy)


def test_shuffle_is_a_bounded_permutation() -> None:
    plain = list(generate_records(3000, seed=4))
    shuffled = list(generate_records(3000, seed=4, shuffle_window=1000))
    assert shuffled != plain
    assert sorted(shuffled) == sorted(plain)


def test_counts_and_validation() -> None:
    assert list(generate_records(0)) == []
    assert len(list(generate_records(1234, seed=3))) == 1234
    with pytest.raises(ValueError, match="n_records must be at least 0"):
        generate_records(-1)
    with pytest.raises(ValueError, match="shuffle_window must be at least 0"):
        generate_records(10, shuffle_window=-5)
    with pytest.raises(ValueError, match=r"dgi_cedula_typo must be a probability between 0 and 1, not 1\.5$"):
        SyntheticConfig(dgi_cedula_typo=1.5)
    with pytest.raises(ValueError, match="records_per_person needs five non-negative weights"):
        SyntheticConfig(records_per_person=(0.0, 0.0, 0.0, 0.0, 0.0))


# -- structure and ground truth -----------------------------------------------------------------------------------


def test_record_ids_are_unique_within_each_agency(sample: Sample) -> None:
    for agency in AGENCIES:
        ids = [r.record_id for r in sample.records if r.agency == agency]
        assert ids, agency
        assert len(ids) == len(set(ids))
        assert all(len(i) == 9 and i.isdigit() for i in ids)


def test_one_to_five_records_per_person_with_the_configured_weights(sample: Sample) -> None:
    per_person = Counter(r.person_id for r in sample.records)
    last = max(per_person)
    complete = [count for pid, count in per_person.items() if pid != last]  # the last person may be cut short
    assert min(complete) >= 1 and max(complete) <= 5
    histogram = Counter(complete)
    total = len(complete)
    for k, weight in enumerate(CONFIG.records_per_person, start=1):
        expected = weight / sum(CONFIG.records_per_person)
        assert abs(histogram[k] / total - expected) < 0.015, (k, histogram[k] / total, expected)


def test_agency_rules(sample: Sample) -> None:
    per_agency = Counter((r.person_id, r.agency) for r in sample.records)
    assert all(count == 1 for (_, agency), count in per_agency.items() if agency == "DNIC")
    for record in sample.records:
        tags = _tags(record)
        assert tags <= NOISE_TAGS, tags
        household = sample.households[record.household_id]
        if record.agency == "IM":
            assert household.address.department == "MONTEVIDEO"
    duplicates = [r for r in sample.records if "duplicate" in _tags(r)]
    assert duplicates and all(r.agency != "DNIC" for r in duplicates)
    assert len(duplicates) == sum(count - 1 for count in per_agency.values())


def test_people_and_households(sample: Sample) -> None:
    people = sample.people
    assert sorted(people) == list(range(1, len(people) + 1))
    cedulas = [p.cedula_digits for p in people.values()]
    assert len(set(cedulas)) == len(cedulas)
    assert all(parse_cedula(c).valid for c in cedulas)
    assert any(p.cedula_body < 1_000_000 for p in people.values())  # some older six-digit cédulas
    for household in sample.households.values():
        members = {p.person_id: p for p in household.members}
        assert all(p.household_id == household.household_id for p in household.members)
        children = [p for p in household.members if p.parent_ids]
        for child in children:
            parents = [members[i] for i in child.parent_ids]
            assert all(not p.parent_ids for p in parents)
            fathers = [p for p in parents if p.sex == "M"]
            mothers = [p for p in parents if p.sex == "F"]
            if fathers and mothers:
                assert (child.first_surname, child.second_surname) == (
                    fathers[0].first_surname,
                    mothers[0].first_surname,
                )
            elif mothers:
                assert (child.first_surname, child.second_surname) == (
                    mothers[0].first_surname,
                    mothers[0].second_surname,
                )
            else:
                assert child.first_surname == fathers[0].first_surname
            assert all(child.birth_date.year - p.birth_date.year >= 17 for p in parents)
        firsts = [p.given_names.split()[0] for p in household.members]
        assert len(firsts) == len(set(firsts)), firsts  # nobody shares a first given name at home


def test_twins(sample: Sample) -> None:
    people = sample.people
    twins = [p for p in people.values() if p.twin_of is not None]
    assert twins
    for person in twins:
        assert person.twin_of is not None
        other = people[person.twin_of]
        assert other.twin_of == person.person_id
        assert other.birth_date == person.birth_date
        assert other.household_id == person.household_id
        assert (other.first_surname, other.second_surname) == (person.first_surname, person.second_surname)
        assert other.given_names != person.given_names
        assert other.cedula_body != person.cedula_body
        assert other.parent_ids == person.parent_ids
    children = [p for p in people.values() if p.parent_ids]
    pairs = sum(1 for p in twins if p.person_id > (p.twin_of or 0))
    births = len(children) - pairs  # second twins do not draw a twin of their own
    _assert_rate(pairs, births, CONFIG.twin_rate)


def _check_record(record: SyntheticRecord, person: Person, household: Household, parents: list[Person]) -> list[str]:
    """Every raw field standardises back to the truth, except as the record's noise tags say."""
    problems: list[str] = []
    tags = _tags(record)

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(f"{what}: {record}")

    if record.cedula:
        cedula = parse_cedula(record.cedula)
        if "cedula_typo" in tags:
            differing = sum(a != b for a, b in zip(cedula.digits, person.cedula_digits, strict=True))
            expect(differing == 1, "a typo changes exactly one digit")
        elif "parent_cedula" in tags:
            expect(cedula.digits in {p.cedula_digits for p in parents} and cedula.valid, "a parent's cédula")
        else:
            expect(cedula.digits == person.cedula_digits and cedula.valid, "cédula")
    else:
        expect("missing_cedula" in tags, "missing cédula is tagged")
    born = parse_date(record.birth_date, pivot=25)
    if "swap_day_month" in tags:
        expect(born.value != person.birth_date and born.swapped() == person.birth_date, "swapped date")
    else:
        expect(born.value == person.birth_date, "birth date")
    expect(normalise_sex(record.sex) == person.sex, "sex")
    if record.full_name:
        name = parse_person_name(record.full_name)
        given, first, second = name.given_names, name.first_surname, name.second_surname
    else:
        surnames = split_surnames(f"{record.first_surname} {record.second_surname}")
        given, first, second = record.given_names, surnames.first, surnames.second
    expect(canonical_surname(first) == canonical_surname(person.first_surname), "first surname")
    if "drop_second_surname" in tags:
        expect(second is None, "dropped second surname")
    else:
        expect(canonical_surname(second or "") == canonical_surname(person.second_surname), "second surname")
    if "surname_variant" in tags:
        written = (normalise_text(first), normalise_text(second or ""))
        truth = (normalise_text(person.first_surname), normalise_text(person.second_surname))
        expect(written != truth, "a variant differs from the truth as written")
    if "abbreviate_given" in tags:
        expect(given_name_initials(given) == given_name_initials(person.given_names), "abbreviated given names")
        expect(normalise_text(given) != normalise_text(person.given_names), "abbreviation changes the text")
    else:
        expect(given_name_key(given, person.sex) == given_name_key(person.given_names, person.sex), "given names")
    address, truth_address = standardise_address(record.address), household.address
    expect(address.street_name == normalise_text(truth_address.street_name), "street name")
    expect(address.number == (str(truth_address.number) if truth_address.number else None), "door number")
    expect(address.unit == (f"APTO {truth_address.unit}" if truth_address.unit else None), "unit")
    expect(address.km == truth_address.km, "km")
    expect(address.street_type in (None, truth_address.street_type), "street type")
    if record.department:
        found = department(record.department)
        if "department_typo" in tags:
            expect(normalise_text(record.department) != normalise_text(truth_address.department), "a typo differs")
        else:
            expect(found == normalise_text(truth_address.department), "department")
    if record.phone:
        expected = person.mobile or household.landline
        expect(parse_phone(record.phone).e164 == f"+598{expected}", "phone")
    if record.email:
        expect(normalise_email(record.email) == person.email, "email")
    return problems


def test_every_field_round_trips_to_the_truth(sample: Sample) -> None:
    problems: list[str] = []
    for record in sample.records[:30_000]:
        person = sample.people[record.person_id]
        household = sample.households[record.household_id]
        parents = [sample.people[i] for i in person.parent_ids]
        problems.extend(_check_record(record, person, household, parents))
    assert not problems, problems[:5]


def test_department_typos_are_mostly_recoverable(sample: Sample) -> None:
    typos = [r for r in sample.records if "department_typo" in _tags(r)]
    assert len(typos) > 500
    recovered = sum(
        department(r.department) == normalise_text(sample.households[r.household_id].address.department) for r in typos
    )
    assert recovered / len(typos) > 0.9


# -- noise rates --------------------------------------------------------------------------------------------------


def _assert_rate(hits: int, eligible: int, rate: float) -> None:
    assert eligible >= 300, f"too few eligible records ({eligible}) to measure a rate"
    observed = hits / eligible
    tolerance = max(5 * math.sqrt(rate * (1 - rate) / eligible), 0.002)
    assert abs(observed - rate) <= tolerance, f"observed {observed:.4f} of {eligible}, configured {rate}"


def _rate_of(records: list[SyntheticRecord], tag: str) -> tuple[int, int]:
    return sum(tag in _tags(r) for r in records), len(records)


def test_noise_rates_match_the_configuration(sample: Sample) -> None:
    by_agency: dict[str, list[SyntheticRecord]] = {a: [] for a in AGENCIES}
    for record in sample.records:
        by_agency[record.agency].append(record)
    bps, dgi, im = by_agency["BPS"], by_agency["DGI"], by_agency["IM"]
    assert all(_tags(r) == set() for r in by_agency["DNIC"])  # DNIC is clean

    _assert_rate(*_rate_of(bps, "drop_second_surname"), CONFIG.bps_drop_second_surname)
    _assert_rate(*_rate_of(bps, "abbreviate_given"), CONFIG.bps_abbreviate_given_names)
    _assert_rate(*_rate_of(bps, "department_typo"), CONFIG.bps_department_typo)
    _assert_rate(*_rate_of(dgi, "cedula_typo"), CONFIG.dgi_cedula_typo)
    swappable = [r for r in dgi if (born := sample.people[r.person_id].birth_date).day <= 12 and born.day != born.month]
    _assert_rate(*_rate_of(swappable, "swap_day_month"), CONFIG.dgi_swap_day_month)
    swappable_ids = {id(r) for r in swappable}
    assert not any("swap_day_month" in _tags(r) for r in dgi if id(r) not in swappable_ids)
    _assert_rate(*_rate_of(im, "missing_cedula"), CONFIG.im_missing_cedula)
    with_variants = [
        r
        for r in im
        if any(
            normalise_text(s) in SURNAME_VARIANTS
            for s in (sample.people[r.person_id].first_surname, sample.people[r.person_id].second_surname)
        )
    ]
    _assert_rate(*_rate_of(with_variants, "surname_variant"), CONFIG.im_surname_variant)
    minors = [
        r for r in bps + im if _minor_with_parents(sample.people[r.person_id]) and "missing_cedula" not in _tags(r)
    ]
    _assert_rate(*_rate_of(minors, "parent_cedula"), CONFIG.child_parent_cedula)
    minor_ids = {id(r) for r in minors}
    assert not any("parent_cedula" in _tags(r) for r in sample.records if id(r) not in minor_ids)
    for form in range(5):
        _assert_rate(*_rate_of(im, f"address_form_{form}"), 0.2)


def test_most_cedula_typos_are_detectable(sample: Sample) -> None:
    typos = [parse_cedula(r.cedula) for r in sample.records if "cedula_typo" in _tags(r)]
    invalid = sum(not c.valid for c in typos) / len(typos)
    # Undetected: a change of 5 under an even weight, about 1/18 of typos in a 7-digit body.
    assert 0.88 < invalid < 0.99, invalid


def test_zero_rates_give_clean_records_and_full_rates_noisy_ones() -> None:
    zero = SyntheticConfig(
        bps_drop_second_surname=0.0,
        bps_abbreviate_given_names=0.0,
        bps_department_typo=0.0,
        dgi_swap_day_month=0.0,
        dgi_cedula_typo=0.0,
        im_missing_cedula=0.0,
        im_surname_variant=0.0,
        child_parent_cedula=0.0,
    )
    structural = {"duplicate", *(f"address_form_{k}" for k in range(5))}
    assert all(_tags(r) <= structural for r in generate_records(20_000, seed=8, config=zero))
    full = SyntheticConfig(
        bps_drop_second_surname=1.0,
        bps_abbreviate_given_names=1.0,
        dgi_cedula_typo=1.0,
        im_missing_cedula=1.0,
    )
    for record in generate_records(20_000, seed=8, config=full):
        tags = _tags(record)
        if record.agency == "BPS":
            assert {"drop_second_surname", "abbreviate_given"} <= tags
            assert record.second_surname == ""
        elif record.agency == "DGI":
            assert "cedula_typo" in tags
        elif record.agency == "IM":
            assert "missing_cedula" in tags and record.cedula == ""


# -- output and truth ---------------------------------------------------------------------------------------------


def test_write_csv(tmp_path: Path) -> None:
    records = list(generate_records(5000, seed=12))
    counts = write_csv(iter(records), tmp_path / "out")
    assert counts == Counter(r.agency for r in records)
    truth_rows: list[dict[str, str]] = []
    for agency in AGENCIES:
        with (tmp_path / "out" / f"{agency}.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == AGENCY_COLUMNS[agency]
        assert len(rows) - 1 == counts[agency]
        expected = [[getattr(r, c) for c in AGENCY_COLUMNS[agency]] for r in records if r.agency == agency]
        assert rows[1:] == expected
        assert "person_id" not in rows[0]  # the truth stays out of the agency files
    with (tmp_path / "out" / "truth.csv").open(newline="", encoding="utf-8") as handle:
        truth_rows = list(csv.DictReader(handle))
    assert tuple(truth_rows[0]) == TRUTH_COLUMNS
    assert [(t["agency"], t["record_id"], int(t["person_id"])) for t in truth_rows] == [
        (r.agency, r.record_id, r.person_id) for r in records
    ]
    write_csv(records, tmp_path / "plain", truth=False)
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == [
        "BPS.csv",
        "DGI.csv",
        "DNIC.csv",
        "IM.csv",
        "mapping.toml",
    ]
    # The mapping written beside the files reads every record, none rejected.
    from entramado.identity.mapping import SourceRecord, load_mapping, read_mapping

    results = list(read_mapping(load_mapping(tmp_path / "plain" / "mapping.toml")))
    assert len(results) == len(records) and all(isinstance(r, SourceRecord) for r in results)


def test_truth_clusters_and_pairs() -> None:
    records = list(generate_records(3000, seed=13, shuffle_window=1000))
    person_of = {(r.agency, r.record_id): r.person_id for r in records}
    household_of = {(r.agency, r.record_id): r.household_id for r in records}
    clusters = truth_clusters(records)
    assert sum(len(keys) for keys in clusters.values()) == len(records)
    assert all({person_of[k] for k in keys} == {pid} for pid, keys in clusters.items())
    pairs = list(truth_pairs(records))
    assert len(pairs) == sum(math.comb(len(keys), 2) for keys in clusters.values())
    assert len(set(pairs)) == len(pairs)
    assert all(a < b and person_of[a] == person_of[b] for a, b in pairs)
    household_pairs = set(truth_pairs(records, by="household"))
    assert set(pairs) < household_pairs
    assert all(household_of[a] == household_of[b] for a, b in household_pairs)


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        yield from handle


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--records", "500", "--seed", "3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    counts = {k: int(v) for k, v in (item.split("=") for item in printed)}
    assert sum(counts.values()) == 500
    assert sum(1 for _ in _lines(tmp_path / "truth.csv")) == 501
