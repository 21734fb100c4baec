"""What the training worker writes so that the web server can serve a model without TensorFlow.

A model folder (a run folder, or ``models/<name>/`` for a shipped model) holds:

    model.keras    the Keras model, for downloads and the command line
    weights.npz    every layer's weights as float32 NumPy arrays ("conv1/kernel", "hidden/bias"...)
    model.tflite   a LiteRT model with two signatures:
                   "features": image (n, 28, 28, 1) -> logits, hidden, conv<k>, relu<k>, pool<k>
                   "classify": image (n, 28, 28, 1), mask<k> (channels,) -> logits, hidden

Both signatures are written from the weights with plain ``tf.nn`` ops, so the LiteRT graph is the
seed network spelled out (the same as ``model.LowLevelCNN``) and does not depend on the precision
the model was trained in. ``mask<k>`` multiplies conv block k's ReLU output channel by channel: 0
switches a filter off, 1 keeps it. "conv<k>" is the linear response (kernel product plus bias),
before the ReLU. Run with TensorFlow, in the worker; ``cnn_core.serving`` reads the result.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np

from cnn_core.model import ModelConfig

WEIGHT_LAYERS = ("hidden", "logits")


def model_weights(model, config: ModelConfig) -> dict[str, np.ndarray]:
    """The Keras model's weights by name, as float32: conv<k>/kernel (h, w, in, out), conv<k>/bias..."""
    names = [f"conv{block}" for block in range(1, len(config.conv_channels) + 1)] if config.architecture == "cnn" else []
    weights = {}
    for name in [*names, *WEIGHT_LAYERS]:
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}/kernel"] = np.asarray(kernel, np.float32)
        weights[f"{name}/bias"] = np.asarray(bias, np.float32)
    return weights


def conv_block_count(weights: dict[str, np.ndarray]) -> int:
    return sum(1 for name in weights if name.startswith("conv") and name.endswith("/kernel"))


def serving_functions(weights: dict[str, np.ndarray], pool_size: int):
    """The "features" and "classify" tf.functions, with the weights baked in as constants."""
    import tensorflow as tf

    blocks = conv_block_count(weights)
    constant = {name: tf.constant(value) for name, value in weights.items()}
    pool = [1, pool_size, pool_size, 1]

    def forward(image, masks):  # image: (n, 28, 28, 1)
        stages, features = {}, image
        for block in range(1, blocks + 1):
            linear = tf.nn.conv2d(features, constant[f"conv{block}/kernel"], strides=1, padding="SAME")
            linear = linear + constant[f"conv{block}/bias"]
            active = tf.nn.relu(linear)
            if masks is not None:
                active = active * masks[block - 1]
            features = tf.nn.max_pool(active, ksize=pool, strides=pool, padding="VALID")
            stages.update({f"conv{block}": linear, f"relu{block}": active, f"pool{block}": features})
        flat = tf.reshape(features, [tf.shape(features)[0], -1])  # (n, side * side * channels)
        hidden = tf.nn.relu(tf.matmul(flat, constant["hidden/kernel"]) + constant["hidden/bias"])
        logits = tf.matmul(hidden, constant["logits/kernel"]) + constant["logits/bias"]
        return {"logits": logits, "hidden": hidden, **stages}

    image_spec = tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image")
    mask_specs = [tf.TensorSpec((weights[f"conv{block}/kernel"].shape[-1],), tf.float32, name=f"mask{block}")
                  for block in range(1, blocks + 1)]

    @tf.function(input_signature=[image_spec])
    def features(image):
        return forward(image, None)

    @tf.function(input_signature=[image_spec, *mask_specs])
    def classify(image, *masks):
        outputs = forward(image, list(masks))
        return {"logits": outputs["logits"], "hidden": outputs["hidden"]}

    return features, classify


def litert_bytes(weights: dict[str, np.ndarray], pool_size: int = 2) -> bytes:
    """The two-signature LiteRT flatbuffer for these weights (float32, no quantisation)."""
    import tensorflow as tf

    features, classify = serving_functions(weights, pool_size)
    module = tf.Module()
    module.features, module.classify = features, classify
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(module, folder, signatures={"features": features, "classify": classify})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["features", "classify"])
        return converter.convert()


def weights_bytes(weights: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()


def export_serving(model, config: ModelConfig, folder: Path, write) -> dict[str, np.ndarray]:
    """Write weights.npz and model.tflite into ``folder`` with ``write(path, bytes)``; returns the weights."""
    weights = model_weights(model, config)
    write(Path(folder) / "weights.npz", weights_bytes(weights))
    write(Path(folder) / "model.tflite", litert_bytes(weights, config.pool_size))
    return weights


def export_folder(folder: Path) -> None:
    """(Re)write a model folder's serving files from its model.keras and its config (meta.json or config.json)."""
    import json

    from cnn_core.runs import atomic_write_bytes, load_model_file

    folder = Path(folder)
    meta_path = folder / "meta.json" if (folder / "meta.json").is_file() else folder / "config.json"
    config = ModelConfig.from_dict(json.loads(meta_path.read_text())["model"])
    export_serving(load_model_file(folder / "model.keras"), config, folder, atomic_write_bytes)


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or ["models/seed-mnist"]:
        export_folder(Path(name))
        print(f"exported {name}: weights.npz, model.tflite")
