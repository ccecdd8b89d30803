"""Expectation maximisation of m: officials' decisions are labels whose class EM keeps."""

from __future__ import annotations

import numpy as np
import pytest

from entramado.identity.training import Patterns, expectation_maximisation

# One comparison of three levels (null, agree, disagree). u: random pairs agree 1 % of the time.
U = [[0.01, 0.99]]
START = [[0.5, 0.5]]


def _patterns(agree: float, disagree: float) -> Patterns:
    return Patterns(levels=np.array([[1], [2]]), counts=np.array([agree, disagree]), trained=(True,))


def test_labels_keep_their_class_and_move_m() -> None:
    unlabelled = _patterns(100.0, 10_000.0)
    m_alone, share_alone = expectation_maximisation(unlabelled, U, START)
    # Officials say 50 disagreeing pairs are the same person: m must give disagreement more weight.
    labels = np.array([[2]] * 50)
    labelled = unlabelled.with_labels(labels, np.ones(50, dtype=bool))
    assert labelled.known is not None and np.isnan(labelled.known[:2]).all() and (labelled.known[2:] == 1).all()
    m_labelled, share_labelled = expectation_maximisation(labelled, U, START)
    assert m_labelled[0][1] > m_alone[0][1]
    assert share_labelled > share_alone
    assert sum(m_labelled[0]) == pytest.approx(1.0)


def test_pairs_known_different_are_not_counted_as_matches() -> None:
    # Every pair agrees, but officials say all of them are different people: nothing is left to teach m.
    patterns = Patterns(levels=np.zeros((0, 1), dtype=np.int64), counts=np.zeros(0), trained=(True,))
    patterns = patterns.with_labels(np.array([[1]] * 20), np.zeros(20, dtype=bool))
    m, share = expectation_maximisation(patterns, U, START)
    assert share == 0.0 and m == START  # no match observed: m keeps its start


def test_without_labels_nothing_changes() -> None:
    patterns = _patterns(100.0, 10_000.0)
    assert patterns.with_labels(np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=bool)) is patterns
