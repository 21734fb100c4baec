"""Why a CNN and not a fully connected net? The two side by side, at the same parameter count.

``compare_side`` measures one model: its parameter count, accuracy on the test set, and accuracy
with the test digits shifted by 0 to 6 pixels and rotated by up to 30 degrees either way. The
seed's claim is that the convolution's prior about images (local, shared, shift-tolerant weights)
wins at equal size; these numbers test it, whichever way they come out.

    python -m cnn_core compare --json        # the shipped CNN against the shipped MLP
    python -m cnn_core compare --cnn RUN_ID --mlp models/mlp-mnist --images 2000
"""
from __future__ import annotations

from collections.abc import Callable
import numpy as np

from cnn_core.experiments.robustness import ANGLES, SHIFTS, accuracy, rotation_accuracy, shift_accuracy

DEFAULT_MLP = "mlp-mnist"  # the shipped MLP's folder under models/


def parameter_count(weights: dict[str, np.ndarray]) -> int:
    """Trainable parameters: the size of every kernel and bias."""
    return int(sum(np.asarray(value).size for value in weights.values()))


def compare_side(probabilities: Callable[[np.ndarray], np.ndarray], parameters: int, images: np.ndarray,
                 labels: np.ndarray, shifts=SHIFTS, angles=ANGLES) -> dict:
    """One model's numbers: parameters, test_accuracy, shift_accuracy {"0".."6"}, rotation_accuracy {"-30".."30"}."""
    images = np.asarray(images)
    images = images.astype(np.float32) / 255 if images.dtype == np.uint8 else images.astype(np.float32)
    return {"parameters": int(parameters), "test_accuracy": accuracy(probabilities, images, labels),
            "test_images": int(len(labels)),
            "shift_accuracy": shift_accuracy(probabilities, images, labels, shifts),
            "rotation_accuracy": rotation_accuracy(probabilities, images, labels, angles)}
