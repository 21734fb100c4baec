"""Models to use and fast single-image prediction.

A model is named by a key: ``"default"`` for the model this project ships in ``models/``, or a
run id from ``runs/``. ``Predictor`` wraps a loaded Keras model in a compiled forward pass, so one
image costs about a millisecond instead of ``model.predict``'s set-up.

    predictor = Predictor(load_model("default"))
    predictor.predict(image28)   # -> Prediction(label=7, probabilities=array([...]), ...)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_core.data import DATASETS
from cnn_core.runs import RunError, RunStore, load_model_file

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS_DIR / "seed-mnist.keras"
DEFAULT_METADATA = MODELS_DIR / "seed-mnist.json"
DEFAULT_KEY = "default"


@dataclass(frozen=True)
class ModelChoice:
    """A model a user can pick: its key, a label for menus, the dataset it was trained on."""

    key: str
    label: str
    dataset: str = "mnist"

    @property
    def class_names(self) -> tuple[str, ...]:
        return DATASETS.get(self.dataset, DATASETS["mnist"])


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image."""

    label: int
    probabilities: np.ndarray = field(repr=False)  # (10,) float, sums to 1
    class_names: tuple[str, ...] = DATASETS["mnist"]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.label])

    @property
    def class_name(self) -> str:
        return self.class_names[self.label]


def default_metadata() -> dict:
    """The shipped model's metadata (config, accuracy, the command that made it), or {}."""
    try:
        return json.loads(DEFAULT_METADATA.read_text())
    except (OSError, ValueError):
        return {}


def model_choices(store: RunStore | None = None) -> list[ModelChoice]:
    """The shipped model (if present) and every saved run that has a model, newest first."""
    choices = []
    if DEFAULT_MODEL.is_file():
        accuracy = default_metadata().get("test_accuracy")
        suffix = f", {accuracy:.2%} test accuracy" if accuracy else ""
        choices.append(ModelChoice(DEFAULT_KEY, f"Shipped seed CNN (MNIST{suffix})"))
    runs, _ = (store or RunStore()).list_runs()
    for run in runs:
        if run.has_model and run.status in ("completed", "stopped"):
            dataset = run.config.get("train", {}).get("dataset", "mnist")
            accuracy = run.metrics.get("test_accuracy")
            score = f", {accuracy:.2%}" if accuracy is not None else ""
            choices.append(ModelChoice(run.run_id, f"Run {run.run_id} ({dataset}{score}, {run.status})", dataset))
    return choices


def load_model(key: str = DEFAULT_KEY, store: RunStore | None = None):
    """Load the shipped model or a run's model (safe mode on); RunError when it cannot."""
    if key == DEFAULT_KEY:
        if not DEFAULT_MODEL.is_file():
            raise RunError(f"the shipped model {DEFAULT_MODEL} is missing; train one with "
                           "`python -m cnn_core train --preset fast` and pick its run")
        return load_model_file(DEFAULT_MODEL)
    return (store or RunStore()).load_model(key)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


class Predictor:
    """A model behind a compiled forward pass for one image or a few."""

    def __init__(self, model, class_names: tuple[str, ...] = DATASETS["mnist"]):
        import tensorflow as tf

        self.model, self.class_names = model, class_names
        spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        self._forward = tf.function(lambda images: model(images, training=False), input_signature=[spec])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for images shaped (n, 28, 28) or (28, 28), floats in [0, 1]."""
        images = np.asarray(images, np.float32)
        if images.shape == (28, 28):
            images = images[None]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"expected 28x28 grayscale images, got shape {images.shape}")
        return softmax(self._forward(images[..., None]).numpy())

    def predict(self, image: np.ndarray) -> Prediction:
        """The most likely class of one 28x28 image (floats in [0, 1], ink bright)."""
        probabilities = self.probabilities(image)[0]
        return Prediction(int(probabilities.argmax()), probabilities, self.class_names)
