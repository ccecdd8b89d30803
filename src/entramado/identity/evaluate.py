"""Accuracy of a clustering against the truth: pairwise, B-cubed and exact-person measures.

* Pairwise: over all pairs of records, a pair is predicted when both records are in one cluster, true when both
  belong to one person.
* Cluster (B-cubed): each record's precision is the share of its cluster that is truly its person, its recall the
  share of its person that is in its cluster; averaged over records.
* Persons reconstructed exactly: the share of true persons whose records form exactly one cluster, nothing more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Accuracy:
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    cluster_precision: float
    cluster_recall: float
    cluster_f1: float
    persons: int
    clusters: int
    persons_exact: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(counts: npt.NDArray[np.int64]) -> int:
    return int((counts * (counts - 1) // 2).sum())


def accuracy(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> Accuracy:
    """Compare cluster labels with true person labels, one of each per record (any integer labels)."""
    pred = np.unique(np.asarray(predicted), return_inverse=True)[1].astype(np.int64)
    true = np.unique(np.asarray(truth), return_inverse=True)[1].astype(np.int64)
    if len(pred) != len(true):
        raise ValueError("predicted and truth must label the same records")
    n = len(pred)
    if n == 0:
        return Accuracy(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0, 0, 1.0)
    pred_sizes = np.bincount(pred)
    true_sizes = np.bincount(true)
    joint, joint_counts = np.unique(pred * (true.max() + 1) + true, return_counts=True)
    joint_pred, joint_true = joint // (true.max() + 1), joint % (true.max() + 1)
    tp = _pairs(joint_counts)
    predicted_pairs, true_pairs = _pairs(pred_sizes), _pairs(true_sizes)
    pp = tp / predicted_pairs if predicted_pairs else 1.0
    pr = tp / true_pairs if true_pairs else 1.0
    squared = joint_counts.astype(np.float64) ** 2
    bp = float((squared / pred_sizes[joint_pred]).sum() / n)
    br = float((squared / true_sizes[joint_true]).sum() / n)
    exact = int(((joint_counts == pred_sizes[joint_pred]) & (joint_counts == true_sizes[joint_true])).sum())
    return Accuracy(
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f1=_f1(pp, pr),
        cluster_precision=bp,
        cluster_recall=br,
        cluster_f1=_f1(bp, br),
        persons=len(true_sizes),
        clusters=len(pred_sizes),
        persons_exact=exact / len(true_sizes),
    )
