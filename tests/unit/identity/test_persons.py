"""Persistent ids: kept, created, merged, split, retired."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from entramado.identity.persons import assign_ids, new_person_id, new_person_ids


def _ids() -> Callable[[int], list[str]]:
    counter = itertools.count(1)
    return lambda count: [f"N{next(counter)}" for _ in range(count)]


def test_unchanged_persons_keep_their_ids() -> None:
    previous = {"a": "P1", "b": "P1", "c": "P2"}
    out = assign_ids({0: ["a", "b"], 1: ["c", "d"]}, previous, lambda k: True, new_ids=_ids())
    assert out.ids == {0: "P1", 1: "P2"} and out.created == [] and not out.merged and not out.retired


def test_merge_split_retire_and_create() -> None:
    previous = {"a": "P1", "b": "P2", "c": "P3", "d": "P3", "e": "P4"}
    clusters = {0: ["a", "b"], 1: ["c"], 2: ["d"], 3: ["f"]}
    out = assign_ids(clusters, previous, lambda k: True, new_ids=_ids())
    assert out.ids[0] in {"P1", "P2"}
    loser = ({"P1", "P2"} - {out.ids[0]}).pop()
    assert out.merged == {loser: out.ids[0]}
    assert {out.ids[1], out.ids[2]} == {"P3", "N1"} and out.split == {"P3": ["N1"]}
    assert out.ids[3] == "N2" and out.created == ["N1", "N2"]
    assert out.retired == ["P4"]


def test_only_unchanged_records_vote() -> None:
    previous = {"a": "P1", "b": "P2", "c": "P2"}
    # b and c changed; a did not: the cluster keeps P1, and P2 redirects there.
    out = assign_ids({0: ["a", "b", "c"]}, previous, lambda k: k == "a", new_ids=_ids())
    assert out.ids == {0: "P1"} and out.merged == {"P2": "P1"}


def test_new_ids_are_opaque_and_distinct() -> None:
    ids = {new_person_id() for _ in range(1000)} | set(new_person_ids(1000))
    assert len(ids) == 2000 and all(len(i) == 20 and i.isalnum() and not set(i) & set("ILOU") for i in ids)
