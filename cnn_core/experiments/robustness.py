"""What the model tolerates: accuracy against shift and rotation, and one digit's invariance strip.

A convolution slides the same kernel everywhere and max-pooling forgives a pixel or two, so the
seed claims a CNN copes with a digit that is not centred; a fully connected net has one weight per
pixel and no such help. These functions measure it:

    shift_accuracy(served.probabilities, images, labels)      # {"0": 0.99, "1": 0.98, ... "6": ...}
    rotation_accuracy(served.probabilities, images, labels)   # {"-30": ..., "0": ..., "30": ...}
    strip = invariance_strip(image28); answers = strip_answers(served.probabilities, strip)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnn_core.experiments import transforms

Probabilities = Callable[[np.ndarray], np.ndarray]  # (n, 28, 28) floats in [0, 1] -> (n, classes)
SHIFTS = tuple(range(7))                  # pixels, "0" to "6" in the results
ANGLES = tuple(range(-30, 31, 10))        # degrees, anticlockwise positive
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (rows, columns): right, left, down, up


def accuracy(probabilities: Probabilities, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most probable class is the label."""
    return float(np.mean(np.argmax(probabilities(images), axis=1) == np.asarray(labels)))


def shifted_copies(images: np.ndarray, pixels: int, seed: int = 0) -> np.ndarray:
    """Each image moved ``pixels`` in one of four directions (right, left, down, up), chosen at random."""
    batch, _ = transforms.as_batch(images)
    directions = np.random.default_rng(seed).integers(len(DIRECTIONS), size=len(batch))
    moved = np.empty_like(batch)
    for index, (rows, columns) in enumerate(DIRECTIONS):
        chosen = directions == index
        moved[chosen] = transforms.shift(batch[chosen], rows * pixels, columns * pixels)
    return moved


def shift_accuracy(probabilities: Probabilities, images, labels, shifts=SHIFTS, seed: int = 0) -> dict[str, float]:
    """Accuracy with every image moved by each number of pixels; keys are the pixels as strings."""
    return {str(pixels): accuracy(probabilities, shifted_copies(images, pixels, seed), labels) for pixels in shifts}


def rotation_accuracy(probabilities: Probabilities, images, labels, angles=ANGLES) -> dict[str, float]:
    """Accuracy with every image turned by each angle; keys are the degrees as strings."""
    return {str(angle): accuracy(probabilities, transforms.rotate(images, angle), labels) for angle in angles}


@dataclass(frozen=True)
class Variant:
    """One transformed copy of a digit, for the invariance strip."""

    name: str           # what was done, e.g. "shifted 3 px right"
    image: np.ndarray   # (28, 28) float32


@dataclass(frozen=True)
class VariantAnswer:
    """The model's answer for one variant."""

    name: str
    image: np.ndarray   # (28, 28)
    label: int
    confidence: float   # probability of ``label``
    original_probability: float  # probability of the original digit's answer on this variant


def invariance_strip(image28) -> list[Variant]:
    """The digit as drawn and twelve variants: shifted, rotated, scaled and thickened."""
    image, single = transforms.as_batch(image28)
    if not single:
        raise ValueError(f"expected one 28x28 image, got shape {np.shape(image28)}")
    image = image[0]
    return [
        Variant("as drawn", image),
        Variant("3 px right", transforms.shift(image, 0, 3)), Variant("3 px left", transforms.shift(image, 0, -3)),
        Variant("3 px down", transforms.shift(image, 3, 0)), Variant("3 px up", transforms.shift(image, -3, 0)),
        Variant("turned 15° left", transforms.rotate(image, 15)), Variant("turned 15° right", transforms.rotate(image, -15)),
        Variant("turned 30° left", transforms.rotate(image, 30)), Variant("turned 30° right", transforms.rotate(image, -30)),
        Variant("70% size", transforms.scale(image, 0.7)), Variant("130% size", transforms.scale(image, 1.3)),
        Variant("thicker", transforms.thicken(image, 1)), Variant("much thicker", transforms.thicken(image, 2)),
    ]


def strip_answers(probabilities: Probabilities, variants: list[Variant]) -> list[VariantAnswer]:
    """Run every variant through the model in one batch; the first variant is the reference."""
    table = probabilities(np.stack([variant.image for variant in variants]))
    reference = int(np.argmax(table[0]))
    return [VariantAnswer(variant.name, variant.image, int(np.argmax(row)), float(row.max()), float(row[reference]))
            for variant, row in zip(variants, table)]
