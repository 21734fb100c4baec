"""What the model looks at: an occlusion-sensitivity map (Zeiler and Fergus, 2014).

A small square patch is slid over the 28x28 digit; at each place the model is asked again, and the
map records how much the probability of its original answer falls. Where covering the digit hurts
the answer, the model was using that part. A patch that changes no pixel (a blank patch over blank
paper) cannot change the answer, so its drop is exactly 0 and the model is not even asked.

    result = occlusion_map(served.probabilities, image28)       # black patch: erase ink
    result.drops            # (positions, positions): probability drop for each patch place
    result.pixel_map()      # (28, 28): mean drop of the patches covering each pixel
    result.pixel_peak()     # (28, 28): largest drop of the patches covering each pixel, for overlays
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnn_core.experiments.transforms import SIDE, as_batch

PATCH = 6    # side of the square patch, in pixels: about a stroke's width and a bit
STRIDE = 2   # pixels between patch places: 12 x 12 places, 144 images in one batch


@dataclass(frozen=True)
class OcclusionMap:
    """Probability drops for each patch place, and what they were measured against."""

    drops: np.ndarray        # (places, places) float32: base probability minus occluded probability
    starts: np.ndarray       # (places,) int: each place's top row (and left column)
    patch: int               # patch side in pixels
    fill: float              # the patch's value: 0 erases ink, 0.5 is grey
    label: int               # the original answer whose probability is tracked
    base_probability: float  # its probability on the unoccluded digit

    def pixel_map(self) -> np.ndarray:
        """(28, 28) mean drop over the patches that cover each pixel (0 where none does)."""
        total, count = np.zeros((SIDE, SIDE)), np.zeros((SIDE, SIDE))
        for row_index, top in enumerate(self.starts):
            for column_index, left in enumerate(self.starts):
                total[top:top + self.patch, left:left + self.patch] += self.drops[row_index, column_index]
                count[top:top + self.patch, left:left + self.patch] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)

    def pixel_peak(self) -> np.ndarray:
        """(28, 28) largest drop over the patches that cover each pixel: the map's top is ``drops.max()``,
        so a caption quoting the largest drop and the colours agree."""
        peak = np.full((SIDE, SIDE), -np.inf)
        for row_index, top in enumerate(self.starts):
            for column_index, left in enumerate(self.starts):
                window = peak[top:top + self.patch, left:left + self.patch]
                np.maximum(window, self.drops[row_index, column_index], out=window)
        return np.where(np.isfinite(peak), peak, 0.0).astype(np.float32)


def patch_starts(patch: int = PATCH, stride: int = STRIDE) -> np.ndarray:
    """Top-left coordinates of the patch places along one axis; the last one touches the edge."""
    if not 1 <= patch <= SIDE or stride < 1:
        raise ValueError(f"expected a patch of 1 to {SIDE} pixels and a stride of at least 1, got {patch}, {stride}")
    return np.unique(np.append(np.arange(0, SIDE - patch + 1, stride), SIDE - patch))


def occlusion_map(probabilities: Callable[[np.ndarray], np.ndarray], image28, patch: int = PATCH,
                  stride: int = STRIDE, fill: float = 0.0, label: int | None = None) -> OcclusionMap:
    """Slide a ``fill``-valued patch over the digit; the drop in ``label``'s probability at each place."""
    image, single = as_batch(image28)
    if not single:
        raise ValueError(f"expected one 28x28 image, got shape {np.shape(image28)}")
    image = image[0]
    starts = patch_starts(patch, stride)
    occluded, changed = [], []
    for top in starts:
        for left in starts:
            copy = image.copy()
            copy[top:top + patch, left:left + patch] = fill
            changed.append(not np.array_equal(copy, image))
            if changed[-1]:
                occluded.append(copy)
    changed = np.array(changed)
    table = probabilities(np.stack([image, *occluded]))  # the original first, then the changed places
    label = int(np.argmax(table[0])) if label is None else int(label)
    drops = np.zeros(len(changed), np.float32)
    drops[changed] = table[0, label] - table[1:, label]
    return OcclusionMap(drops.reshape(len(starts), len(starts)), starts, patch, float(fill), label, float(table[0, label]))
