import hashlib

import pytest

from entramado.evidence import merkle


def _rfc9162_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 writes it (recursive split at the largest power of two)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc9162_root(leaves[:k]) + _rfc9162_root(leaves[k:])).digest()


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100])
def test_root_and_every_proof(size: int) -> None:
    leaves = [merkle.leaf(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(size)]
    root, paths = merkle.proofs(leaves)
    assert root == merkle.root(leaves) == _rfc9162_root(leaves)
    for index, path in enumerate(paths):
        assert merkle.verify(leaves[index], index, size, path, root)
        assert not merkle.verify(leaves[index], index, size, path, b"\x00" * 32)
        if size > 1:
            assert not merkle.verify(leaves[index], (index + 1) % size, size, path, root)
            assert not merkle.verify(merkle.leaf("00" * 32), index, size, path, root)


def test_leaf_and_node_domains_differ() -> None:
    # a leaf can never be mistaken for an inner node (second-preimage protection)
    a, b = merkle.leaf("11" * 32), merkle.leaf("22" * 32)
    assert merkle.root([a, b]) != hashlib.sha256(b"\x00" + a + b).digest()
    with pytest.raises(ValueError):
        merkle.root([])
