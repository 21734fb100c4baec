"""References the tests check CNN Lab against: the seed tutorial's low-level network, and every stage by tf.nn.

``LowLevelCNN`` is the seed's first form of the network: explicit weight and bias variables,
``tf.nn.conv2d``, ``tf.nn.max_pool`` and ``tf.matmul``. ``reference_stages`` recomputes a Keras
model's stages (conv linear response, ReLU, pool, hidden, logits) with plain ``tf.nn`` ops on the
model's own weights. Neither is used by the app: they are what its one forward pass
(``cnn_core.worker.network.forward``) and its LiteRT export are checked against.
"""
from __future__ import annotations

import math

import numpy as np

from cnn_core.common.config import NUM_CLASSES, ModelConfig


class LowLevelCNN:
    """The seed's first form: explicit weight and bias dicts, tf.nn.conv2d, max_pool and matmul."""

    def __init__(self, config: ModelConfig = ModelConfig(), seed: int = 0):
        import tensorflow as tf

        assert config.architecture == "cnn", "LowLevelCNN only builds CNNs"
        self.config = config
        generator = tf.random.Generator.from_seed(seed)
        normal = lambda shape: tf.Variable(generator.normal(shape, stddev=config.init_stddev))  # noqa: E731
        self.weights, self.biases = {}, {}
        in_channels = 1
        for block, channels in enumerate(config.conv_channels, start=1):
            # Kernel shape: [kernel_height, kernel_width, input_channels, output_channels].
            self.weights[f"conv{block}"] = normal([config.kernel_size, config.kernel_size, in_channels, channels])
            self.biases[f"conv{block}"] = normal([channels])
            in_channels = channels
        flat = config.feature_size() ** 2 * in_channels
        self.weights["hidden"], self.biases["hidden"] = normal([flat, config.hidden_units]), normal([config.hidden_units])
        self.weights["logits"], self.biases["logits"] = normal([config.hidden_units, NUM_CLASSES]), normal([NUM_CLASSES])

    def __call__(self, images):
        """Logits for a batch of images shaped (batch, 28, 28, 1)."""
        import tensorflow as tf

        pool = [1, self.config.pool_size, self.config.pool_size, 1]
        features = images
        for block in range(1, len(self.config.conv_channels) + 1):
            features = tf.nn.conv2d(features, self.weights[f"conv{block}"], strides=1, padding="SAME")
            features = tf.nn.relu(features + self.biases[f"conv{block}"])
            features = tf.nn.max_pool(features, ksize=pool, strides=pool, padding="VALID")
        flat = tf.reshape(features, [tf.shape(features)[0], -1])  # (batch, side*side*channels)
        hidden = tf.nn.relu(tf.matmul(flat, self.weights["hidden"]) + self.biases["hidden"])
        return tf.matmul(hidden, self.weights["logits"]) + self.biases["logits"]

    def copy_from(self, keras_model) -> "LowLevelCNN":
        """Take the weights of a Keras model built from the same config."""
        for name in self.weights:
            kernel, bias = keras_model.get_layer(name).get_weights()
            self.weights[name].assign(kernel)
            self.biases[name].assign(bias)
        return self

    def parameter_count(self) -> int:
        return sum(math.prod(v.shape) for v in [*self.weights.values(), *self.biases.values()])


def reference_stages(model, images: np.ndarray, pool_size: int = 2) -> dict[str, np.ndarray]:
    """conv<k> (linear), relu<k>, pool<k>, hidden and logits of a Keras model, recomputed with tf.nn.

    ``images`` are (n, 28, 28) floats; every stage keeps its batch axis.
    """
    import tensorflow as tf

    features, stages, block = tf.constant(np.asarray(images, np.float32)[..., None]), {}, 0
    pool = [1, pool_size, pool_size, 1]
    while any(layer.name == f"conv{block + 1}" for layer in model.layers):
        block += 1
        kernel, bias = model.get_layer(f"conv{block}").get_weights()
        stages[f"conv{block}"] = tf.nn.conv2d(features, kernel, strides=1, padding="SAME") + bias
        stages[f"relu{block}"] = tf.nn.relu(stages[f"conv{block}"])
        features = stages[f"pool{block}"] = tf.nn.max_pool(stages[f"relu{block}"], pool, pool, "VALID")
    flat = tf.reshape(features, [tf.shape(features)[0], -1])
    kernel, bias = model.get_layer("hidden").get_weights()
    stages["hidden"] = tf.nn.relu(tf.matmul(flat, kernel) + bias)
    kernel, bias = model.get_layer("logits").get_weights()
    stages["logits"] = tf.matmul(stages["hidden"], kernel) + bias
    return {name: value.numpy() for name, value in stages.items()}
