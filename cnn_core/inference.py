"""Which models there are to use, and what a prediction is. Never imports TensorFlow at import time.

A model is named by a key: ``"default"`` for the seed CNN this project ships in ``models/seed-mnist/``,
the name of another folder under ``models/`` (``"mlp-mnist"``), or a run id from ``runs/``. Each is a
*model folder* holding what the training worker exports (see ``cnn_core.export``): ``model.keras``
for downloads and the command line, ``model.tflite`` and ``weights.npz`` for the web server, which
serves them through LiteRT (``cnn_core.serving``). A shipped folder also holds ``meta.json``: its
config, accuracy and the command that made it.

``Predictor`` is the TensorFlow forward pass of a Keras model, kept for the command line and as the
reference the LiteRT model is tested against.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_core.data import DATASETS, display_name
from cnn_core.runs import RunError, RunStore, load_model_file

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_KEY = "default"
DEFAULT_FOLDER = MODELS_DIR / "seed-mnist"
DEFAULT_MODEL = DEFAULT_FOLDER / "model.keras"
DEFAULT_METADATA = DEFAULT_FOLDER / "meta.json"


@dataclass(frozen=True)
class ModelChoice:
    """A model a user can pick: its key, a label for menus, the dataset it was trained on, its folder."""

    key: str
    label: str
    dataset: str = "mnist"
    folder: Path | None = None
    architecture: str = "cnn"

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


def read_metadata(folder: Path) -> dict:
    """A shipped model folder's meta.json, or {} when it is missing or broken."""
    try:
        value = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def default_metadata() -> dict:
    """The shipped seed CNN's metadata (config, accuracy, the command that made it), or {}."""
    return read_metadata(DEFAULT_FOLDER)


def describe_network(model: dict) -> str:
    """'seed CNN' / 'CNN 32-64-64' / 'MLP 784-420-10' from a model config dict."""
    if model.get("architecture") == "mlp":
        return f"MLP 784-{model.get('hidden_units', '?')}-10"
    channels = model.get("conv_channels") or []
    if list(channels) == [32, 64] and model.get("kernel_size", 3) == 3 and model.get("hidden_units", 100) == 100:
        return "seed CNN"
    return "CNN " + "-".join(str(c) for c in channels)


def shipped_choices() -> list[ModelChoice]:
    """Every servable folder under models/, the seed CNN first."""
    choices = []
    folders = sorted(MODELS_DIR.glob("*/meta.json"), key=lambda path: path.parent != DEFAULT_FOLDER)
    for meta_path in folders:
        folder = meta_path.parent
        if not all((folder / name).is_file() for name in ("model.tflite", "weights.npz")):
            continue
        meta = read_metadata(folder)
        model, dataset = meta.get("model", {}), meta.get("dataset", "mnist")
        accuracy = meta.get("test_accuracy")
        score = f", {accuracy:.2%}" if isinstance(accuracy, (int, float)) else ""
        key = DEFAULT_KEY if folder == DEFAULT_FOLDER else folder.name
        choices.append(ModelChoice(key, f"Shipped {describe_network(model)} ({display_name(dataset)}{score})", dataset, folder,
                                   model.get("architecture", "cnn")))
    return choices


def run_choice(run) -> ModelChoice:
    """A saved run as a menu entry: 'seed CNN · mnist · 98.9% · run 20261129-…'."""
    dataset = run.train.get("dataset", "mnist")
    accuracy = run.metrics.get("test_accuracy")
    score = f" · {accuracy:.1%}" if accuracy is not None else ""
    stopped = " · stopped early" if run.status == "stopped" else ""
    return ModelChoice(run.run_id, f"{describe_network(run.config['model'])} · {display_name(dataset)}{score}{stopped} · run {run.run_id}",
                       dataset, run.path, run.config["model"].get("architecture", "cnn"))


def model_choices(store: RunStore | None = None) -> list[ModelChoice]:
    """The shipped models and every saved run the server can serve, newest first."""
    runs, _ = (store or RunStore()).list_runs()
    return shipped_choices() + [run_choice(run) for run in runs
                                if run.servable and run.status in ("completed", "stopped")]


def model_folder(key: str = DEFAULT_KEY, store: RunStore | None = None) -> Path:
    """The folder of the shipped model or saved run named ``key``; RunError when there is none."""
    if key == DEFAULT_KEY:
        if not DEFAULT_MODEL.is_file():
            raise RunError(f"the shipped model {DEFAULT_MODEL} is missing; train one with "
                           "`python -m cnn_core train --preset fast` and pick its run")
        return DEFAULT_FOLDER
    shipped = MODELS_DIR / key
    if key.replace("-", "").isalnum() and (shipped / "meta.json").is_file() and not shipped.is_symlink():
        return shipped
    store = store or RunStore()
    store.read(key)  # RunError for a missing, broken or symlinked run.
    return store.path(key)


def load_model(key: str = DEFAULT_KEY, store: RunStore | None = None):
    """Load the Keras model of the shipped model or a run (safe mode on); RunError when it cannot."""
    return load_model_file(model_folder(key, store) / "model.keras")


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
