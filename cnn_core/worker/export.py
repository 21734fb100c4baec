"""What the training worker writes so that anything else can serve a model without TensorFlow.

A model folder (a run folder, or ``models/<name>/`` for a shipped model) holds:

    model.keras    the Keras model, for downloads and for training it further
    weights.npz    every layer's weights as float32 NumPy arrays ("conv1/kernel", "hidden/bias"...)
    model.tflite   a LiteRT model with two signatures:
                   "features": image (n, 28, 28, 1) -> logits, hidden, conv<k>, relu<k>, pool<k>
                   "classify": image (n, 28, 28, 1), mask<k> (channels,) -> logits, hidden

Both signatures run ``network.forward``, the model's own layers, on a float32 copy of the model,
whatever precision it trained in. ``mask<k>`` multiplies conv block k's ReLU output channel by
channel: 0 switches a filter off, 1 keeps it. ``cnn_core.server.serving.ServedModel`` reads the result.

    python -m cnn_core.worker.export models/seed-mnist   # rewrite a folder's LiteRT files from its model.keras
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from cnn_core.worker.network import conv_layers, forward

WEIGHT_LAYERS = ("hidden", "logits")


def model_weights(model) -> dict[str, np.ndarray]:
    """The Keras model's weights by name, as float32: conv<k>/kernel (h, w, in, out), conv<k>/bias..."""
    names = [f"conv{block}" for block in range(1, len(conv_layers(model)) + 1)]
    weights = {}
    for name in [*names, *WEIGHT_LAYERS]:
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}/kernel"] = np.asarray(kernel, np.float32)
        weights[f"{name}/bias"] = np.asarray(bias, np.float32)
    return weights


def serving_functions(model):
    """The "features" and "classify" tf.functions over the model's layers."""
    import tensorflow as tf

    image_spec = tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image")
    mask_specs = [tf.TensorSpec((layer.filters,), tf.float32, name=f"mask{block}")
                  for block, layer in enumerate(conv_layers(model), start=1)]

    @tf.function(input_signature=[image_spec])
    def features(image):
        return forward(model, image)

    @tf.function(input_signature=[image_spec, *mask_specs])
    def classify(image, *masks):
        outputs = forward(model, image, list(masks))
        return {"logits": outputs["logits"], "hidden": outputs["hidden"]}

    return features, classify


def litert_bytes(model) -> bytes:
    """The two-signature LiteRT flatbuffer for a float32 Keras model (no quantisation).

    Converted from the concrete functions directly: a SavedModel written to disk and read back
    (the converter's other way in) gives the same flatbuffer, slower (``benchmarks/job_breakdown.py``
    times the export)."""
    import tensorflow as tf

    features, classify = serving_functions(model)
    module = tf.Module()
    module.weights = [weight.value for weight in model.weights]  # the variables the functions read
    functions = [features.get_concrete_function(), classify.get_concrete_function()]
    return tf.lite.TFLiteConverter.from_concrete_functions(functions, module).convert()


def weights_bytes(weights: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()


def export_serving(model, folder: Path, write) -> dict[str, np.ndarray]:
    """Write weights.npz and model.tflite into ``folder`` with ``write(path, bytes)``; returns the weights."""
    weights = model_weights(model)
    write(Path(folder) / "weights.npz", weights_bytes(weights))
    write(Path(folder) / "model.tflite", litert_bytes(model))
    return weights


def served_from_keras(model, class_names: tuple[str, ...] | None = None):
    """A Keras model behind LiteRT, without a folder: the ServedModel the server would make of its export."""
    from cnn_core.server.serving import ServedModel

    return ServedModel.from_bytes(litert_bytes(model), model_weights(model), class_names)


def export_folder(folder: Path) -> None:
    """(Re)write a model folder's serving files from its model.keras."""
    from cnn_core.common.runs import atomic_write_bytes
    from cnn_core.worker.saving import load_model_file

    folder = Path(folder)
    export_serving(load_model_file(folder / "model.keras"), folder, atomic_write_bytes)


def main(argv: list[str]) -> int:
    from cnn_core.common.runs import RunError

    for name in argv or ["models/seed-mnist"]:
        try:
            export_folder(Path(name))
        except (RunError, OSError) as error:
            print(f"error: {name}: {error}", file=sys.stderr)
            return 2
        print(f"exported {name}: weights.npz, model.tflite")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
