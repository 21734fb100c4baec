"""Look inside a trained CNN: its learned kernels and the feature maps one image produces.

``FeatureExtractor`` walks a Keras model's convolution blocks once and compiles a ``tf.function``
that returns every intermediate stage for one 28x28 image, so a new image costs milliseconds:

    extractor = FeatureExtractor(model)
    stages = extractor.feature_maps(image28)   # {"conv1": (28, 28, 32), "relu1": ..., "pool2": (7, 7, 64)}
    extractor.kernels[0].shape                 # (3, 3, 1, 32): conv1's kernels as NumPy

"conv" stages are before the activation (kernel product plus bias), so they can be negative; the
activation stage is named after its function ("relu1" for the seed network). A model without
convolution layers (the "mlp" architecture) raises ``NoConvolutionError``. Never imports streamlit.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cnn_core.kernels import HAND_MADE_KERNELS, convolve2d, kernel_cosine

IMAGE_SHAPE = (28, 28)


class NoConvolutionError(ValueError):
    """The model has no convolution layers, so it has no kernels or feature maps to show."""


@dataclass(frozen=True)
class ConvBlock:
    """One convolution layer and the pooling that follows it, as found in the model."""

    number: int            # 1 for conv1, 2 for conv2...
    conv_name: str         # the Keras layer's name
    activation: str        # the activation's name, e.g. "relu" ("linear" when there is none)
    pool_name: str | None  # the pooling layer after the conv, if any


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def find_conv_blocks(model) -> list[tuple[ConvBlock, object, object | None]]:
    """(block, conv layer, pool layer or None) for each Conv2D before the model's first Flatten/Dense."""
    import keras

    blocks, pending = [], None
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            if pending is not None:
                blocks.append(pending)
            pending = (layer, None)
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)) and pending:
            blocks.append((pending[0], layer))
            pending = None
        elif isinstance(layer, (keras.layers.Flatten, keras.layers.Dense)):
            break
    if pending is not None:
        blocks.append(pending)
    return [(ConvBlock(number, conv.name, _activation_name(conv), pool.name if pool else None), conv, pool)
            for number, (conv, pool) in enumerate(blocks, start=1)]


def has_convolutions(model) -> bool:
    """Whether the model has at least one Conv2D layer (False for the "mlp" architecture)."""
    return bool(find_conv_blocks(model))


def check_image(image) -> np.ndarray:
    """The image as a float32 (28, 28) array, or a ValueError saying what came instead."""
    array = np.asarray(image, dtype=np.float32)
    if array.shape == (28, 28, 1):
        array = array[..., 0]
    if array.shape != IMAGE_SHAPE:
        raise ValueError(f"expected a 28x28 grayscale image, got shape {array.shape}")
    return array


class FeatureExtractor:
    """A model's convolution blocks behind one compiled function: image -> every stage's maps."""

    def __init__(self, model):
        import tensorflow as tf

        found = find_conv_blocks(model)
        if not found:
            raise NoConvolutionError(f"the model {model.name!r} has no convolution layers (an MLP), "
                                     "so it has no kernels or feature maps to show")
        self.blocks = [block for block, _, _ in found]
        # Kernels are copied to NumPy once: (kernel_height, kernel_width, in_channels, out_channels).
        self.kernels = [np.asarray(conv.kernel.numpy()) for _, conv, _ in found]
        self.biases = [np.asarray(conv.bias.numpy()) if conv.use_bias else np.zeros(conv.filters, np.float32)
                       for _, conv, _ in found]
        self.stage_names = [name for block in self.blocks for name in self._names(block)]

        def forward(images):  # images: (1, 28, 28, 1)
            outputs, features = [], images
            for _, conv, pool in found:
                # The conv layer computes activation(convolution + bias) in one call; it is split here
                # so the page can show the linear response before the non-linearity.
                linear = conv.convolution_op(features, conv.kernel)
                if conv.use_bias:
                    linear = linear + conv.bias
                features = conv.activation(linear)
                outputs += [linear, features]
                if pool is not None:
                    features = pool(features)
                    outputs.append(features)
            return outputs

        spec = tf.TensorSpec((1, *IMAGE_SHAPE, 1), tf.float32)
        self._forward = tf.function(forward, input_signature=[spec])

    @staticmethod
    def _names(block: ConvBlock) -> list[str]:
        names = [f"conv{block.number}", f"{block.activation}{block.number}"]
        return names + ([f"pool{block.number}"] if block.pool_name else [])

    def feature_maps(self, image) -> dict[str, np.ndarray]:
        """Stage name -> (height, width, channels) float32 array, in network order, for one image."""
        batch = check_image(image)[None, :, :, None]  # (1, 28, 28, 1)
        outputs = self._forward(batch)
        return {name: output.numpy()[0] for name, output in zip(self.stage_names, outputs)}

    def first_layer_kernels(self) -> np.ndarray:
        """conv1's kernels as a (kernel_height, kernel_width, count) stack (one input channel)."""
        return self.kernels[0][:, :, 0, :]

    def describe(self) -> str:
        """One line per block: kernel size and channel counts, e.g. 'conv1: 32 kernels of 3x3 on 1 channel'."""
        lines = []
        for block, kernel in zip(self.blocks, self.kernels):
            height, width, inputs, outputs = kernel.shape
            lines.append(f"conv{block.number}: {outputs} kernels of {height}x{width} on {inputs} "
                         f"channel{'s' if inputs > 1 else ''}")
        return "; ".join(lines)


# Extractors keyed weakly on the model, so one model compiles its function once and a model that
# is no longer used anywhere frees its extractor too.
_EXTRACTORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def extractor_for(model) -> FeatureExtractor:
    """The model's FeatureExtractor, built on first use and reused after."""
    extractor = _EXTRACTORS.get(model)
    if extractor is None:
        extractor = _EXTRACTORS[model] = FeatureExtractor(model)
    return extractor


def feature_maps(model, image) -> dict[str, np.ndarray]:
    """Stage name -> (height, width, channels) for one 28x28 image; see FeatureExtractor."""
    return extractor_for(model).feature_maps(image)


def learned_kernels(model) -> list[np.ndarray]:
    """Each convolution layer's kernels, (kernel_height, kernel_width, in_channels, out_channels)."""
    return extractor_for(model).kernels


def ranked_matches(kernel, candidates: Mapping[str, np.ndarray] = HAND_MADE_KERNELS) -> list[tuple[str, float]]:
    """(name, signed cosine) of every candidate, most similar first by |cosine| (kernels.match_kernel's measure)."""
    scores = [(name, kernel_cosine(kernel, candidate)) for name, candidate in candidates.items()]
    return sorted(scores, key=lambda item: -abs(item[1]))  # stable: ties keep the candidates' order


def signed_name(name: str, cosine: float) -> str:
    """'sobel x' for a positive match, '−sobel x' when the kernel is the candidate negated."""
    return name if cosine >= 0 else f"\u2212{name}"


def match_table(stack, candidates: Mapping[str, np.ndarray] = HAND_MADE_KERNELS) -> list[dict]:
    """One row per kernel of a (height, width, count) stack: the nearest candidate and the runner-up.

    Near-ties are common (sharpen = identity - Laplacian, so a centre-heavy kernel sits between
    them), which is why the runner-up and both similarities are given, not just one name.
    """
    rows = []
    for number in range(np.asarray(stack).shape[2]):
        ranking = ranked_matches(stack[:, :, number], candidates)
        (best, best_cosine), (second, second_cosine) = ranking[0], ranking[1 if len(ranking) > 1 else 0]
        rows.append({"kernel": number, "nearest": signed_name(best, best_cosine),
                     "similarity": round(abs(best_cosine), 3),
                     "runner-up": signed_name(second, second_cosine),
                     "runner-up similarity": round(abs(second_cosine), 3)})
    return rows


def apply_kernels(image, kernels: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each kernel convolved (SAME, as tf.nn.conv2d) with the image, stacked as (28, 28, count)."""
    image = check_image(image)
    return np.stack([convolve2d(image, kernel) for kernel in kernels.values()], axis=-1)
