"""Tests for cnn_core.common.kernels, with tf.nn.conv2d as the trusted reference.

Run: ``python -m pytest -q tests/test_kernels.py`` (CPU, a few seconds).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from cnn_core.common.kernels import (
    HAND_MADE_KERNELS,
    KERNEL_NOTES,
    ConvMatrixResult,
    convolution_matrix,
    convolve2d,
    embed_kernel,
    match_kernel,
    match_table,
    apply_kernels,
    matrix_convolution_check,
    parse_custom_kernel,
)

KERNEL_SHAPES = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (7, 7), (2, 3)]
IMAGE_SHAPES = [(28, 28), (10, 13), (5, 4)]


def tensorflow_same_convolution(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The reference: tf.nn.conv2d with stride 1 and SAME padding on one single-channel image."""
    inputs = tf.constant(image[None, :, :, None], dtype=tf.float32)  # (1, height, width, 1)
    filters = tf.constant(kernel[:, :, None, None], dtype=tf.float32)  # (kh, kw, 1, 1)
    return tf.nn.conv2d(inputs, filters, strides=1, padding="SAME")[0, :, :, 0].numpy()


def random_array(shape, seed: int) -> np.ndarray:
    """Reproducible float32 values, roughly in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)


@pytest.mark.parametrize("image_shape", IMAGE_SHAPES)
@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES)
def test_convolve2d_matches_tensorflow_same(kernel_shape, image_shape):
    image, kernel = random_array(image_shape, 1), random_array(kernel_shape, 2)
    expected = tensorflow_same_convolution(image, kernel)
    np.testing.assert_allclose(convolve2d(image, kernel), expected, atol=1e-5)


@pytest.mark.parametrize("name", list(HAND_MADE_KERNELS))
def test_hand_made_kernels_match_tensorflow(name):
    image = np.random.default_rng(3).uniform(0.0, 1.0, size=(28, 28)).astype(np.float32)
    kernel = HAND_MADE_KERNELS[name]
    expected = tensorflow_same_convolution(image, kernel)
    np.testing.assert_allclose(convolve2d(image, kernel), expected, atol=1e-5)


def test_hand_made_kernels_are_read_only_float32_with_notes():
    assert list(KERNEL_NOTES) == list(HAND_MADE_KERNELS)
    for name, kernel in HAND_MADE_KERNELS.items():
        assert kernel.dtype == np.float32 and kernel.ndim == 2 and not kernel.flags.writeable, name
    assert HAND_MADE_KERNELS["gaussian blur"].sum() == pytest.approx(1.0)
    assert HAND_MADE_KERNELS["box blur"].sum() == pytest.approx(1.0)


def test_convolve2d_output_dtype_follows_inputs():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert convolve2d(image, HAND_MADE_KERNELS["sharpen"]).dtype == np.float32
    assert convolve2d(image.astype(np.float64), HAND_MADE_KERNELS["sharpen"]).dtype == np.float64
    np.testing.assert_array_equal(convolve2d(image, HAND_MADE_KERNELS["identity"]), image)


@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES)
def test_matrix_product_matches_tensorflow(kernel_shape):
    image, kernel = random_array((10, 13), 4), random_array(kernel_shape, 5)
    matrix = convolution_matrix(kernel, 10, 13)
    assert matrix.shape == (130, 130) and matrix.dtype == np.float32
    product = (matrix @ image.ravel()).reshape(10, 13)
    np.testing.assert_allclose(product, tensorflow_same_convolution(image, kernel), atol=1e-5)


def test_matrix_nonzeros_for_3x3_on_28x28():
    # A 3x3 kernel with no zero taps: interior rows keep all 9 taps, the 104 non-corner border
    # pixels lose 3, the 4 corners lose 5, so 784 * 9 - 104 * 3 - 4 * 5 = 6724 nonzeros.
    kernel = random_array((3, 3), 6) + 2.0
    matrix = convolution_matrix(kernel, 28, 28)
    per_row = np.count_nonzero(matrix, axis=1)
    assert np.count_nonzero(matrix) == 6724
    assert per_row.max() == 9 and np.sum(per_row == 9) == 26 * 26
    assert np.sum(per_row == 6) == 4 * 26 and np.sum(per_row == 4) == 4


@pytest.mark.parametrize("kernel_shape", [(2, 2), (4, 4), (5, 5), (2, 3)])
def test_matrix_nonzeros_count_in_bounds_taps(kernel_shape):
    # A tap at offset (dr, dc) from the anchor lands inside the image for (H - |dr|) * (W - |dc|) outputs.
    height, width = 10, 13
    kernel = random_array(kernel_shape, 7) + 2.0
    row_offsets = np.arange(kernel_shape[0]) - (kernel_shape[0] - 1) // 2
    column_offsets = np.arange(kernel_shape[1]) - (kernel_shape[1] - 1) // 2
    expected = sum((height - abs(dr)) * (width - abs(dc)) for dr in row_offsets for dc in column_offsets)
    assert np.count_nonzero(convolution_matrix(kernel, height, width)) == expected


def test_matrix_convolution_check_reports_agreement_and_density():
    image = np.random.default_rng(8).uniform(0.0, 1.0, size=(28, 28)).astype(np.float32)
    result = matrix_convolution_check(image, HAND_MADE_KERNELS["sobel x"])
    assert isinstance(result, ConvMatrixResult)
    assert result.product.shape == result.direct.shape == (28, 28)
    assert result.max_abs_difference < 1e-5
    # Sobel x has 6 nonzero taps: its middle column is zero, so offsets dc = +-1 only.
    assert result.nonzeros == 2 * (27 + 28 + 27) * 27
    assert result.density == pytest.approx(result.nonzeros / 784**2)
    expected = tensorflow_same_convolution(image, HAND_MADE_KERNELS["sobel x"])
    np.testing.assert_allclose(result.direct, expected, atol=1e-5)


@pytest.mark.parametrize("kernel_shape", [(1, 1), (2, 2), (3, 3), (4, 4)])
def test_embed_kernel_keeps_the_convolution(kernel_shape):
    image, kernel = random_array((10, 13), 9), random_array(kernel_shape, 10)
    embedded = embed_kernel(kernel, (5, 5))
    assert embedded.shape == (5, 5)
    np.testing.assert_allclose(convolve2d(image, embedded), convolve2d(image, kernel), atol=1e-6)


@pytest.mark.parametrize("name", list(HAND_MADE_KERNELS))
def test_every_hand_made_kernel_matches_itself(name):
    match = match_kernel(HAND_MADE_KERNELS[name])
    assert (match.name, match.sign) == (name, 1)
    assert match.similarity == pytest.approx(1.0)


def test_identity_matches_identity_exactly():
    assert match_kernel(HAND_MADE_KERNELS["identity"]).similarity == 1.0
    assert match_kernel(np.array([[3.0]])).name == "identity"


def test_scaled_negated_sobel_matches_with_negative_sign():
    match = match_kernel(-2.5 * HAND_MADE_KERNELS["sobel x"])
    assert (match.name, match.sign) == ("sobel x", -1)
    assert match.similarity == pytest.approx(1.0)


@pytest.mark.parametrize("name", list(HAND_MADE_KERNELS))
def test_noisy_scaled_copies_match(name):
    rng = np.random.default_rng(11)
    kernel = 0.3 * HAND_MADE_KERNELS[name]
    noise = rng.normal(size=(3, 3))
    noisy = kernel + 0.02 * np.linalg.norm(kernel) * noise / np.linalg.norm(noise)
    match = match_kernel(noisy)
    assert (match.name, match.sign) == (name, 1)
    assert match.similarity > 0.99


def test_larger_learned_kernel_matches_a_centred_candidate():
    learned = np.zeros((5, 5))
    learned[1:4, 1:4] = -HAND_MADE_KERNELS["sobel y"]
    match = match_kernel(learned)
    assert (match.name, match.sign) == ("sobel y", -1)
    assert match.similarity == pytest.approx(1.0)


def test_zero_kernel_matches_nothing_without_dividing_by_zero():
    with np.errstate(all="raise"):
        match = match_kernel(np.zeros((3, 3)))
    assert (match.name, match.similarity, match.sign) == (None, 0.0, 1)


def test_match_kernel_needs_candidates():
    with pytest.raises(ValueError, match="at least one candidate"):
        match_kernel(np.ones((3, 3)), candidates={})


def test_match_table_gives_nearest_and_runner_up_with_sign():
    stack = np.stack([-2 * HAND_MADE_KERNELS["sobel x"], HAND_MADE_KERNELS["sharpen"]], axis=-1)
    first, second = match_table(stack)
    assert first["nearest"] == "\u2212sobel x" and first["similarity"] == 1.0
    assert first["runner-up"] == "\u2212prewitt x" and 0.9 < first["runner-up similarity"] < 1
    # Sharpen = identity - Laplacian: the negated Laplacian is an almost perfect runner-up (0.997).
    assert second["nearest"] == "sharpen" and second["runner-up"] == "\u2212laplacian"
    assert second["runner-up similarity"] > 0.99


def test_apply_kernels_stacks_each_convolution():
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    stack = apply_kernels(image, HAND_MADE_KERNELS)
    assert stack.shape == (28, 28, len(HAND_MADE_KERNELS))
    np.testing.assert_allclose(stack[:, :, 0], image)  # identity first
    np.testing.assert_allclose(stack[:, :, 3], convolve2d(image, HAND_MADE_KERNELS["sharpen"]))
    with pytest.raises(ValueError, match=r"expected a 28x28 grayscale image, got shape \(32, 32, 3\)"):
        apply_kernels(np.zeros((32, 32, 3)), HAND_MADE_KERNELS)


def test_parse_custom_kernel_reads_text_and_rows():
    expected = HAND_MADE_KERNELS["sobel x"]
    parsed_text = parse_custom_kernel("-1, 0, 1\n-2 0 2; -1,0,1", 3)
    assert parsed_text.dtype == np.float32 and parsed_text.shape == (3, 3)
    np.testing.assert_array_equal(parsed_text, expected)
    np.testing.assert_array_equal(parse_custom_kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], 3), expected)
    np.testing.assert_array_equal(parse_custom_kernel(" ".join(["0.5"] * 25), 5), np.full((5, 5), 0.5))


@pytest.mark.parametrize("value, size, message", [
    ("1 2 3", 3, "expected 9 numbers for a 3x3 kernel, got 3"),
    ("1 2 x 4 5 6 7 8 9", 3, "expected a number at position 3, got 'x'"),
    ("1 2 3 nan 5 6 7 8 9", 3, "expected a finite number at position 4"),
    ("1 2 3 4 inf 6 7 8 9", 3, "expected a finite number at position 5"),
    ("1 2 3 4 5 6 7 8 1e39", 3, "within float32 range at position 9"),
    ("1 " * 16, 4, "expected a kernel size of 3 or 5, got 4"),
    ([[1, 2, 3], [4, 5, 6]], 3, "expected 3 rows for a 3x3 kernel, got 2"),
    ([[1, 2, 3], [4, 5], [7, 8, 9]], 3, "expected 3 numbers in row 2, got 2"),
    ([[1, 2, 3], [4, None, 6], [7, 8, 9]], 3, "expected a number at position 5, got None"),
    (42, 3, "expected a string or a list of rows, got int"),
])
def test_parse_custom_kernel_errors(value, size, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_custom_kernel(value, size)


@pytest.mark.parametrize("image, kernel, message", [
    (np.zeros((4, 4)), np.zeros((3, 3, 2)), r"expected a 2-D kernel, got shape \(3, 3, 2\)"),
    (np.zeros(16), np.zeros((3, 3)), r"expected a 2-D image, got shape \(16,\)"),
    (np.zeros((4, 4)), np.zeros((0, 3)), r"expected a non-empty kernel, got shape \(0, 3\)"),
    (np.full((4, 4), np.nan), np.ones((3, 3)), "expected only finite values in the image"),
    (np.zeros((4, 4)), np.full((3, 3), np.inf), "expected only finite values in the kernel"),
    (np.full((4, 4), "a"), np.ones((3, 3)), "expected real numbers in the image"),
    ([[1, 2], [3]], np.ones((3, 3)), "expected a 2-D array of numbers for the image"),
])
def test_convolve2d_rejects_bad_input(image, kernel, message):
    with pytest.raises(ValueError, match=message):
        convolve2d(image, kernel)


@pytest.mark.parametrize("height, width, message", [
    (0, 5, "expected a positive integer height, got 0"),
    (5, 2.5, "expected a positive integer width, got 2.5"),
    (100, 100, "expected at most 4096 pixels"),
])
def test_convolution_matrix_rejects_bad_sizes(height, width, message):
    with pytest.raises(ValueError, match=message):
        convolution_matrix(np.ones((3, 3)), height, width)
