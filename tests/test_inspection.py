"""cnn_core.inspection and cnn_core.filter_plots: feature maps checked against tf.nn on the model's own weights.

Run: ``python -m pytest -q tests/test_inspect.py`` (CPU, untrained models, a few seconds).
"""
import numpy as np
import pytest
import tensorflow as tf

from cnn_core import filter_plots as plots
from cnn_core.inspection import (FeatureExtractor, NoConvolutionError, apply_kernels, extractor_for,
                              feature_maps, has_convolutions, learned_kernels, match_table)
from cnn_core.kernels import HAND_MADE_KERNELS, convolve2d
from cnn_core.model import ModelConfig, build_model

SEED = ModelConfig()
THREE_BLOCKS = ModelConfig(conv_channels=(4, 6, 8), kernel_size=5, pool_size=2, hidden_units=8)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((28, 28), dtype=np.float32)


@pytest.fixture(scope="module")
def seed_model():
    return build_model(SEED)


def manual_stages(model, image, blocks: int, pool: int) -> dict:
    """The stages recomputed from the layers' weights with tf.nn, as in the seed's low-level net()."""
    features, stages = tf.constant(image[None, :, :, None]), {}
    for block in range(1, blocks + 1):
        kernel, bias = model.get_layer(f"conv{block}").get_weights()
        stages[f"conv{block}"] = tf.nn.conv2d(features, kernel, strides=1, padding="SAME") + bias
        stages[f"relu{block}"] = tf.nn.relu(stages[f"conv{block}"])
        features = stages[f"pool{block}"] = tf.nn.max_pool(stages[f"relu{block}"], pool, pool, "VALID")
    return {name: value.numpy()[0] for name, value in stages.items()}


def test_seed_stages_have_the_tutorial_shapes(seed_model, image):
    maps = feature_maps(seed_model, image)
    assert {name: value.shape for name, value in maps.items()} == {
        "conv1": (28, 28, 32), "relu1": (28, 28, 32), "pool1": (14, 14, 32),
        "conv2": (14, 14, 64), "relu2": (14, 14, 64), "pool2": (7, 7, 64)}
    assert all(value.dtype == np.float32 for value in maps.values())


@pytest.mark.parametrize("config", [SEED, THREE_BLOCKS], ids=["seed", "three-blocks-5x5"])
def test_feature_maps_equal_a_manual_tf_nn_computation(config, image):
    model = build_model(config)
    maps = feature_maps(model, image)
    expected = manual_stages(model, image, len(config.conv_channels), config.pool_size)
    assert list(maps) == list(expected)
    for name in expected:
        np.testing.assert_allclose(maps[name], expected[name], atol=1e-5, err_msg=name)


def test_relu1_is_relu_of_our_numpy_convolution_plus_bias(seed_model, image):
    kernel, bias = seed_model.get_layer("conv1").get_weights()
    relu1 = feature_maps(seed_model, image)["relu1"]
    for channel in (0, 7, 31):
        by_hand = np.maximum(convolve2d(image, kernel[:, :, 0, channel]) + bias[channel], 0)
        np.testing.assert_allclose(relu1[:, :, channel], by_hand, atol=1e-5)


def test_three_blocks_shapes_and_kernels():
    model = build_model(THREE_BLOCKS)
    maps = feature_maps(model, np.zeros((28, 28, 1), np.float32))  # a trailing channel axis is accepted
    assert maps["pool3"].shape == (3, 3, 8) and maps["conv3"].shape == (7, 7, 8) and len(maps) == 9
    assert [k.shape for k in learned_kernels(model)] == [(5, 5, 1, 4), (5, 5, 4, 6), (5, 5, 6, 8)]
    extractor = extractor_for(model)
    assert extractor is extractor_for(model)  # built once per model
    assert extractor.first_layer_kernels().shape == (5, 5, 4)
    assert extractor.describe().startswith("conv1: 4 kernels of 5x5 on 1 channel; conv2: 6 kernels")


def test_mlp_has_no_convolutions_and_says_so():
    model = build_model(ModelConfig(architecture="mlp", hidden_units=8))
    assert not has_convolutions(model)
    with pytest.raises(NoConvolutionError, match="no convolution layers"):
        FeatureExtractor(model)


def test_wrong_image_shape_is_a_clear_error(seed_model):
    with pytest.raises(ValueError, match=r"expected a 28x28 grayscale image, got shape \(32, 32, 3\)"):
        feature_maps(seed_model, np.zeros((32, 32, 3)))


def test_match_table_gives_nearest_and_runner_up_with_sign():
    stack = np.stack([-2 * HAND_MADE_KERNELS["sobel x"], HAND_MADE_KERNELS["sharpen"]], axis=-1)
    first, second = match_table(stack)
    assert first["nearest"] == "\u2212sobel x" and first["similarity"] == 1.0
    assert first["runner-up"] == "\u2212prewitt x" and 0.9 < first["runner-up similarity"] < 1
    # Sharpen = identity - Laplacian: the negated Laplacian is an almost perfect runner-up (0.997).
    assert second["nearest"] == "sharpen" and second["runner-up"] == "\u2212laplacian"
    assert second["runner-up similarity"] > 0.99


def test_apply_kernels_stacks_each_convolution(image):
    stack = apply_kernels(image, HAND_MADE_KERNELS)
    assert stack.shape == (28, 28, len(HAND_MADE_KERNELS))
    np.testing.assert_allclose(stack[:, :, 0], image)  # identity first


def test_tile_grid_mosaic_places_every_tile_and_centres_kernels_on_zero():
    stack = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5) - 10
    figure = plots.tile_grid(stack, columns=4, per_tile=False)
    heatmap = figure.data[0]
    z = np.asarray(heatmap.z)
    assert np.count_nonzero(~np.isnan(z)) == stack.size and heatmap.zmid == 0 and heatmap.zmin == -heatmap.zmax
    assert [a.text for a in figure.layout.annotations] == [f"#{n}" for n in range(5)]
    tiled, index = plots.mosaic(stack, columns=4, title_rows=1)
    top, left = plots.tile_origins(stack.shape, 4, title_rows=1)[4]
    np.testing.assert_array_equal(tiled[top:top + 2, left:left + 3], stack[:, :, 4])
    assert (index[top:top + 2, left:left + 3] == 4).all()


def test_sparsity_figure_is_one_small_png():
    from cnn_core.kernels import convolution_matrix

    figure = plots.sparsity_figure(convolution_matrix(HAND_MADE_KERNELS["sobel x"], 28, 28))
    source = figure.data[0].source
    assert source.startswith("data:image/png;base64,") and len(source) < 100_000
