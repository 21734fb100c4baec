"""The seed tutorial's CNN, written twice (Keras layers and low-level tf.nn), and its MLP rival.

The default ``ModelConfig`` is the seed network:

    (batch, 28, 28, 1) -> conv 3x3x32 SAME ReLU -> max-pool 2x2 -> conv 3x3x64 SAME ReLU
    -> max-pool 2x2 -> flatten 7*7*64 -> dense 100 ReLU -> dense 10 logits

with every weight and bias drawn from N(0, 0.1). ``LowLevelCNN`` is the same network spelled out
with explicit variables, ``tf.nn.conv2d`` and ``tf.nn.max_pool``; ``matched_mlp`` sizes a fully
connected network to the same parameter count, for the seed's claim that the ConvNet's prior about
images makes it win at equal size.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 28
NUM_CLASSES = 10
LIMITS = {  # field: (smallest, largest) accepted value
    "conv_blocks": (1, 3), "kernel_size": (1, 7), "channels": (1, 256),
    "pool_size": (1, 4), "hidden_units": (1, 1024), "mlp_hidden_units": (1, 8192),
}


@dataclass(frozen=True)
class ModelConfig:
    """What network to build; defaults are the seed tutorial's."""

    architecture: str = "cnn"            # "cnn", or "mlp" (flatten -> hidden -> logits)
    conv_channels: tuple[int, ...] = (32, 64)  # one conv block (conv, ReLU, max-pool) per entry
    kernel_size: int = 3                 # square kernels, SAME padding, stride 1
    pool_size: int = 2                   # square max-pool windows, stride = size, VALID
    hidden_units: int = 100              # the dense ReLU layer before the logits
    init_stddev: float = 0.1             # weights and biases ~ N(0, init_stddev), as in the seed

    def __post_init__(self):
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        validate_model_config(self)

    def feature_size(self) -> int:
        """Side length of the feature maps after the last pool."""
        side = IMAGE_SIZE
        for _ in self.conv_channels:
            side //= self.pool_size
        return side

    def parameter_count(self) -> int:
        """Trainable parameters, computed from the config without building anything."""
        if self.architecture == "mlp":
            return (IMAGE_SIZE * IMAGE_SIZE + 1) * self.hidden_units + (self.hidden_units + 1) * NUM_CLASSES
        count, in_channels = 0, 1
        for channels in self.conv_channels:
            count += (self.kernel_size ** 2 * in_channels + 1) * channels
            in_channels = channels
        flat = self.feature_size() ** 2 * in_channels
        return count + (flat + 1) * self.hidden_units + (self.hidden_units + 1) * NUM_CLASSES

    def describe(self) -> str:
        """A one-line summary for tables."""
        if self.architecture == "mlp":
            return f"MLP 784-{self.hidden_units}-10 ({self.parameter_count():,} params)"
        convs = "-".join(str(c) for c in self.conv_channels)
        return (f"CNN conv{self.kernel_size}x{self.kernel_size} {convs}, dense {self.hidden_units} "
                f"({self.parameter_count():,} params)")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "conv_channels": list(self.conv_channels)}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def check_range(name: str, value, limits_key: str | None = None) -> None:
    """Raise ValueError unless ``value`` is an integer inside LIMITS."""
    low, high = LIMITS[limits_key or name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def validate_model_config(config: ModelConfig) -> None:
    """The one place a ModelConfig is checked; raises ValueError saying what is wrong."""
    if config.architecture not in ("cnn", "mlp"):
        raise ValueError(f"architecture must be 'cnn' or 'mlp', got {config.architecture!r}")
    if not (isinstance(config.init_stddev, (int, float)) and 0 < config.init_stddev <= 1):
        raise ValueError(f"init_stddev must be in (0, 1], got {config.init_stddev!r}")
    if config.architecture == "mlp":
        check_range("hidden_units", config.hidden_units, "mlp_hidden_units")
        return
    check_range("conv_blocks", len(config.conv_channels))
    for channels in config.conv_channels:
        check_range("channels", channels)
    check_range("kernel_size", config.kernel_size)
    check_range("pool_size", config.pool_size)
    check_range("hidden_units", config.hidden_units)
    if config.feature_size() < 1:
        raise ValueError(f"{len(config.conv_channels)} blocks of {config.pool_size}x{config.pool_size} "
                         f"pooling shrink the 28x28 image to nothing; use fewer blocks or smaller pools")


def matched_mlp(cnn: ModelConfig) -> ModelConfig:
    """A fully connected net with (as nearly as possible) the CNN's parameter count."""
    per_hidden_unit = IMAGE_SIZE * IMAGE_SIZE + 1 + NUM_CLASSES
    hidden = max(1, round((cnn.parameter_count() - NUM_CLASSES) / per_hidden_unit))
    return ModelConfig(architecture="mlp", hidden_units=hidden, init_stddev=cnn.init_stddev)


def build_model(config: ModelConfig = ModelConfig(), seed: int | None = 0):
    """The Keras 3 model for ``config``: input (batch, 28, 28, 1) floats in [0, 1], output float32 logits.

    Layers take Keras' current dtype policy (see ``training.precision_policy``), except the logits.
    """
    import keras

    def init(index: int):
        return keras.initializers.RandomNormal(stddev=config.init_stddev,
                                               seed=None if seed is None else seed + index)

    layers = [keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="image")]
    if config.architecture == "cnn":
        for block, channels in enumerate(config.conv_channels, start=1):
            layers += [
                keras.layers.Conv2D(channels, config.kernel_size, padding="same", activation="relu",
                                    kernel_initializer=init(2 * block), bias_initializer=init(2 * block + 1),
                                    name=f"conv{block}"),
                keras.layers.MaxPooling2D(config.pool_size, name=f"pool{block}"),
            ]
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(config.hidden_units, activation="relu", kernel_initializer=init(100),
                           bias_initializer=init(101), name="hidden"),
        # float32 even under a mixed policy: the softmax and the loss need its range and precision.
        keras.layers.Dense(NUM_CLASSES, kernel_initializer=init(102), bias_initializer=init(103),
                           dtype="float32", name="logits"),
    ]
    return keras.Sequential(layers, name=f"{config.architecture}_seed")


class LowLevelCNN:
    """The seed's first form: explicit weight and bias dicts, tf.nn.conv2d, max_pool and matmul."""

    def __init__(self, config: ModelConfig = ModelConfig(), seed: int = 0):
        import tensorflow as tf

        assert config.architecture == "cnn", "LowLevelCNN only builds CNNs"
        self.config = config
        generator = tf.random.Generator.from_seed(seed)
        normal = lambda shape: tf.Variable(generator.normal(shape, stddev=config.init_stddev))
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
