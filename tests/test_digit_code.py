"""A drawn digit in a web address (cnn_core.common.digit_code): short, exact, and refusing anything else."""
import base64
import zlib

import numpy as np
import pytest

from cnn_core.common.digit_code import MAX_TEXT, decode_digit, encode_digit, quantize


def test_a_digit_survives_the_address_exactly_on_the_8_bit_grid(mnist):
    for index in range(20):
        digit = mnist.test_images[index] / 255.0
        text = encode_digit(digit)
        assert len(text) < 600 and set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        np.testing.assert_array_equal(decode_digit(text), quantize(digit))
        np.testing.assert_allclose(decode_digit(text), digit, atol=1e-6)  # MNIST digits are 8-bit already


def test_a_drawn_digit_is_quantized_once_and_then_stays_the_same():
    drawn = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    once = quantize(drawn)
    assert np.abs(once - drawn).max() <= 0.5 / 255 + 1e-7
    np.testing.assert_array_equal(decode_digit(encode_digit(once)), once)


@pytest.mark.parametrize("text, reason", [
    ("", "got nothing"),
    ("x" * (MAX_TEXT + 1), f"at most {MAX_TEXT} characters"),
    ("not*base64!", "not URL-safe base64"),
    (base64.urlsafe_b64encode(b"plain bytes").decode(), "not zlib data"),
    (base64.urlsafe_b64encode(zlib.compress(bytes(100))).decode(), "expected 784 pixels"),
    (base64.urlsafe_b64encode(zlib.compress(bytes(10**6))).decode(), "expected 784 pixels"),  # a zip bomb, cut short
])
def test_anything_but_an_encoded_digit_gets_a_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        decode_digit(text)


def test_only_28x28_finite_images_are_encoded():
    with pytest.raises(ValueError, match="28x28"):
        encode_digit(np.zeros((27, 28)))
    with pytest.raises(ValueError, match="finite"):
        encode_digit(np.full((28, 28), np.nan))
