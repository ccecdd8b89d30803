"""Merkle trees over message-log records, as RFC 9162 (Certificate Transparency v2) defines them.

Leaves are ``SHA-256(0x00 || record_hash)``, inner nodes ``SHA-256(0x01 || left || right)``; the
tree is the left-balanced one of RFC 9162 §2.1.1, so proofs verify with its §2.1.3.2 algorithm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf(record_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(record_hash_hex)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    # Pairing level by level and lifting a lone last node unchanged builds the same tree as
    # RFC 9162's recursive split at the largest power of two below n.
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
    return levels


def root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    return _levels(leaves)[-1][0]


def proofs(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and every leaf's inclusion proof (audit path), computed in one pass."""
    levels = _levels(leaves)
    paths: list[list[bytes]] = []
    for index in range(len(leaves)):
        path, i = [], index
        for level in levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            i >>= 1
        paths.append(path)
    return levels[-1][0], paths


def verify(leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove leaf ``index`` of a tree of ``size`` leaves?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
