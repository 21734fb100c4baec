"""Do two trainings learn the same detectors? Pair two runs' conv1 kernels one to one.

Each kernel is compared with every kernel of the other run by |cosine similarity| (a filter and
its negative detect the same edge with opposite sign), and the kernels are paired by an optimal
assignment: the one-to-one pairing with the largest total similarity (the Hungarian algorithm,
written out below in NumPy). Pairing a run with itself pairs every kernel with itself, similarity 1.

    pairs = pair_kernels(first.kernels[0], second.kernels[0])
    pairs.second_index[i], pairs.similarity[i], pairs.sign[i]   # for first run's kernel i
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelPairing:
    """For each kernel of the first run, its partner in the second."""

    second_index: np.ndarray  # (count,) int: partner of first-run kernel i
    similarity: np.ndarray    # (count,) |cosine| of each pair, in [0, 1]
    sign: np.ndarray          # (count,) +1 same polarity, -1 the partner is negated

    def order(self) -> np.ndarray:
        """First-run kernel indices, most similar pair first."""
        return np.argsort(-self.similarity, kind="stable")


def flatten_kernels(kernels: np.ndarray) -> np.ndarray:
    """(count, h*w*in) rows from a (h, w, in, count) or (h, w, count) kernel stack."""
    kernels = np.asarray(kernels, np.float64)
    if kernels.ndim not in (3, 4):
        raise ValueError(f"expected kernels shaped (h, w, count) or (h, w, in, count), got {kernels.shape}")
    return np.moveaxis(kernels, -1, 0).reshape(kernels.shape[-1], -1)


def cosine_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(count1, count2) cosine similarity between every pair of flattened kernels (0 for a zero kernel)."""
    def unit(rows):
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1.0)
    return unit(flatten_kernels(first)) @ unit(flatten_kernels(second)).T


def assignment(cost: np.ndarray) -> np.ndarray:
    """Columns for each row minimising the total cost (Hungarian algorithm, shortest augmenting paths).

    ``cost`` is (rows, columns) with rows <= columns; returns (rows,) distinct column indices.
    O(rows^2 * columns): a millisecond for 64 x 64.
    """
    cost = np.asarray(cost, np.float64)
    rows, columns = cost.shape
    if rows > columns:
        raise ValueError(f"expected no more rows than columns, got {cost.shape}")
    # Potentials u (rows) and v (columns), 1-based with a dummy column 0, as in the classic form.
    u, v = np.zeros(rows + 1), np.zeros(columns + 1)
    owner = np.zeros(columns + 1, dtype=int)  # owner[j]: the row assigned to column j (0: none)
    way = np.zeros(columns + 1, dtype=int)
    for row in range(1, rows + 1):
        owner[0], column = row, 0
        slack = np.full(columns + 1, np.inf)
        used = np.zeros(columns + 1, dtype=bool)
        while owner[column] != 0:
            used[column] = True
            current = owner[column]
            reduced = cost[current - 1] - u[current] - v[1:]
            free = ~used[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = column
            candidates = np.where(free, slack[1:], np.inf)
            nearest = int(np.argmin(candidates)) + 1
            delta = candidates[nearest - 1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[1:][free] -= delta
            column = nearest
        while column:  # flip the augmenting path back to its start
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    result = np.empty(rows, dtype=int)
    for column in range(1, columns + 1):
        if owner[column]:
            result[owner[column] - 1] = column - 1
    return result


def pair_kernels(first: np.ndarray, second: np.ndarray) -> KernelPairing:
    """Pair the first run's kernels with the second's, maximising the summed |cosine similarity|."""
    cosines = cosine_matrix(first, second)
    if cosines.shape[0] > cosines.shape[1]:
        raise ValueError(f"the second run needs at least as many kernels as the first, "
                         f"got {cosines.shape[0]} and {cosines.shape[1]}")
    partners = assignment(-np.abs(cosines))
    chosen = cosines[np.arange(len(partners)), partners]
    return KernelPairing(partners, np.abs(chosen), np.where(chosen < 0, -1, 1))


@dataclass(frozen=True)
class ChanceLevel:
    """What pairing scores when the second run's kernels are random numbers: the bar a real match must clear."""

    mean_similarity: float   # mean |cosine| of the pairs, averaged over the draws
    above_09: float          # pairs above 0.9, averaged over the draws
    above_07: float          # pairs above 0.7, averaged over the draws


def chance_level(first: np.ndarray, draws: int = 5, seed: int = 0) -> ChanceLevel:
    """Pair ``first`` with ``draws`` sets of Gaussian kernels of its shape (cosine ignores their scale).

    An optimal assignment picks, for each kernel, the best of many candidates, so even random
    kernels pair with a fair similarity (a 3x3 kernel has only nine numbers); a lesson compares
    two trainings against this level, not against zero.
    """
    rng = np.random.default_rng(seed)
    results = [pair_kernels(first, rng.normal(size=np.shape(first))).similarity for _ in range(draws)]
    return ChanceLevel(float(np.mean([r.mean() for r in results])), float(np.mean([(r > 0.9).sum() for r in results])),
                       float(np.mean([(r > 0.7).sum() for r in results])))
