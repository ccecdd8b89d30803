"""Clustering: strongest links first, household conflicts and decisions respected, components untouched."""

from __future__ import annotations

import random

import numpy as np

from entramado.identity.cluster import cluster


def _run(n: int, edges: list[tuple[int, int, float]], **kwargs: object) -> list[int]:
    uid_l = np.array([a for a, _, _ in edges], dtype=np.int64)
    uid_r = np.array([b for _, b, _ in edges], dtype=np.int64)
    weight = np.array([w for _, _, w in edges], dtype=np.float64)
    return cluster(n, uid_l, uid_r, weight, min_weight=8.0, **kwargs).labels.tolist()  # type: ignore[arg-type]


def test_components_above_the_threshold_are_persons() -> None:
    labels = _run(5, [(0, 1, 20.0), (1, 2, 9.0), (3, 4, 7.9)])
    assert labels == [0, 0, 0, 3, 4]


def test_twins_joined_by_a_weak_link_stay_apart() -> None:
    # 0,1: twin A's records; 2,3: twin B's. A wrong link 1-2 is weaker than each twin's own links.
    edges = [(0, 1, 30.0), (2, 3, 30.0), (1, 2, 12.0)]
    labels = _run(4, edges, conflicts=[(0, 3)])
    assert labels == [0, 0, 2, 2]
    result = cluster(
        4,
        np.array([0, 2, 1]),
        np.array([1, 3, 2]),
        np.array([30.0, 30.0, 12.0]),
        min_weight=8.0,
        conflicts=[(0, 3)],
    )
    assert result.refused == [(1, 2)]


def test_decisions_bind() -> None:
    assert _run(3, [(0, 1, 30.0)], different=[(0, 1)]) == [0, 1, 2]
    assert _run(3, [], same=[(0, 2)]) == [0, 1, 0]


def _greedy(n: int, edges: list[tuple[int, int, float]], apart: list[tuple[int, int]]) -> list[int]:
    """Reference: strongest first, refuse a merge that joins two records kept apart (quadratic, for small n)."""
    label = list(range(n))
    for a, b, w in sorted(edges, key=lambda e: -e[2]):
        if w < 8.0 or label[a] == label[b]:
            continue
        la, lb = label[a], label[b]
        merged = [i for i in range(n) if label[i] in (la, lb)]
        if any((x, y) in apart or (y, x) in apart for x in merged for y in merged):
            continue
        for i in range(n):
            if label[i] == lb:
                label[i] = la
    return label


def _partition(labels: list[int]) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def test_same_as_strongest_first_reference_on_random_graphs() -> None:
    rng = random.Random(3)
    for _ in range(300):
        n = rng.randint(2, 12)
        edges = [
            (a, b, rng.choice([5.0, 9.0, 12.0, 20.0, 30.0]))
            for a in range(n)
            for b in range(a + 1, n)
            if rng.random() < 0.3
        ]
        apart = [(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.1]
        assert _partition(_run(n, edges, conflicts=apart)) == _partition(_greedy(n, edges, apart))
