"""A 28x28 digit as a short text that fits in a web address, and back: how a lesson link carries a drawing.

The digit is stored as MNIST stores its digits, one byte per pixel, compressed with zlib and written
in URL-safe base64: a drawn digit, mostly black, takes about 300-500 characters. Decoding accepts
only what encoding makes (a bounded length, the exact pixel count), so a hand-edited or hostile
address gives a ValueError with the reason, never a large allocation or a half-read image.

    text = encode_digit(image28)          # image28: (28, 28) floats in [0, 1]
    image = decode_digit(text)            # (28, 28) float32 on the 8-bit grid: quantize(image28)
"""
from __future__ import annotations

import base64
import binascii
import zlib

import numpy as np

SIDE = 28
PIXELS = SIDE * SIDE
MAX_TEXT = 1400  # characters: zlib never makes 784 bytes much longer than 800, which is 1,068 in base64


def quantize(image28: np.ndarray) -> np.ndarray:
    """The image on MNIST's 8-bit grid (multiples of 1/255): what a link to it will show exactly."""
    image = _checked(image28)
    return (np.round(image * 255) / 255).astype(np.float32)


def encode_digit(image28: np.ndarray) -> str:
    """(28, 28) floats in [0, 1] -> URL-safe text (no padding)."""
    pixels = np.round(_checked(image28) * 255).astype(np.uint8).tobytes()
    return base64.urlsafe_b64encode(zlib.compress(pixels, 9)).decode("ascii").rstrip("=")


def decode_digit(text: str) -> np.ndarray:
    """URL-safe text -> (28, 28) float32 in [0, 1]; ValueError saying what is wrong otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError("expected the encoded digit, got nothing")
    if len(text) > MAX_TEXT:
        raise ValueError(f"expected at most {MAX_TEXT} characters for a digit, got {len(text)}")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"the encoded digit is not URL-safe base64 ({error})") from None
    inflater = zlib.decompressobj()
    try:
        pixels = inflater.decompress(packed, PIXELS + 1)  # never inflate more than one pixel too many
    except zlib.error as error:
        raise ValueError(f"the encoded digit is not zlib data ({error})") from None
    if len(pixels) != PIXELS or inflater.unconsumed_tail or not inflater.eof:
        raise ValueError(f"expected {PIXELS} pixels for a {SIDE}x{SIDE} digit, got another amount")
    return (np.frombuffer(pixels, np.uint8).reshape(SIDE, SIDE) / 255).astype(np.float32)


def _checked(image28: np.ndarray) -> np.ndarray:
    image = np.asarray(image28, np.float64)
    if image.shape != (SIDE, SIDE):
        raise ValueError(f"expected a {SIDE}x{SIDE} image, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("expected finite pixel values, got NaN or infinity")
    return np.clip(image, 0.0, 1.0)
