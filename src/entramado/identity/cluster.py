"""Clustering scored pairs into persons, with the rules that keep households apart.

Plain connected components at a threshold (what Splink offers) merges a whole household as soon as one wrong link
joins two of its members. Here links are taken strongest first and a link is refused when it would put into one
person two records that cannot be the same person: a household conflict between them
(:func:`~entramado.identity.model.household_conflict`) or an official's decision that they are different people.
An official's decision that two records are the same person is taken before any score.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Clustering:
    """``labels[uid]`` is the cluster of each record (the smallest uid in it); ``refused`` the links refused."""

    labels: npt.NDArray[np.int64]
    refused: list[Pair]


def cluster(
    n_records: int,
    uid_l: npt.NDArray[np.int64],
    uid_r: npt.NDArray[np.int64],
    weight: npt.NDArray[np.float64],
    *,
    min_weight: float,
    conflicts: Iterable[Pair] = (),
    same: Iterable[Pair] = (),
    different: Iterable[Pair] = (),
) -> Clustering:
    """Cluster ``n_records`` records (uids ``0..n-1``) from scored pairs.

    Args:
        n_records: number of records; every uid in the pairs is below it.
        uid_l, uid_r, weight: the scored pairs and their match weights.
        min_weight: links below this weight are not taken.
        conflicts: pairs that cannot be in one person (household conflicts found by scoring).
        same: pairs decided to be one person (taken first, never refused).
        different: pairs decided to be different people.

    Returns:
        The cluster of every record, and the links refused because of a conflict or decision (for review).
    """
    parent = list(range(n_records))
    members: dict[int, list[int]] = {}
    apart: dict[int, set[int]] = {}
    for a, b in (*conflicts, *different):
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def blocked(small: list[int], other_root: int) -> bool:
        for x in small:
            partners = apart.get(x)
            if partners and any(find(y) == other_root for y in partners):
                return True
        return False

    refused: list[Pair] = []

    def link(a: int, b: int, force: bool) -> None:
        ra, rb = find(a), find(b)
        if ra == rb:
            return
        ma, mb = members.get(ra, [ra]), members.get(rb, [rb])
        if len(ma) < len(mb):
            ra, rb, ma, mb = rb, ra, mb, ma
        if not force and blocked(mb, ra):
            refused.append((a, b))
            return
        parent[rb] = ra
        ma.extend(mb)
        members[ra] = ma
        members.pop(rb, None)

    for a, b in same:
        link(a, b, True)
    order = np.argsort(-weight, kind="stable")
    order = order[weight[order] >= min_weight]
    for a, b in zip(uid_l[order].tolist(), uid_r[order].tolist(), strict=True):
        link(a, b, False)
    roots = np.fromiter((find(i) for i in range(n_records)), dtype=np.int64, count=n_records)
    # Label each cluster by its smallest uid, so that labels do not depend on the order links were taken.
    smallest = np.full(n_records, n_records, dtype=np.int64)
    np.minimum.at(smallest, roots, np.arange(n_records, dtype=np.int64))
    return Clustering(labels=smallest[roots], refused=refused)
