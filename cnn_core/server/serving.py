"""Serve a trained model without TensorFlow: LiteRT for the forward pass, NumPy for the weights.

The web server never imports TensorFlow or Keras. It reads what the training worker exported
(``cnn_core.worker.export``): ``model.tflite`` and ``weights.npz`` in a model folder. The command
line and the experiments serve models the same way, so there is one served-model class.

    served = ServedModel(Path("models/seed-mnist"))
    served.predict(image28)                   # Prediction(label=7, probabilities=(10,), ...)
    served.probabilities(images, masks={1: mask})  # (n, 10); mask (32,) of 0/1 switches conv1 filters off
    served.embeddings(images)                 # (n, 100): the penultimate layer's activations
    served.feature_maps(image28)              # {"conv1": (28, 28, 32), "relu1": ..., "pool2": (7, 7, 64)}
    served.kernels[0].shape                   # (3, 3, 1, 32): conv1's kernels

Files are read only when they are regular files of the folder (no symbolic link) and size-checked
before they are read, so a hostile run folder can neither serve another file nor balloon the
server's memory. One interpreter per model, used under a lock: Streamlit serves each visitor from
its own thread, and a LiteRT interpreter is not thread-safe.
"""
from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_core.common.data import DATASETS
from cnn_core.common.runs import RunError, read_regular
from cnn_core.common.scoring import softmax
from cnn_core.experiments.transforms import as_batch

MAX_MODEL_BYTES = 64 * 2**20      # model.tflite: the 3-block CNN at 256 channels is ~20 MB
MAX_WEIGHTS_BYTES = 64 * 2**20    # weights.npz, and the sum of its arrays once unpacked
BATCH = 256                       # images per LiteRT call when scoring many at once


class ServingError(ValueError):
    """A model folder cannot be served: a file is missing, too large or broken."""


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


def read_model_file(path: Path, limit: int) -> bytes:
    """A file of the model folder: a regular file, not a link, at most ``limit`` bytes (ServingError otherwise)."""
    try:
        return read_regular(path, limit)
    except RunError as error:
        raise ServingError(str(error)) from None


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """weights.npz as float32 arrays; the file is read under ``runs.open_regular``'s rules and the sizes
    of its arrays checked before anything is unpacked (the arrays' shapes are checked against
    model.tflite once both are loaded)."""
    data = read_model_file(path, MAX_WEIGHTS_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
            if unpacked > MAX_WEIGHTS_BYTES:
                raise ServingError(f"{path.name} unpacks to {unpacked / 2**20:.0f} MB, over the limit")
        # zipfile stops each member at the size it declares (and checks its CRC), so the sizes
        # summed above bound what unpacking can cost even when they lie.
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            weights = {name: np.asarray(archive[name], np.float32) for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        if isinstance(error, ServingError):
            raise
        raise ServingError(f"{path.name} is not a readable weights file ({type(error).__name__})") from None
    if "logits/kernel" not in weights or "hidden/kernel" not in weights:
        raise ServingError(f"{path.name} lacks the hidden and logits layers")
    return weights


class ServedModel:
    """A model folder behind LiteRT: predictions, embeddings, feature maps, kernels."""

    def __init__(self, folder: Path | str, class_names: tuple[str, ...] | None = None, threads: int = 1):
        folder = Path(folder)
        weights = read_weights(folder / "weights.npz")
        self._load(read_model_file(folder / "model.tflite", MAX_MODEL_BYTES), weights, class_names, threads)
        self.folder = folder

    @classmethod
    def from_bytes(cls, model_bytes: bytes, weights: dict[str, np.ndarray],
                   class_names: tuple[str, ...] | None = None) -> "ServedModel":
        """A model held in memory (``cnn_core.worker.export.served_from_keras`` makes one from a Keras model)."""
        served = cls.__new__(cls)
        served._load(model_bytes, {name: np.asarray(value, np.float32) for name, value in weights.items()}, class_names)
        served.folder = None
        return served

    def _load(self, model_bytes: bytes, weights: dict[str, np.ndarray], class_names, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.class_names = tuple(class_names or DATASETS["mnist"])
        self.weights = weights
        try:
            # One thread in the web server: visitors are served side by side, each by its own thread.
            self._interpreter = Interpreter(model_content=model_bytes, num_threads=threads)
            self._features = self._interpreter.get_signature_runner("features")
            self._classify = self._interpreter.get_signature_runner("classify")
        except (ValueError, RuntimeError) as error:
            raise ServingError(f"model.tflite cannot be loaded ({str(error).splitlines()[0][:200]})") from None
        self._lock = threading.Lock()
        blocks = sum(1 for name in self.weights if name.startswith("conv") and name.endswith("/kernel"))
        # (kernel_height, kernel_width, in_channels, out_channels) per conv block, conv1 first.
        self.kernels = [self.weights[f"conv{block}/kernel"] for block in range(1, blocks + 1)]
        self.biases = [self.weights[f"conv{block}/bias"] for block in range(1, blocks + 1)]
        self.architecture = "cnn" if blocks else "mlp"
        self.stage_names = [f"{stage}{block}" for block in range(1, blocks + 1) for stage in ("conv", "relu", "pool")]
        self._all_on = {f"mask{block}": np.ones(kernel.shape[-1], np.float32)
                        for block, kernel in enumerate(self.kernels, start=1)}
        self._check_pair()

    def _check_pair(self) -> None:
        """ServingError unless model.tflite and weights.npz describe the same network."""
        masks = {name: list(detail["shape"]) for name, detail in self._classify.get_input_details().items()
                 if name != "image"}
        outputs = self._features.get_output_details()
        if (masks != {name: [mask.size] for name, mask in self._all_on.items()}
                or not {"logits", "hidden", *self.stage_names} <= set(outputs)
                or outputs["hidden"]["shape"][-1] != self.weights["hidden/kernel"].shape[1]):
            raise ServingError("model.tflite and weights.npz come from different networks; export the folder again")

    @property
    def channels(self) -> list[int]:
        """Filters per conv block: [32, 64] for the seed CNN, [] for an MLP."""
        return [kernel.shape[-1] for kernel in self.kernels]

    def _run_classify(self, batch: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            outputs = self._classify(image=batch, **masks)
            return {name: np.array(value) for name, value in outputs.items()}  # copies: the arena is reused

    def _outputs(self, images, masks: dict[int, np.ndarray] | None) -> dict[str, np.ndarray]:
        """logits and hidden for (n, 28, 28) images, BATCH at a time."""
        images = as_batch(images)[0]
        feeds = dict(self._all_on)
        for block, mask in (masks or {}).items():
            name = f"mask{block}"
            if name not in feeds or np.shape(mask) != feeds[name].shape:
                raise ValueError(f"a mask for conv{block} needs {feeds.get(name, np.empty(0)).size} values, "
                                 f"got shape {np.shape(mask)}")
            feeds[name] = np.asarray(mask, np.float32)
        parts = [self._run_classify(images[start:start + BATCH, :, :, None], feeds)
                 for start in range(0, len(images), BATCH)]
        return {name: np.concatenate([part[name] for part in parts]) for name in ("logits", "hidden")}

    def logits(self, images, masks: dict[int, np.ndarray] | None = None) -> np.ndarray:
        return self._outputs(images, masks)["logits"]

    def probabilities(self, images, masks: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """(n, 10) class probabilities for (n, 28, 28) or one (28, 28) image, floats in [0, 1]."""
        return softmax(self.logits(images, masks))

    def embeddings(self, images) -> np.ndarray:
        """(n, hidden) activations of the penultimate (dense ReLU) layer."""
        return self._outputs(images, None)["hidden"]

    def predict(self, image) -> Prediction:
        """The most likely class of one 28x28 image (floats in [0, 1], ink bright)."""
        probabilities = self.probabilities(image)[0]
        return Prediction(int(probabilities.argmax()), probabilities, self.class_names)

    def feature_maps(self, image) -> dict[str, np.ndarray]:
        """Stage name -> (height, width, channels) float32, in network order, for one image."""
        batch = as_batch(image)[0]
        if len(batch) != 1:
            raise ValueError(f"feature_maps takes one 28x28 image, got {len(batch)}")
        with self._lock:
            outputs = self._features(image=batch[:, :, :, None])
            return {name: np.array(outputs[name][0]) for name in self.stage_names}

    def first_layer_kernels(self) -> np.ndarray:
        """conv1's kernels as a (kernel_height, kernel_width, count) stack (one input channel)."""
        return self.kernels[0][:, :, 0, :]

    def describe(self) -> str:
        """One line per block, e.g. 'conv1: 32 kernels of 3x3 on 1 channel'."""
        lines = []
        for number, kernel in enumerate(self.kernels, start=1):
            height, width, inputs, outputs = kernel.shape
            lines.append(f"conv{number}: {outputs} kernels of {height}x{width} on {inputs} "
                         f"channel{'s' if inputs > 1 else ''}")
        return "; ".join(lines)

