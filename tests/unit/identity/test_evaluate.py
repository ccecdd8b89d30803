"""Accuracy measures against hand-computed values."""

from __future__ import annotations

import pytest

from entramado.identity.evaluate import accuracy


def test_perfect() -> None:
    a = accuracy([1, 1, 2], [7, 7, 9])
    assert (a.pairwise_f1, a.cluster_f1, a.persons_exact) == (1.0, 1.0, 1.0)


def test_a_merged_household() -> None:
    # Truth: {0,1} {2}; predicted: all three together.
    a = accuracy([0, 0, 0], [5, 5, 6])
    assert a.pairwise_precision == pytest.approx(1 / 3) and a.pairwise_recall == 1.0
    assert a.cluster_precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)
    assert a.cluster_recall == 1.0
    assert a.persons_exact == 0.0 and a.persons == 2 and a.clusters == 1


def test_a_split_person() -> None:
    a = accuracy([0, 1, 2], [5, 5, 6])
    assert a.pairwise_precision == 1.0 and a.pairwise_recall == 0.0
    assert a.persons_exact == 0.5


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="same records"):
        accuracy([1, 2], [1])
