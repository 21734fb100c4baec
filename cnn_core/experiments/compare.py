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
from pathlib import Path

import numpy as np

from cnn_core.experiments.robustness import ANGLES, SHIFTS, accuracy, rotation_accuracy, shift_accuracy

DEFAULT_MLP = "mlp-mnist"  # the shipped MLP's folder under models/
COMPARE_FILE = "compare.json"  # where the worker may store compare_side's result for a model


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


def resolve_model(spec: str | None, default: str) -> tuple[str, Path]:
    """A model folder (or .keras file) for ``spec``: a path, a shipped model's name, or a run id."""
    from cnn_core.inference import MODELS_DIR
    from cnn_core.runs import RunStore

    spec = spec or default
    path = Path(spec)
    if path.exists():
        return spec, path
    if (MODELS_DIR / spec).is_dir():
        return spec, MODELS_DIR / spec
    if spec == "default":
        from cnn_core.inference import DEFAULT_FOLDER
        return spec, DEFAULT_FOLDER
    return spec, RunStore().path(spec)  # RunError for a name that is not a safe run id


def load_keras(path: Path):
    """The Keras model in a model folder, or a .keras file; RunError when there is none."""
    from cnn_core.runs import RunError, load_model_file

    file = path / "model.keras" if path.is_dir() else path
    if not file.is_file():
        raise RunError(f"{path}: no model.keras there (expected a model folder, a run id or a .keras file)")
    return load_model_file(file)


def command_compare(args) -> dict:
    """``python -m cnn_core compare``: {"cnn": {...}, "mlp": {...}} on the test set (TensorFlow, not LiteRT)."""
    from cnn_core.data import load_dataset
    from cnn_core.experiments.keras_served import KerasServed

    dataset = load_dataset("mnist")
    count = args.images or len(dataset.test_labels)
    if not 100 <= count <= len(dataset.test_labels):
        raise ValueError(f"--images must be from 100 to {len(dataset.test_labels)}, got {count}")
    images, labels = dataset.test_images[:count], dataset.test_labels[:count]
    result = {}
    for side, spec, default in (("cnn", args.cnn, "default"), ("mlp", args.mlp, DEFAULT_MLP)):
        name, path = resolve_model(spec, default)
        served = KerasServed(load_keras(path))
        result[side] = {"model": name, **compare_side(served.probabilities, parameter_count(served.weights), images, labels)}
    return result
