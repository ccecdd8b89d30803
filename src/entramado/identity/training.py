"""Estimating the match model's ``m`` probabilities by expectation maximisation over comparison patterns.

Splink computes the comparison vectors of blocked pairs and estimates ``u`` by random sampling; the ``m`` step runs
here, over the distinct patterns and their counts (a few thousand rows whatever the data size). Splink 5's own EM
stops with an error as soon as one level's ``m`` underflows (a level no true match ever reaches, such as swapped
surnames in a source that never swaps them); here such a level keeps a floor and weighs strongly against a match,
which is what the data says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_FLOOR = 1e-6


@dataclass(frozen=True, slots=True)
class Patterns:
    """Distinct comparison vectors of blocked pairs and how many pairs have each.

    ``levels[i, c]`` is the level index (0 = null) of comparison ``c`` in pattern ``i``; ``trained`` marks the
    comparisons this blocking rule leaves free (those it blocks on always agree and say nothing about ``m``).
    ``known`` says, per pattern, whether its pairs are known to match (1.0: officials decided *same*), known not to
    (0.0: *different*) or unknown (NaN, the default for every pattern).
    """

    levels: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]
    trained: tuple[bool, ...]
    known: npt.NDArray[np.float64] | None = None

    def with_labels(self, levels: npt.NDArray[np.int64], same: npt.NDArray[np.bool_]) -> Patterns:
        """These patterns and, as patterns of their own, labelled pairs: their levels and whether they match."""
        if not len(levels):
            return self
        known = self.known if self.known is not None else np.full(len(self.counts), np.nan)
        return Patterns(
            levels=np.vstack([self.levels, levels]),
            counts=np.concatenate([self.counts, np.ones(len(levels))]),
            trained=self.trained,
            known=np.concatenate([known, same.astype(np.float64)]),
        )


def expectation_maximisation(
    patterns: Patterns,
    u: Sequence[Sequence[float]],
    m_start: Sequence[Sequence[float]],
    *,
    iterations: int = 25,
    tolerance: float = 1e-5,
) -> tuple[list[list[float]], float]:
    """Estimate ``m`` per comparison level (null level excluded, as in ``u``) and the share of matches among the
    blocked pairs. ``u`` stays fixed. Comparisons not ``trained`` keep ``m_start``. Patterns whose class is
    ``known`` keep it as their posterior (semi-supervised: officials' decisions are labels)."""
    n_comparisons = len(u)
    m = [np.array(ms, dtype=np.float64) for ms in m_start]
    uu = [np.array(us, dtype=np.float64) for us in u]
    levels, counts = patterns.levels, patterns.counts
    share = 0.5
    for _ in range(iterations):
        log_m = np.zeros(len(counts))
        log_u = np.zeros(len(counts))
        for c in range(n_comparisons):
            observed = levels[:, c] > 0
            idx = np.maximum(levels[:, c] - 1, 0)
            log_m += np.where(observed, np.log(np.maximum(m[c][idx], _FLOOR)), 0.0)
            log_u += np.where(observed, np.log(np.maximum(uu[c][idx], _FLOOR)), 0.0)
        numerator = share * np.exp(log_m)
        posterior = numerator / (numerator + (1 - share) * np.exp(log_u))
        if patterns.known is not None:
            posterior = np.where(np.isnan(patterns.known), posterior, patterns.known)
        weighted = posterior * counts
        new_share = float(weighted.sum() / counts.sum())
        change = abs(new_share - share)
        share = new_share
        for c in range(n_comparisons):
            if not patterns.trained[c]:
                continue
            totals = np.bincount(levels[:, c], weights=weighted, minlength=len(m[c]) + 1)[1:]
            if totals.sum() <= 0:
                continue
            new_m = np.maximum(totals / totals.sum(), _FLOOR)
            new_m /= new_m.sum()
            change = max(change, float(np.abs(new_m - m[c]).max()))
            m[c] = new_m
        if change < tolerance:
            break
    return [list(map(float, ms)) for ms in m], share


def combine(
    estimates: Sequence[tuple[list[list[float]], Patterns]], fallback: Sequence[Sequence[float]]
) -> list[list[float]]:
    """Average each comparison's ``m`` over the sessions that trained it (as Splink does across EM sessions)."""
    out: list[list[float]] = []
    for c, default in enumerate(fallback):
        trained = [np.array(m[c]) for m, p in estimates if p.trained[c]]
        out.append(list(map(float, np.mean(trained, axis=0))) if trained else list(default))
    return out


def floor_disagreement(ms: Sequence[float], us: Sequence[float], floor: float) -> list[float]:
    """Keep every level below the first (closest) one from weighing less than ``log2(floor)``: ``m >= floor * u``,
    the first level giving up the difference.

    People move house and change phones: a source that never shows it (a synthetic population, one snapshot of
    one agency) would teach the model that a different address rules out a match, and a citizen who moved would be
    refused as a new person. The floor is a prior on how often one person's records disagree on these fields.
    """
    out = list(ms)
    for level in range(1, len(out)):
        out[level] = max(out[level], floor * us[level])
    out[0] = max(1.0 - sum(out[1:]), 1e-6)
    return out
