"""Pairing kernels: the assignment is optimal (brute force), and a run paired with itself scores 1."""
import itertools

import numpy as np
import pytest

from cnn_core.experiments import pairing


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (1, 3)])
def test_assignment_is_optimal_against_brute_force(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        cost = rng.random(shape)
        found = pairing.assignment(cost)
        best = min(itertools.permutations(range(shape[1]), shape[0]),
                   key=lambda columns: cost[np.arange(shape[0]), list(columns)].sum())
        assert len(set(found)) == shape[0]
        assert cost[np.arange(shape[0]), found].sum() == pytest.approx(cost[np.arange(shape[0]), list(best)].sum())


def test_a_run_paired_with_itself_scores_one_everywhere():
    kernels = np.random.default_rng(0).normal(size=(3, 3, 1, 32))
    pairs = pairing.pair_kernels(kernels, kernels)
    assert pairs.second_index.tolist() == list(range(32))
    assert np.allclose(pairs.similarity, 1.0) and (pairs.sign == 1).all()


def test_shuffled_and_negated_kernels_are_found_again():
    kernels = np.random.default_rng(1).normal(size=(3, 3, 1, 16))
    order = np.random.default_rng(2).permutation(16)
    other = kernels[..., order] * np.where(np.arange(16) % 2, -1.0, 2.0)
    pairs = pairing.pair_kernels(kernels, other)
    assert (order[pairs.second_index] == np.arange(16)).all()
    assert np.allclose(pairs.similarity, 1.0)
    assert (pairs.sign == np.where(np.arange(16) % 2, -1, 1)[pairs.second_index]).all()
    assert pairs.order()[0] in range(16)


def test_random_kernels_set_a_chance_level_well_above_zero():
    kernels = np.random.default_rng(1).normal(size=(3, 3, 1, 32))
    chance = pairing.chance_level(kernels, draws=3)
    # Nine numbers per kernel and 32 candidates each: optimal pairing flatters even noise.
    assert 0.4 < chance.mean_similarity < 0.9 and chance.above_09 < 3 <= chance.above_07
    assert pairing.chance_level(kernels, draws=3) == chance  # seeded: the page shows the same level each time
