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
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    same = list(same)
    apart = [*conflicts, *different]
    strong = weight >= min_weight
    left = np.concatenate([uid_l[strong], np.array([a for a, _ in same], dtype=np.int64)])
    right = np.concatenate([uid_r[strong], np.array([b for _, b in same], dtype=np.int64)])
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n_records, n_records))
    _, components = connected_components(graph, directed=False)
    # Strongest-first linking refuses nothing inside a component that holds no pair kept apart: there it gives the
    # component itself. Only components with such a pair (a household, twins...) are linked link by link.
    troubled = {int(components[a]) for a, b in apart if components[a] == components[b]}
    labels = components.astype(np.int64)
    refused: list[Pair] = []
    if troubled:
        in_trouble = np.isin(components, list(troubled))
        mask = strong & in_trouble[uid_l]
        refused = _link_in_order(
            labels,
            uid_l[mask],
            uid_r[mask],
            weight[mask],
            [(a, b) for a, b in apart if components[a] == components[b] and components[a] in troubled],
            [(a, b) for a, b in same if components[a] in troubled],
            np.flatnonzero(in_trouble),
            offset=int(components.max()) + 1,
        )
    # Label each cluster by its smallest uid, so that labels do not depend on the order links were taken.
    smallest = np.full(labels.max() + 1 if n_records else 0, n_records, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n_records, dtype=np.int64))
    return Clustering(labels=smallest[labels], refused=refused)


def _link_in_order(
    labels: npt.NDArray[np.int64],
    uid_l: npt.NDArray[np.int64],
    uid_r: npt.NDArray[np.int64],
    weight: npt.NDArray[np.float64],
    apart_pairs: list[Pair],
    same: list[Pair],
    uids: npt.NDArray[np.int64],
    *,
    offset: int,
) -> list[Pair]:
    """Strongest-first linking with constraints over the records ``uids``; writes their labels (from ``offset``)."""
    parent = {int(u): int(u) for u in uids}
    members: dict[int, list[int]] = {}
    apart: dict[int, set[int]] = {}
    for a, b in apart_pairs:
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
    for a, b in zip(uid_l[order].tolist(), uid_r[order].tolist(), strict=True):
        link(a, b, False)
    for u in uids.tolist():
        labels[u] = offset + find(u)
    return refused
