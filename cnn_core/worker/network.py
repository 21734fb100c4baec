"""The network as Keras layers, and its one forward pass with every stage in view.

``build_model(config)`` is the seed tutorial's network (or its variation, or the MLP) as a
declarative list of Keras layers: what the worker trains. ``forward(model, images, masks)`` runs
those same layers and keeps what a person wants to see on the way: each conv block's linear
response, its ReLU (times a per-filter mask, 0 switching a filter off) and its pooled maps, the
hidden layer and the logits. The LiteRT export serves exactly this function
(``cnn_core.worker.export``), so training and serving share one definition of the network;
``tests/reference.py`` keeps the seed's low-level ``tf.nn`` form to check it against.
"""
from __future__ import annotations

from cnn_core.common.config import IMAGE_SIZE, NUM_CLASSES, ModelConfig


def build_model(config: ModelConfig = ModelConfig(), seed: int | None = 0, init_scheme: str = "seed"):
    """The Keras 3 model for ``config``: input (batch, 28, 28, 1) floats in [0, 1], output float32 logits.

    ``init_scheme`` "seed" draws every weight and bias from N(0, config.init_stddev), as the tutorial
    does; "he" scales each kernel to its fan-in (He normal) and starts the biases at zero, which keeps
    the dense layer's 3,136 inputs from starting it far off its useful range. Layers take Keras'
    current dtype policy (see ``training.precision_policy``), except the logits.
    """
    import keras

    def init(index: int):
        index_seed = None if seed is None else seed + index
        if init_scheme == "he":
            # Odd indices are biases: zeros; even ones kernels.
            return keras.initializers.Zeros() if index % 2 else keras.initializers.HeNormal(seed=index_seed)
        return keras.initializers.RandomNormal(stddev=config.init_stddev, seed=index_seed)

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


def conv_layers(model) -> list:
    """The model's Conv2D layers, conv1 first ([] for an MLP)."""
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def forward(model, images, masks=None) -> dict:
    """Every stage of ``model`` for images (n, 28, 28, 1): conv<k>, relu<k>, pool<k>, hidden, logits.

    "conv<k>" is block k's linear response (kernel product plus bias, before the ReLU), "relu<k>"
    the ReLU of it multiplied by ``masks[k - 1]`` (one value per filter) when masks are given. The
    layers are the model's own, so with no masks the logits are ``model(images)``.
    """
    import keras

    stages, features, block = {}, images, 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            block += 1
            # The layer computes activation(convolution + bias) in one call; it is split here so that
            # the linear response can be shown and the filters switched off after the non-linearity.
            linear = layer.convolution_op(features, layer.kernel) + layer.bias  # (n, h, w, filters)
            features = layer.activation(linear)
            if masks is not None:
                features = features * masks[block - 1]
            stages[f"conv{block}"], stages[f"relu{block}"] = linear, features
        elif isinstance(layer, keras.layers.MaxPooling2D):
            features = stages[f"pool{block}"] = layer(features)
        else:
            features = layer(features)
            if layer.name == "hidden":
                stages["hidden"] = features
    stages["logits"] = features  # (n, 10)
    return stages
