"""Switch filters off: how much does each conv filter matter to the answer?

A mask per conv block holds one number per filter, 1 to keep it and 0 to switch it off; the served
model multiplies the block's ReLU output by it. Accuracy is measured on the first ``ABLATION_IMAGES``
test digits. Switching every conv1 filter off leaves the network one constant answer: chance.

    masks = masks_with_off({1: 32, 2: 64}, {1: [3, 7]})
    accuracy_with_masks(served.probabilities, images, labels, masks)
    ranking = rank_filters(served.probabilities, images, labels, {1: 32, 2: 64})   # worker, once per model
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

ABLATION_IMAGES = 2000  # test digits per accuracy: a 1-point change is about 20 digits
MaskedProbabilities = Callable[..., np.ndarray]  # (images, masks=None) -> (n, classes)


def channel_map(channels: Mapping[int, int] | Sequence[int]) -> dict[int, int]:
    """{block: filters} from a mapping or from the served model's list ([32, 64] is conv1, conv2)."""
    return dict(channels) if isinstance(channels, Mapping) else dict(enumerate(channels, start=1))


def masks_with_off(channels: Mapping[int, int] | Sequence[int], off: Mapping[int, Iterable[int]]) -> dict[int, np.ndarray]:
    """All-ones masks, one per block, with the listed filters of each block set to 0."""
    channels = channel_map(channels)
    masks = {block: np.ones(count, np.float32) for block, count in channels.items()}
    for block, filters in off.items():
        if block not in masks:
            raise ValueError(f"expected conv blocks {sorted(masks)}, got block {block}")
        filters = list(filters)
        if any(not 0 <= index < channels[block] for index in filters):
            raise ValueError(f"conv{block} has filters 0 to {channels[block] - 1}, got {filters}")
        masks[block][filters] = 0.0
    return masks


def accuracy_with_masks(probabilities: MaskedProbabilities, images: np.ndarray, labels: np.ndarray,
                        masks: Mapping[int, np.ndarray] | None = None) -> float:
    """Fraction of images answered right with the masked filters switched off."""
    predicted = np.argmax(probabilities(images, masks=dict(masks) if masks else None), axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def rank_filters(probabilities: MaskedProbabilities, images: np.ndarray, labels: np.ndarray,
                 channels: Mapping[int, int] | Sequence[int]) -> dict:
    """Accuracy without each filter alone, every filter of every block, largest drop first.

    Returns a JSON-ready dict: ``{"images": n, "base_accuracy": a, "filters": [{"block": 1,
    "filter": 5, "accuracy": ..., "drop": ...}, ...]}``. It costs one pass over ``images`` per
    filter (96 for the seed network), so the worker runs it once per saved model.
    """
    channels = channel_map(channels)
    base = accuracy_with_masks(probabilities, images, labels)
    rows = []
    for block, count in channels.items():
        for index in range(count):
            value = accuracy_with_masks(probabilities, images, labels, masks_with_off(channels, {block: [index]}))
            rows.append({"block": int(block), "filter": index, "accuracy": value, "drop": base - value})
    rows.sort(key=lambda row: (-row["drop"], row["block"], row["filter"]))
    return {"images": int(len(labels)), "base_accuracy": base, "filters": rows}
