"""A TensorFlow stand-in with the served model's methods, for the worker, the CLI and the tests.

The web server serves models through LiteRT (``cnn_core.serving``); the worker and the command line
have TensorFlow anyway. ``KerasServed`` gives a Keras model the same interface, computed from its
weights by the exported "classify" function (``cnn_core.export``), so that conv filters can be
switched off:

    served = KerasServed(load_model_file("models/seed-mnist.keras"))
    served.probabilities(images, masks={1: mask32, 2: mask64})   # (n, 10)
    served.embeddings(images)                                   # (n, hidden) penultimate ReLU

Never import this from a page: it loads TensorFlow.
"""
from __future__ import annotations

import numpy as np

from cnn_core.data import DATASETS
from cnn_core.experiments.transforms import as_batch
from cnn_core.inference import Prediction, softmax

BATCH = 1000  # images per forward pass: conv1 alone holds batch x 28 x 28 x 32 floats


class KerasServed:
    """The served-model interface (probabilities, embeddings, predict, weights) over a Keras model."""

    def __init__(self, model, class_names: tuple[str, ...] = DATASETS["mnist"], dataset: str = "mnist"):
        from cnn_core.export import serving_functions

        self.class_names, self.dataset = class_names, dataset
        names = [layer.name for layer in model.layers if layer.get_weights()]
        self.weights = {}
        for name in names:
            kernel, bias = model.get_layer(name).get_weights()
            self.weights[f"{name}/kernel"] = np.asarray(kernel, np.float32)
            self.weights[f"{name}/bias"] = np.asarray(bias, np.float32)
        self.blocks = sum(1 for name in names if name.startswith("conv"))
        self.architecture = "cnn" if self.blocks else "mlp"
        self.kernels = [self.weights[f"conv{block}/kernel"] for block in range(1, self.blocks + 1)]
        self.channels = [kernel.shape[-1] for kernel in self.kernels]  # filters per block, as ServedModel
        pool = model.get_layer("pool1").pool_size[0] if self.blocks else 1
        # The exported "classify" signature's own forward pass (a 0 in a mask switches a filter off).
        _, self._classify = serving_functions(self.weights, pool)

    def _run(self, images, masks) -> tuple[np.ndarray, np.ndarray]:
        batch, _ = as_batch(images)
        masks = masks or {}
        mask_arrays = [np.asarray(masks.get(block, np.ones(count)), np.float32) for block, count in enumerate(self.channels, start=1)]
        logits, hidden = [], []
        for start in range(0, max(len(batch), 1), BATCH):
            outputs = self._classify(batch[start:start + BATCH, ..., None], *mask_arrays)
            logits.append(outputs["logits"].numpy())
            hidden.append(outputs["hidden"].numpy())
        return np.concatenate(logits), np.concatenate(hidden)

    def probabilities(self, images, masks: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """(n, 10) class probabilities; ``masks`` {block: (channels,) of 0/1} switches filters off."""
        return softmax(self._run(images, masks)[0]).astype(np.float32)

    def embeddings(self, images) -> np.ndarray:
        """(n, hidden) activations of the penultimate ('hidden') layer."""
        return self._run(images, None)[1]

    def predict(self, image28) -> Prediction:
        probabilities = self.probabilities(image28)[0]
        return Prediction(int(probabilities.argmax()), probabilities, self.class_names)
