"""Move, turn, resize and thicken 28x28 digits, in NumPy, for the robustness experiments.

Images are float arrays in [0, 1], ink bright, shaped (28, 28) or (n, 28, 28). Pixels that come
from outside the frame are blank (0), as MNIST's background is. Rotation and scaling resample
bilinearly about the frame's centre, so every image in a batch is moved by one gather.

    shift(images, rows=0, columns=3)     # three pixels to the right
    rotate(images, 15)                   # 15 degrees anticlockwise
"""
from __future__ import annotations

import numpy as np

SIDE = 28
CENTRE = (SIDE - 1) / 2  # 13.5: the middle of the frame, between pixels 13 and 14


def as_batch(images) -> tuple[np.ndarray, bool]:
    """(n, 28, 28) float32 and whether the input was one image, from (28, 28), (n, 28, 28) or either
    with a trailing channel of 1; ValueError for other shapes."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim >= 3 and array.shape[-1] == 1 and array.shape[-3:-1] == (SIDE, SIDE):
        array = array[..., 0]
    if array.shape == (SIDE, SIDE):
        return array[None], True
    if array.ndim != 3 or array.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"expected 28x28 grayscale images, (28, 28) or (n, 28, 28), got {np.shape(images)}")
    return array, False


def _restore(batch: np.ndarray, single: bool) -> np.ndarray:
    return batch[0] if single else batch


def shift(images, rows: int = 0, columns: int = 0) -> np.ndarray:
    """Move the images down by ``rows`` and right by ``columns`` pixels (negative: up, left)."""
    batch, single = as_batch(images)
    moved = np.zeros_like(batch)
    if abs(rows) < SIDE and abs(columns) < SIDE:
        source = batch[:, max(0, -rows):SIDE - max(0, rows), max(0, -columns):SIDE - max(0, columns)]
        moved[:, max(0, rows):SIDE - max(0, -rows), max(0, columns):SIDE - max(0, -columns)] = source
    return _restore(moved, single)


def affine(images, inverse: np.ndarray) -> np.ndarray:
    """Resample about the centre: output pixel p takes the input at ``inverse @ (p - c) + c``, bilinearly."""
    batch, single = as_batch(images)
    rows, columns = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64) - CENTRE
    source = np.tensordot(np.asarray(inverse, np.float64), np.stack([rows, columns]), axes=1) + CENTRE + 1
    padded = np.pad(batch, ((0, 0), (1, 1), (1, 1)))  # a blank border for samples outside the frame
    source = np.clip(source, 0, SIDE + 1 - 1e-6)
    top, left = np.floor(source).astype(int)
    fraction_row, fraction_column = (source - np.floor(source)).astype(np.float32)
    bottom, right = np.minimum(top + 1, SIDE + 1), np.minimum(left + 1, SIDE + 1)
    resampled = ((1 - fraction_row) * ((1 - fraction_column) * padded[:, top, left] + fraction_column * padded[:, top, right])
                 + fraction_row * ((1 - fraction_column) * padded[:, bottom, left] + fraction_column * padded[:, bottom, right]))
    return _restore(resampled.astype(np.float32), single)


def rotate(images, degrees: float) -> np.ndarray:
    """Turn the images anticlockwise (as seen) by ``degrees`` about the frame's centre."""
    angle = np.deg2rad(degrees)
    # In (row, column) coordinates with rows going down, an anticlockwise turn on screen maps the
    # output back to the input with this matrix.
    inverse = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return affine(images, inverse)


def scale(images, factor: float) -> np.ndarray:
    """Grow (factor > 1) or shrink (factor < 1) the images about the frame's centre."""
    if factor <= 0:
        raise ValueError(f"expected a positive scale factor, got {factor!r}")
    return affine(images, np.eye(2) / factor)


def thicken(images, pixels: int = 1) -> np.ndarray:
    """Widen strokes by ``pixels`` (grey dilation with a plus-shaped window); negative thins them."""
    batch, single = as_batch(images)
    pick = np.maximum if pixels > 0 else np.minimum
    for _ in range(abs(pixels)):
        padded = np.pad(batch, ((0, 0), (1, 1), (1, 1)))
        neighbours = [padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1],
                      padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]]
        batch = pick.reduce(neighbours)
    return _restore(batch, single)
