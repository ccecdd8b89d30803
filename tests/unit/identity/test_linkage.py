"""Batch scoring: our SQL and Splink's give the same pairs, levels, weights and household conflicts, and the same prior
and u; training gives a usable model."""

from __future__ import annotations

import numpy as np
import pytest

from entramado.bench.identity_realtime import PLAUSIBLE_MODEL, synthetic_table
from entramado.identity import model as m
from entramado.identity.linkage import BLOCKING_RULES, PRIOR_RULE, PRIOR_RULE_RECALL, TRAINING_RULES, Scorer
from entramado.identity.synthetic import generate_records

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:splink")


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(synthetic_table(generate_records(3000, seed=4)).drop(["person_id"]))


def _by_pair(pairs: object) -> dict[tuple[int, int], tuple[float, tuple[int, ...], bool]]:
    return {
        (a, b): (w, tuple(lv), c)
        for a, b, w, lv, c in zip(
            pairs.uid_l.tolist(),  # type: ignore[attr-defined]
            pairs.uid_r.tolist(),  # type: ignore[attr-defined]
            pairs.weight.tolist(),  # type: ignore[attr-defined]
            pairs.levels.tolist(),  # type: ignore[attr-defined]
            pairs.conflict.tolist(),  # type: ignore[attr-defined]
            strict=True,
        )
    }


def test_our_sql_scores_as_splink_does(scorer: Scorer) -> None:
    ours = _by_pair(scorer.score(PLAUSIBLE_MODEL, min_weight=-20))
    splink = _by_pair(scorer.score(PLAUSIBLE_MODEL, min_weight=-20, via_splink=True))
    assert len(ours) > 1000 and ours.keys() == splink.keys()
    for pair, (weight, levels, conflict) in ours.items():
        other = splink[pair]
        assert levels == other[1] and conflict == other[2], pair
        assert weight == pytest.approx(other[0], abs=1e-6)
        assert conflict == m.household_conflict(levels)


def test_training_gives_a_model_that_separates(scorer: Scorer) -> None:
    model = scorer.train(u_max_pairs=2e5)
    weights = model.weights()
    assert 0 < model.prior < 0.01
    for comparison, level_weights in zip(m.COMPARISONS, weights, strict=True):
        assert level_weights[1] > level_weights[-1], comparison.name  # the closest level beats else
    pairs = scorer.score(model, min_weight=-5)
    assert np.all(pairs.weight >= -5) and len(pairs) > 1000


def test_training_rules_are_blocking_rules() -> None:
    # Training reads its pairs from the blocked pairs: every training rule must be a blocking rule.
    assert set(TRAINING_RULES) <= set(BLOCKING_RULES)


def test_our_prior_is_splinks_and_our_u_counts_every_pair_when_the_budget_covers_them() -> None:
    # 300 records: 44,850 pairs, fewer than the budget, so u is every pair's level shares (null left out), which the
    # Python predicates recount here; a level no pair reaches gets half a pair's share.
    table = synthetic_table(generate_records(300, seed=5)).drop(["person_id"])
    small = Scorer(table)
    try:
        ours_prior, ours_u = small._prior(), small._u_by_sampling(1e6, seed=1)
        from splink import block_on

        linker = small._linker(BLOCKING_RULES, None)
        linker.training.estimate_probability_two_random_records_match([block_on(*PRIOR_RULE)], recall=PRIOR_RULE_RECALL)
        splink_prior = linker.misc.save_model_to_json()["probability_two_random_records_match"]
    finally:
        small.close()
    assert ours_prior == pytest.approx(splink_prior, rel=1e-9)
    rows = table.to_pylist()
    for comparison, ours in zip(m.COMPARISONS, ours_u, strict=True):
        counts = np.zeros(len(comparison.levels))
        for i, left in enumerate(rows):
            for right in rows[i + 1 :]:
                counts[comparison.level_of(left, right)] += 1
        seen = counts[1:]
        expected = [c / seen.sum() if c else 0.5 / seen.sum() for c in seen]
        assert ours == pytest.approx(expected, rel=1e-9), comparison.name
