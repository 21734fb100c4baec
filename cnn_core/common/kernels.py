"""Hand-made image kernels, and convolution written out in NumPy so it can be seen and checked.

What deep learning calls convolution is cross-correlation: the kernel slides over the image
unflipped. ``convolve2d`` computes it exactly as ``tf.nn.conv2d(..., strides=1, padding="SAME")``
does, ``convolution_matrix`` writes the same operation as one matrix acting on the flattened
image, and ``match_kernel`` and ``match_table`` name the hand-made kernels a learned one looks most like.
Pure NumPy; TensorFlow is only the reference in ``tests/test_kernels.py``.

Example: ``python -c "from cnn_core.common.kernels import *; print(match_kernel(-HAND_MADE_KERNELS['sobel x']))"``
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CUSTOM_KERNEL_SIZES = (3, 5)
# The dense matrix grows with the square of the pixel count; 64x64 pixels already make 64 MiB.
MAX_MATRIX_PIXELS = 64 * 64


def _read_only_kernel(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    """A float32 kernel that callers cannot modify by accident, since it is shared module state."""
    kernel = np.asarray(rows, dtype=np.float64) * scale
    kernel = kernel.astype(np.float32)
    kernel.setflags(write=False)
    return kernel


HAND_MADE_KERNELS: dict[str, np.ndarray] = {
    "identity": _read_only_kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "box blur": _read_only_kernel([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9),
    "gaussian blur": _read_only_kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "sharpen": _read_only_kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "sobel x": _read_only_kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel y": _read_only_kernel([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "prewitt x": _read_only_kernel([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "prewitt y": _read_only_kernel([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "laplacian": _read_only_kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "emboss": _read_only_kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "outline": _read_only_kernel([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
}

KERNEL_NOTES: dict[str, str] = {
    "identity": "Leaves the image unchanged, because only the centre pixel is kept.",
    "box blur": "Smooths the image by replacing each pixel with the plain average of its 3x3 "
                "neighbourhood.",
    "gaussian blur": "Smooths the image more gently than the box blur by weighting near neighbours "
                     "more than far ones.",
    "sharpen": "Sharpens the image by adding back the difference between each pixel and its four "
               "neighbours.",
    "sobel x": "Finds vertical edges, bright where the image gets lighter from left to right, with "
               "some smoothing along the edge.",
    "sobel y": "Finds horizontal edges, bright where the image gets lighter from top to bottom, "
               "with some smoothing along the edge.",
    "prewitt x": "Finds vertical edges like Sobel x, but weights the three rows equally.",
    "prewitt y": "Finds horizontal edges like Sobel y, but weights the three columns equally.",
    "laplacian": "Enhances edges in every direction by measuring how much a pixel differs from its "
                 "four neighbours, and is zero on flat areas.",
    "emboss": "Makes the image look raised, lighting edges on one diagonal side and shading them "
              "on the other.",
    "outline": "Traces the outlines of shapes by comparing each pixel with all eight neighbours, "
               "and is zero on flat areas.",
}


@dataclass(frozen=True)
class ConvMatrixResult:
    """Convolution done twice, as a matrix product and directly, with the matrix's sparsity."""

    matrix: np.ndarray  # (height * width, height * width) float32
    product: np.ndarray  # (height, width): matrix @ image.ravel(), reshaped
    direct: np.ndarray  # (height, width): convolve2d(image, kernel)
    max_abs_difference: float  # largest |product - direct|; float rounding only
    nonzeros: int  # entries of the matrix that are not zero
    density: float  # nonzeros / matrix.size


@dataclass(frozen=True)
class KernelMatch:
    """The hand-made kernel a given kernel looks most like."""

    name: str | None  # the closest candidate; None when nothing overlaps (e.g. an all-zero kernel)
    similarity: float  # |cosine similarity| in [0, 1]; 1.0 means equal up to scale and sign
    sign: int  # +1: same polarity as the candidate; -1: the candidate negated


def _as_finite_matrix(values, name: str) -> np.ndarray:
    """The values as a non-empty, finite, real 2-D array, or a ValueError saying what is wrong."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"expected a 2-D array of numbers for the {name}, got {type(values).__name__} "
                         f"that NumPy cannot read as one") from error
    if array.dtype.kind not in "biuf":
        raise ValueError(f"expected real numbers in the {name}, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D {name}, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"expected a non-empty {name}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"expected only finite values in the {name}, got NaN or infinity")
    return array


def _same_padding(kernel_shape: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """TensorFlow's SAME padding: ((top, bottom), (left, right)), the extra row or column at the end."""
    return tuple(((size - 1) // 2, size - 1 - (size - 1) // 2) for size in kernel_shape)


def convolve2d(image, kernel) -> np.ndarray:
    """SAME zero-padded 2-D cross-correlation, as tf.nn.conv2d computes it (deep learning's "convolution").

    The kernel is not flipped. Output has the image's shape; it is float64 when either input is,
    float32 otherwise (so a uint8 image gives float32). Even-sized kernels get the extra padding
    row and column at the bottom and right, as in TensorFlow.
    """
    image = _as_finite_matrix(image, "image")
    kernel = _as_finite_matrix(kernel, "kernel")
    output_dtype = np.float64 if np.float64 in (image.dtype, kernel.dtype) else np.float32
    padded = np.pad(image.astype(np.float64), _same_padding(kernel.shape))
    windows = sliding_window_view(padded, kernel.shape)  # (height, width, kernel_height, kernel_width)
    return np.einsum("ijkl,kl->ij", windows, kernel.astype(np.float64)).astype(output_dtype)


def _check_image_size(height, width) -> None:
    """Raise a ValueError unless height and width are positive integers small enough for a dense matrix."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"expected a positive integer {name}, got {value!r}")
    if height * width > MAX_MATRIX_PIXELS:
        raise ValueError(f"expected at most {MAX_MATRIX_PIXELS} pixels for a dense convolution matrix, "
                         f"got {height}x{width} = {height * width}")


def convolution_matrix(kernel, height: int, width: int) -> np.ndarray:
    """Dense float32 matrix M, height*width square, with M @ image.ravel() == convolve2d(image, kernel).ravel()."""
    kernel = _as_finite_matrix(kernel, "kernel")
    _check_image_size(height, width)
    (top, _), (left, _) = _same_padding(kernel.shape)
    output_rows, output_columns = np.indices((height, width))
    output_index = output_rows * width + output_columns
    matrix = np.zeros((height * width, height * width), dtype=np.float32)
    for (tap_row, tap_column), weight in np.ndenumerate(kernel):
        source_rows = output_rows + tap_row - top
        source_columns = output_columns + tap_column - left
        # Taps that land on the zero padding contribute nothing, so they get no matrix entry.
        inside = ((source_rows >= 0) & (source_rows < height)
                  & (source_columns >= 0) & (source_columns < width))
        source_index = source_rows * width + source_columns
        # Each (output, source) pair belongs to exactly one tap, so assigning never overwrites.
        matrix[output_index[inside], source_index[inside]] = weight
    return matrix


def matrix_convolution_check(image, kernel) -> ConvMatrixResult:
    """Convolve the image both as a matrix product and directly, and report how they compare."""
    image = _as_finite_matrix(image, "image")
    height, width = image.shape
    matrix = convolution_matrix(kernel, height, width)
    product = (matrix @ image.ravel().astype(np.float64)).reshape(height, width)
    direct = convolve2d(image, kernel)
    nonzeros = int(np.count_nonzero(matrix))
    return ConvMatrixResult(
        matrix=matrix, product=product, direct=direct,
        max_abs_difference=float(np.max(np.abs(product - direct))),
        nonzeros=nonzeros, density=nonzeros / matrix.size,
    )


def embed_kernel(kernel, shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad a kernel to a larger shape around its anchor tap, leaving convolve2d's output unchanged."""
    kernel = _as_finite_matrix(kernel, "kernel")
    if len(shape) != 2 or any(target < size for target, size in zip(shape, kernel.shape)):
        raise ValueError(f"expected a 2-D target shape at least {kernel.shape}, got {tuple(shape)}")
    # SAME padding anchors a size-k kernel at index (k - 1) // 2, so line the anchors up.
    before = [(target - 1) // 2 - (size - 1) // 2 for target, size in zip(shape, kernel.shape)]
    after = [target - size - pad for target, size, pad in zip(shape, kernel.shape, before)]
    return np.pad(kernel, list(zip(before, after)))


def _unit_vector(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The kernel embedded in shape, flattened and scaled to length 1; None for an all-zero kernel."""
    vector = embed_kernel(kernel, shape).astype(np.float64).ravel()
    length = np.linalg.norm(vector)
    return None if length == 0 else vector / length


def kernel_cosine(kernel, candidate) -> float:
    """Signed cosine similarity of two kernels on a common anchor-aligned grid; 0.0 if either is all zero."""
    kernel = _as_finite_matrix(kernel, "kernel")
    candidate = _as_finite_matrix(candidate, "candidate kernel")
    shape = tuple(np.maximum(kernel.shape, candidate.shape))
    first, second = _unit_vector(kernel, shape), _unit_vector(candidate, shape)
    if first is None or second is None:
        return 0.0
    return float(np.clip(first @ second, -1.0, 1.0))


def match_kernel(kernel, candidates: Mapping[str, np.ndarray] = HAND_MADE_KERNELS) -> KernelMatch:
    """The candidate with the largest |cosine similarity| to the kernel, and the sign of that cosine.

    The measure is the cosine between the raw flattened kernels, with smaller kernels zero-padded
    around their anchor to a common size. Raw rather than mean-removed, because a constant kernel
    such as the box blur has nothing left once its mean is removed. Cosine ignores scale, which
    only changes contrast. Sign is factored out (|cosine|, sign reported) because -Sobel x is the
    same edge detector with opposite polarity. For white-noise input the cosine equals the
    correlation between the two kernels' outputs, which is what "looks like" means here. Ties go
    to the earlier candidate; with no overlap at all the name is None and the similarity 0.0.
    """
    if not candidates:
        raise ValueError("expected at least one candidate kernel, got none")
    best = KernelMatch(name=None, similarity=0.0, sign=1)
    for name, candidate in candidates.items():
        cosine = kernel_cosine(kernel, candidate)
        if abs(cosine) > best.similarity:
            best = KernelMatch(name=name, similarity=abs(cosine), sign=1 if cosine >= 0 else -1)
    return best


def _kernel_rows_to_values(rows, size: int) -> list:
    """Flatten a list of `size` rows of `size` values, or raise a ValueError naming the bad row."""
    if not isinstance(rows, (list, tuple, np.ndarray)):
        raise ValueError(f"expected a string or a list of rows, got {type(rows).__name__}")
    if len(rows) != size:
        raise ValueError(f"expected {size} rows for a {size}x{size} kernel, got {len(rows)}")
    for row_number, row in enumerate(rows, start=1):
        if not isinstance(row, (list, tuple, np.ndarray)) or len(row) != size:
            count = len(row) if isinstance(row, (list, tuple, np.ndarray)) else "a non-list"
            raise ValueError(f"expected {size} numbers in row {row_number}, got {count}")
    return [value for row in rows for value in row]


def _parse_number(token, position: int) -> float:
    """One kernel entry as a finite float that fits in float32, or a ValueError naming its position."""
    try:
        value = float(token)
    except (TypeError, ValueError) as error:
        raise ValueError(f"expected a number at position {position}, got {token!r}") from error
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number at position {position}, got {token!r}")
    if abs(value) > float(np.finfo(np.float32).max):
        raise ValueError(f"expected a number within float32 range at position {position}, got {token!r}")
    return value


def parse_custom_kernel(text_or_rows, size: int) -> np.ndarray:
    """A float32 (size, size) kernel from a list of rows or a string of numbers split by spaces, commas, ;."""
    if size not in CUSTOM_KERNEL_SIZES:
        raise ValueError(f"expected a kernel size of 3 or 5, got {size!r}")
    if isinstance(text_or_rows, str):
        tokens = [token for token in re.split(r"[\s,;]+", text_or_rows.strip()) if token]
        if len(tokens) != size * size:
            raise ValueError(f"expected {size * size} numbers for a {size}x{size} kernel, got {len(tokens)}")
    else:
        tokens = _kernel_rows_to_values(text_or_rows, size)
    values = [_parse_number(token, position) for position, token in enumerate(tokens, start=1)]
    return np.asarray(values, dtype=np.float32).reshape(size, size)


def ranked_matches(kernel, candidates: Mapping[str, np.ndarray] = HAND_MADE_KERNELS) -> list[tuple[str, float]]:
    """(name, signed cosine) of every candidate, most similar first by |cosine| (match_kernel's measure)."""
    scores = [(name, kernel_cosine(kernel, candidate)) for name, candidate in candidates.items()]
    return sorted(scores, key=lambda item: -abs(item[1]))  # stable: ties keep the candidates' order


def signed_name(name: str, cosine: float) -> str:
    """'sobel x' for a positive match, '\u2212sobel x' when the kernel is the candidate negated."""
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
    """Each kernel convolved (SAME, as tf.nn.conv2d) with a 28x28 image, stacked as (28, 28, count)."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape == (28, 28, 1):
        image = image[..., 0]
    if image.shape != (28, 28):
        raise ValueError(f"expected a 28x28 grayscale image, got shape {image.shape}")
    return np.stack([convolve2d(image, kernel) for kernel in kernels.values()], axis=-1)
