"""Persistent person ids across linkage runs.

A rerun clusters every record again; this module decides which person id each new cluster carries, so that a person
whose records did not change keeps the id agencies already hold, and so that what happened to every other id is
said: merged into another person (the old id redirects there), split (part of its records became a new person), or
retired (its records were all withdrawn).

The rule: each cluster votes for the ids its unchanged records had; votes are taken largest first, each id going to
one cluster and each cluster taking one id. A cluster left without an id gets a new one.
"""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def new_person_ids(count: int) -> list[str]:
    """``count`` fresh person ids: 20 random base-32 characters each (100 bits), opaque by design, in Crockford's
    alphabet (no I, L, O or U, so that an id read aloud or retyped survives). Drawn and encoded in one go, since a
    first run makes hundreds of thousands: 15 random bytes are 24 base-32 characters, of which each id keeps 20."""
    text = base64.b32encode(secrets.token_bytes(15 * count)).decode().translate(_CROCKFORD)
    return [text[i : i + 20] for i in range(0, 24 * count, 24)]


def new_person_id() -> str:
    """One fresh person id (:func:`new_person_ids`)."""
    return new_person_ids(1)[0]


@dataclass
class Assignment(Generic[K]):
    """The id of each cluster and the history: ``merged`` (old id -> id it now redirects to), ``split`` (id kept
    by one cluster -> new ids that took part of its records), ``retired`` (ids left with no records), ``created``
    (new ids)."""

    ids: dict[int, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)
    split: dict[str, list[str]] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)


def assign_ids(
    clusters: Mapping[int, Iterable[K]],
    previous: Mapping[K, str],
    unchanged: Callable[[K], bool],
    *,
    new_ids: Callable[[int], list[str]] = new_person_ids,
) -> Assignment[K]:
    """Give every cluster a person id.

    Args:
        clusters: cluster label -> the keys of its records.
        previous: key -> person id, for every record the index held before this run.
        unchanged: whether a record is the same as before (same values); only unchanged records vote.
        new_ids: makes so many new ids.

    Returns:
        The assignment; every previous id is either kept by a cluster, merged, or retired.
    """
    votes: Counter[tuple[int, str]] = Counter()
    holders: dict[str, Counter[int]] = {}
    for label, keys in clusters.items():
        for key in keys:
            old = previous.get(key)
            if old is None:
                continue
            holders.setdefault(old, Counter())[label] += 1
            if unchanged(key):
                votes[label, old] += 1
    out: Assignment[K] = Assignment()
    taken: set[str] = set()
    # Largest vote first; ties broken by the id so that reruns are deterministic.
    for (label, old), _ in sorted(votes.items(), key=lambda item: (-item[1], item[0][1], item[0][0])):
        if label in out.ids or old in taken:
            continue
        out.ids[label] = old
        taken.add(old)
    without = [label for label in clusters if label not in out.ids]
    out.created = new_ids(len(without))
    out.ids.update(zip(without, out.created, strict=True))
    for old in set(previous.values()) - taken:
        where = holders.get(old)
        if where:
            label, _ = max(where.items(), key=lambda item: (item[1], -item[0]))
            out.merged[old] = out.ids[label]
        else:
            out.retired.append(old)
    created = set(out.created)
    for old in taken:
        others = sorted({out.ids[label] for label in holders.get(old, {})} - {old})
        fresh_parts = [pid for pid in others if pid in created]
        if fresh_parts:
            out.split[old] = fresh_parts
    out.retired.sort()
    return out
