"""Turn a digit as a person draws it into a 28x28 MNIST-style image, the way MNIST itself was made.

The pipeline follows LeCun's recipe for MNIST: find the ink, crop to it, scale it so its longer
side is 20 pixels (keeping the aspect ratio, with antialiasing), then place it in a 28x28 frame so
that its centre of mass sits at the centre. Inputs are image files (PNG, JPEG, ...) or the RGBA
array a drawing canvas returns; both become a float "ink" array first (1 = ink, 0 = background),
whichever way round the picture was drawn. NumPy and Pillow only: no TensorFlow, no Streamlit.

Memory is bounded per upload by pixels, not bytes (a 76 KB PNG can hold 16 megapixels of RGBA):
an image is refused above MAX_SIDE x MAX_SIDE from its header alone, reduced to at most WORK_SIDE
pixels across while it is decoded (JPEG's own draft scaling, else Pillow's ``reduce``), and the
decoding happens DECODE_SLOTS uploads at a time in the whole process, whatever the number
of visitors. Everything after (the ink, the preview) works on the reduced copy, which is all the
28x28 result needs; a drawing up to WORK_SIDE across is read exactly as it is. ``read_upload`` decodes once for both the digit and the page's preview.

Try it: ``python -m cnn_core.common.preprocess drawing.png`` prints the 28x28 result as text.
"""
from __future__ import annotations

import contextlib
import io
import math
import sys
import threading
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 4096                      # Longest width or height accepted, in pixels.
MAX_PIXELS = MAX_SIDE * MAX_SIDE     # Most pixels accepted in one image.
MAX_BYTES = 10 * 1024 * 1024         # Largest file accepted, in bytes.
WORK_SIDE = 1024                     # Longest side an upload is reduced to while decoding: 50x the 20-px digit.
# Uploads decoded at once in the whole process: each holds up to MAX_PIXELS x 4 bytes (64 MB) while
# it decodes, then its reduced copy and ink (about 40 MB at WORK_SIDE).
DECODE_SLOTS = threading.BoundedSemaphore(2)
INK_THRESHOLD = 0.05                 # Ink fainter than this is treated as paper noise.
FRAME_SIDE = 28                      # MNIST images are 28x28.
DIGIT_BOX = 20                       # MNIST digits were scaled to fit a 20x20 box.
FRAME_CENTRE = 14.0                  # Where the centre of mass goes, in pixel indices.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L".
# Formats people upload drawings in. EPS and a few others are left out on purpose: Pillow hands
# them to outside programs such as Ghostscript, which is no place for untrusted uploads.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")
READABLE = "PNG, JPEG, GIF, BMP, WebP, TIFF or PPM"  # FORMATS, as a message says them
PREVIEW_SIDE = 400                   # Longest side of the preview a page shows of an upload.
# Errors Pillow raises for damaged files; they all mean "this is not a usable image".
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


NO_INK = "the image has no ink: it is blank, or its strokes are too faint to read"


class ImageError(ValueError):
    """An image that cannot be used; the one-line message says what is wrong with it."""


def load_image_file(path: str | Path) -> np.ndarray:
    """Read an image file and return its ink as float32 (height, width) in [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"no such file: {path}")
    if not path.is_file():
        raise ImageError(f"expected an image file, got a directory or special file: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImageError(_too_many_bytes(size))
        data = path.read_bytes()
    except OSError as error:
        raise ImageError(f"cannot read {path}: {error.strerror or error}") from error
    return load_image_bytes(data)


def load_image_bytes(data: bytes) -> np.ndarray:
    """Decode an encoded image (PNG, JPEG, ...) and return its ink as float32 in [0, 1], at most
    WORK_SIDE pixels across."""
    with decoded(data) as image:
        return _ink_from_image(image)


class Upload(NamedTuple):
    """An uploaded image, decoded once: the digit the model sees and a PNG preview for the page."""

    digit: np.ndarray   # (28, 28) float32, max 1
    preview: bytes      # an 8-bit PNG at most PREVIEW_SIDE across


def read_upload(data: bytes) -> Upload:
    """The digit and the preview of one upload, from a single bounded decode; ImageError if unusable."""
    with decoded(data) as image:
        digit = to_mnist(_ink_from_image(image))
        return Upload(digit, _preview(image, PREVIEW_SIDE))


@contextlib.contextmanager
def decoded(data: bytes):
    """The image in ``data``, decoded and reduced to at most WORK_SIDE across, upright (EXIF), as a
    Pillow image, for the ``with`` block. The block runs in one of DECODE_SLOTS: the full-resolution
    pixels are dropped before it starts, so a slot holds one reduced image and its ink arrays."""
    data = _checked_bytes(data)
    with DECODE_SLOTS:
        with _open_checked(data) as image:
            try:
                if image.format == "JPEG":  # The decoder itself scales by 1/2, 1/4 or 1/8.
                    image.draft("RGB" if image.mode not in ("L", "RGB") else image.mode, (WORK_SIDE, WORK_SIDE))
                image.load()
                upright = ImageOps.exif_transpose(_reduced(image, WORK_SIDE))
            except DECODE_ERRORS as error:
                raise ImageError(f"the image is damaged or truncated: {_one_line(error)}") from error
        try:
            yield upright
        finally:
            upright.close()


def _reduced(image: Image.Image, side: int) -> Image.Image:
    """A copy of a loaded image at most ``side`` pixels across, each pixel the mean of a box (ink stays ink)."""
    factor = math.ceil(max(image.size) / side)
    if image.mode in ("1", "P", "I;16", "I;16B", "I;16L", "I;16N"):  # modes reduce() cannot average
        image = image.convert("RGBA" if image.mode == "P" and image.has_transparency_data
                              else "RGB" if image.mode == "P" else "L" if image.mode == "1" else "I")
    if factor <= 1:
        return image.copy()
    reduced = image.reduce(factor)
    reduced.info = dict(image.info)  # The EXIF orientation, for exif_transpose.
    return reduced


def ink_from_rgba(rgba: np.ndarray) -> np.ndarray:
    """Turn an (height, width, 4) RGBA array, as a drawing canvas returns, into float32 ink."""
    array = np.asarray(rgba)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or 0 in array.shape:
        raise ImageError(f"expected an RGBA array of shape (height, width, 4), got {array.shape}")
    _check_size(width=array.shape[1], height=array.shape[0])
    values = _unit_range(array)
    luminance = values[..., :3] @ LUMA_WEIGHTS
    alpha = values[..., 3] if array.shape[2] == 4 else None
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None  # Every pixel is opaque, so the alpha channel carries no information.
    return _ink_from_planes(luminance, alpha)


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """Crop, scale and centre an ink array into a (28, 28) float32 MNIST digit with max 1."""
    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2 or 0 in ink.shape:
        raise ImageError(f"expected a 2-D ink array (height, width), got shape {ink.shape}")
    if not np.isfinite(ink).all():
        raise ImageError("expected finite ink values in [0, 1], got NaN or infinity")
    ink = np.where(ink < INK_THRESHOLD, 0.0, np.minimum(ink, 1.0)).astype(np.float32)
    if not ink.any():
        raise ImageError(NO_INK)
    digit = _centre_by_mass(_fit_box(_crop_to_ink(ink)))
    return (digit / digit.max()).astype(np.float32)


def _preview(image: Image.Image, max_side: int) -> bytes:
    """A decoded image as an 8-bit PNG at most ``max_side`` across. Browsers and ``st.image`` cannot
    show every mode Pillow reads: 16-bit greyscale and 32-bit images are scaled to 8 bits here the way
    preprocessing reads them."""
    try:
        if image.mode.startswith(("I", "F")):
            image = Image.fromarray(np.rint(_high_depth_luminance(image) * 255).astype(np.uint8), "L")
        elif image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        else:
            image = image.copy()
        image.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    except DECODE_ERRORS as error:
        raise ImageError(f"the image is damaged or truncated: {_one_line(error)}") from error
    return buffer.getvalue()


def preprocess_rgba(rgba: np.ndarray) -> np.ndarray:
    """A canvas RGBA array to a (28, 28) float32 MNIST digit."""
    return to_mnist(ink_from_rgba(rgba))


def _checked_bytes(data) -> bytes:
    """``data`` as bytes, refusing what is not bytes, empty or over MAX_BYTES."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"expected image bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ImageError("not an image: the data is empty")
    if len(data) > MAX_BYTES:
        raise ImageError(_too_many_bytes(len(data)))
    return data


def _open_checked(data: bytes) -> Image.Image:
    """Open image bytes, reading only the header, and refuse sizes over the limits."""
    try:
        # Pillow warns, then errors, on huge images. The warning is made an error for this call
        # only; the global Image.MAX_IMAGE_PIXELS is left alone because other code shares it.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_available_formats())
    except UnidentifiedImageError as error:
        if b"<svg" in data[:2048].lower():
            raise ImageError("not an image CNN Lab can read: SVG is a vector drawing; export it as PNG") from error
        raise ImageError(f"not an image CNN Lab can read; use {READABLE}") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError("image is far too large: Pillow refused it as a possible decompression "
                         f"bomb; the limit is {MAX_SIDE}x{MAX_SIDE}") from error
    except DECODE_ERRORS as error:
        raise ImageError(f"not a readable image: {_one_line(error)}") from error
    try:
        _check_size(*image.size)
    except ImageError:
        image.close()
        raise
    return image


def _available_formats() -> list[str]:
    """The names in FORMATS that this Pillow build can open (WebP, for one, is optional)."""
    Image.init()
    return [name for name in FORMATS if name in Image.OPEN]


def _check_size(width: int, height: int) -> None:
    """Refuse images wider, taller or bigger than the limits before any pixels are decoded."""
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(
            f"image is {width}x{height} pixels; the limit is {MAX_SIDE}x{MAX_SIDE}")


def _too_many_bytes(size: int) -> str:
    """The message for a file over MAX_BYTES."""
    return f"the file is {size / 2**20:.1f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB"


def _one_line(error: BaseException) -> str:
    """An exception's message squeezed onto one line."""
    return " ".join(str(error).split()) or type(error).__name__


def _unit_range(array: np.ndarray) -> np.ndarray:
    """Pixel values as float32 in [0, 1], from uint8 or from floats already in [0, 1]."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255
    if np.issubdtype(array.dtype, np.floating):
        if np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0:
            return array.astype(np.float32)
        raise ImageError("expected float pixel values in [0, 1], got values outside that range")
    raise ImageError(f"expected uint8 or float pixel values, got {array.dtype}")


def _ink_from_image(image: Image.Image) -> np.ndarray:
    """The ink of a decoded Pillow image, whatever its colour mode."""
    if image.mode.startswith(("I", "F")):
        return _ink_from_planes(_high_depth_luminance(image), alpha=None)
    try:
        if image.has_transparency_data:
            return ink_from_rgba(np.asarray(image.convert("RGBA")))
        luminance = np.asarray(image.convert("L"), dtype=np.float32) / 255
    except ImageError:
        raise
    except DECODE_ERRORS as error:
        raise ImageError(f"unsupported colour mode {image.mode}: {_one_line(error)}") from error
    return _ink_from_planes(luminance, alpha=None)


def _high_depth_luminance(image: Image.Image) -> np.ndarray:
    """Luminance in [0, 1] for 16-bit and 32-bit grayscale images, which "L" would clip."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        return (values / 65535).astype(np.float32)
    # 32-bit integer and float images have no fixed scale, so their own range is used.
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def _border(plane: np.ndarray) -> np.ndarray:
    """The pixels on the edge of a 2-D array, as one flat array."""
    return np.concatenate([plane[0], plane[-1], plane[1:-1, 0], plane[1:-1, -1]])


def _background_luminance(luminance: np.ndarray, alpha: np.ndarray | None) -> float:
    """The luminance of the paper, judged from the image border (and the strokes if see-through)."""
    border_luminance = _border(luminance)
    if alpha is None:
        return float(np.median(border_luminance))
    opaque_border = _border(alpha) >= 0.5
    if opaque_border.mean() >= 0.5:
        return float(np.median(border_luminance[opaque_border]))
    # A see-through background has no shade of its own, so the strokes are read as drawn over
    # the opposite shade: light strokes over black, dark strokes over white.
    total_alpha = float(alpha.sum())
    stroke_luminance = float((luminance * alpha).sum()) / total_alpha if total_alpha else 0.0
    return 0.0 if stroke_luminance > 0.5 else 1.0


def _ink_from_planes(luminance: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Ink in [0, 1]: how far each pixel's luminance is from the background, towards the ink."""
    background = _background_luminance(luminance, alpha)
    if alpha is not None:
        luminance = alpha * luminance + (1.0 - alpha) * background
    if background > 0.5:
        ink = (background - luminance) / background  # Dark ink on light paper is inverted.
    else:
        ink = (luminance - background) / (1.0 - background)  # Light ink on dark paper is kept.
    return np.clip(ink, 0.0, 1.0).astype(np.float32)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The smallest rectangle of ``ink`` that holds every non-zero pixel."""
    rows = np.flatnonzero(ink.any(axis=1))
    columns = np.flatnonzero(ink.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Scale ``crop`` so its longer side is DIGIT_BOX pixels, keeping the aspect ratio."""
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Lanczos on 32-bit float data antialiases when shrinking and stays sharp when enlarging;
    # it rings slightly below zero at hard edges, which the clip removes.
    resized = Image.fromarray(crop.astype(np.float32)).resize(new_size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in a 28x28 frame with its centre of mass as near (14, 14) as fits."""
    total = float(digit.sum())
    if total <= 0.0:
        raise ImageError(NO_INK)
    height, width = digit.shape
    rows, columns = np.indices(digit.shape)
    centre_row = float((rows * digit).sum()) / total
    centre_column = float((columns * digit).sum()) / total
    top = _clamp(int(np.floor(FRAME_CENTRE - centre_row + 0.5)), 0, FRAME_SIDE - height)
    left = _clamp(int(np.floor(FRAME_CENTRE - centre_column + 0.5)), 0, FRAME_SIDE - width)
    frame = np.zeros((FRAME_SIDE, FRAME_SIDE), dtype=np.float32)
    frame[top:top + height, left:left + width] = digit
    return frame


def _clamp(value: int, low: int, high: int) -> int:
    """``value`` limited to the range [low, high]."""
    return max(low, min(value, high))


def _as_text(image28: np.ndarray) -> str:
    """A 28x28 image drawn with characters, darkest to brightest, for a quick look."""
    shades = " .:-=+*#%@"
    levels = np.rint(np.clip(image28, 0.0, 1.0) * (len(shades) - 1)).astype(int)
    return "\n".join("".join(shades[level] for level in row) for row in levels)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cnn_core.common.preprocess IMAGE_FILE")
    try:
        print(_as_text(to_mnist(load_image_file(sys.argv[1]))))
    except ImageError as error:
        sys.exit(f"error: {error}")
