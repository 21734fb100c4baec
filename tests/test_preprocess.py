"""Tests for cnn_core.common.preprocess: drawn digits become MNIST-style 28x28 images; bad images fail clearly.

Digits are synthesised with Pillow's ImageDraw, so no files or TensorFlow are needed.
Run: ``python -m pytest -q tests/test_preprocess.py``
"""
from __future__ import annotations

import ast
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from cnn_core.common import preprocess
from cnn_core.common.preprocess import (MAX_BYTES, ImageError, ink_from_rgba, load_image_bytes, load_image_file,
                                        preprocess_rgba, read_upload, to_mnist)

WHITE, BLACK = 255, 0


def digit_of(data: bytes) -> np.ndarray:
    """The (28, 28) digit the Predict page makes of an upload."""
    return read_upload(data).digit


def preview_of(data: bytes) -> bytes:
    """The PNG preview the Predict page shows of an upload."""
    return read_upload(data).preview


def draw_digit(digit: str, canvas: tuple[int, int], box: tuple[int, int, int, int],
               ink: int = WHITE, paper: int = BLACK) -> Image.Image:
    """A grayscale canvas (width, height) with ``digit`` drawn thickly inside ``box``."""
    image = Image.new("L", canvas, paper)
    pen = ImageDraw.Draw(image)
    left, top, right, bottom = box
    stroke = max(2, (bottom - top) // 8)
    if digit == "1":
        middle = (left + right) // 2
        pen.line([(middle, top), (middle, bottom)], fill=ink, width=stroke)
    elif digit == "7":
        pen.line([(left, top + stroke // 2), (right, top + stroke // 2)], fill=ink, width=stroke)
        pen.line([(right, top), ((left + right) // 2, bottom)], fill=ink, width=stroke)
    elif digit == "0":
        pen.ellipse(box, outline=ink, width=stroke)
    return image


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    """``image`` saved to bytes in ``image_format``."""
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def centre_of_mass(image28: np.ndarray) -> tuple[float, float]:
    """The (row, column) centre of mass of a 2-D image, in pixel indices."""
    rows, columns = np.indices(image28.shape)
    total = image28.sum()
    return float((rows * image28).sum() / total), float((columns * image28).sum() / total)


def ink_extent(image28: np.ndarray) -> int:
    """The longer side of the bounding box of the non-zero pixels."""
    rows = np.flatnonzero(image28.any(axis=1))
    columns = np.flatnonzero(image28.any(axis=0))
    return max(rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1)


def png_header_claiming(width: int, height: int, genuine: bool) -> bytes:
    """A 1-bit grayscale PNG of ``width``x``height``; all-zero pixel data if ``genuine``."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        """One PNG chunk: length, kind, payload, CRC."""
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))

    compressor = zlib.compressobj(9)
    if genuine:
        row = bytes(1 + (width + 7) // 8)  # A filter byte, then the packed pixels of one row.
        pixels = b"".join(compressor.compress(row) for _ in range(height))
    else:
        pixels = compressor.compress(bytes(16))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", pixels + compressor.flush()) + chunk(b"IEND", b""))


def assert_mnist_like(image28: np.ndarray) -> None:
    """The properties every preprocessed digit must have, as MNIST's own digits do."""
    assert image28.shape == (28, 28)
    assert image28.dtype == np.float32
    assert image28.min() >= 0.0 and image28.max() == 1.0
    assert abs(ink_extent(image28) - 20) <= 1
    row, column = centre_of_mass(image28)
    assert abs(row - 14) <= 1 and abs(column - 14) <= 1, (row, column)


DRAWINGS = {
    "centred 280": ((280, 280), (100, 40, 180, 240)),
    "corner 64": ((64, 64), (2, 2, 22, 32)),
    "off-centre wide canvas": ((1000, 600), (700, 350, 900, 590)),
    "small 10 px tall": ((280, 280), (260, 265, 266, 275)),
    "fills the canvas": ((280, 280), (0, 0, 279, 279)),
}


@pytest.mark.parametrize("digit", ["1", "7", "0"])
@pytest.mark.parametrize("name", DRAWINGS)
def test_drawn_digits_become_mnist_like(digit, name):
    canvas, box = DRAWINGS[name]
    white_on_black = digit_of(encode(draw_digit(digit, canvas, box)))
    black_on_white = digit_of(encode(draw_digit(digit, canvas, box, BLACK, WHITE)))
    assert_mnist_like(white_on_black)
    assert_mnist_like(black_on_white)
    assert np.abs(white_on_black - black_on_white).mean() < 0.01


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_position_and_canvas_do_not_change_the_result(digit):
    centred = digit_of(encode(draw_digit(digit, (280, 280), (100, 40, 180, 240))))
    in_corner = digit_of(encode(draw_digit(digit, (280, 280), (0, 0, 80, 200))))
    wide = digit_of(encode(draw_digit(digit, (1000, 600), (800, 380, 880, 580))))
    assert np.abs(centred - in_corner).mean() < 0.01
    assert np.abs(centred - wide).mean() < 0.01


def test_small_and_large_drawings_of_one_digit_look_alike():
    small = digit_of(encode(draw_digit("0", (280, 280), (5, 5, 21, 29))))
    large = digit_of(encode(draw_digit("0", (1000, 600), (100, 0, 500, 599))))
    assert np.abs(small - large).mean() < 0.1


def test_transparent_background_gives_the_same_digit():
    drawing = draw_digit("7", (280, 280), (60, 40, 200, 240))
    opaque = digit_of(encode(drawing))
    for stroke_colour in [(255, 255, 255), (0, 0, 0), (20, 60, 200)]:
        layer = Image.new("RGBA", drawing.size, (0, 0, 0, 0))
        layer.paste(Image.new("RGBA", drawing.size, stroke_colour + (255,)), mask=drawing)
        see_through = digit_of(encode(layer))
        assert_mnist_like(see_through)
        assert np.abs(see_through - opaque).mean() < 0.02, stroke_colour


def test_canvas_rgba_arrays_with_black_or_transparent_background():
    drawing = np.asarray(draw_digit("1", (280, 280), (100, 40, 180, 240)))
    white = np.full(drawing.shape, 255, dtype=np.uint8)
    opaque_black = np.dstack([drawing, drawing, drawing, white])
    transparent = np.dstack([white, white, white, drawing])
    expected = digit_of(encode(Image.fromarray(drawing)))
    for rgba in (opaque_black, transparent):
        assert_mnist_like(preprocess_rgba(rgba))
        np.testing.assert_allclose(preprocess_rgba(rgba), expected, atol=1e-5)


def test_ink_arrays_are_float_in_unit_range_with_ink_as_one():
    ink = load_image_bytes(encode(draw_digit("1", (64, 64), (20, 10, 40, 50), BLACK, WHITE)))
    assert ink.dtype == np.float32 and ink.shape == (64, 64)
    assert ink[0, 0] == 0.0 and ink[30, 30] == 1.0


def test_photo_of_grey_paper_in_jpeg_loses_its_background():
    drawing = draw_digit("0", (300, 400), (80, 80, 220, 320), ink=60, paper=190)
    noise = np.random.default_rng(0).integers(-4, 5, size=(400, 300))
    photo = Image.fromarray(np.clip(np.asarray(drawing, int) + noise, 0, 255).astype(np.uint8))
    assert_mnist_like(digit_of(encode(photo, "JPEG")))


def test_load_image_file_matches_bytes(tmp_path):
    data = encode(draw_digit("7", (280, 280), (60, 40, 200, 240)))
    path = tmp_path / "seven.png"
    path.write_bytes(data)
    np.testing.assert_array_equal(load_image_file(path), load_image_bytes(data))


@pytest.mark.parametrize("data, message", [
    (b"", "not an image: the data is empty"),
    (np.random.default_rng(1).bytes(5000), "not an image CNN Lab can read; use PNG, JPEG, GIF"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L9 9"/></svg>',
     "SVG is a vector drawing; export it as PNG"),
    # Blank: an upload is no drawing, so the message does not say "draw a digit first".
    (encode(Image.new("L", (280, 280), 0)), "^the image has no ink: it is blank, or its strokes are too faint to read$"),
    (encode(Image.new("RGB", (280, 280), (255, 255, 255))), "the image has no ink"),
    (encode(Image.new("RGBA", (64, 64), (255, 255, 255, 0))), "the image has no ink"),
])
def test_bad_bytes_raise_image_error(data, message):
    with pytest.raises(ImageError, match=message):
        digit_of(data)


def test_truncated_png_is_refused():
    data = encode(draw_digit("0", (280, 280), (60, 40, 200, 240)))
    with pytest.raises(ImageError, match="damaged or truncated|not a readable image"):
        load_image_bytes(data[: len(data) // 2])


def test_too_many_bytes_are_refused_before_decoding():
    with pytest.raises(ImageError, match="the limit is 10 MB"):
        load_image_bytes(bytes(MAX_BYTES + 1))


@pytest.mark.parametrize("side, message", [
    (8_000, "image is 8000x8000 pixels; the limit is 4096x4096"),
    (20_000, "image is far too large: .* decompression bomb; the limit is 4096x4096"),
])
def test_decompression_bomb_is_refused_without_decoding(monkeypatch, side, message):
    bomb = png_header_claiming(side, side, genuine=True)
    assert len(bomb) < 200_000  # Many millions of pixels in a small file: a genuine bomb.

    def refuse_to_decode(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)
    with pytest.raises(ImageError, match=message):  # load is patched to fail: nothing was decoded
        load_image_bytes(bomb)


@pytest.mark.parametrize("side", [5_000, 10_000, 50_000])
def test_huge_declared_sizes_are_refused(side):
    filters_before = list(warnings.filters)
    with pytest.raises(ImageError, match="image is .*the limit is 4096x4096"):
        load_image_bytes(png_header_claiming(side, side, genuine=False))
    assert warnings.filters == filters_before  # The per-call warning filter was undone.


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image_file(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="expected an image file, got a directory"):
        load_image_file(tmp_path)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.truncate(MAX_BYTES + 1)  # A sparse file: large on paper, nothing written.
    with pytest.raises(ImageError, match="the limit is 10 MB"):
        load_image_file(path)


@pytest.mark.parametrize("array, message", [
    (np.zeros((28, 28), np.uint8), r"expected an RGBA array of shape \(height, width, 4\)"),
    (np.zeros((0, 5, 4), np.uint8), "expected an RGBA array"),
    (np.zeros((8, 8, 4), np.int64), "expected uint8 or float pixel values, got int64"),
    (np.full((8, 8, 4), 2.0), r"expected float pixel values in \[0, 1\]"),
    (np.zeros((5000, 1, 4), np.uint8), "image is 1x5000 pixels; the limit is 4096x4096"),
])
def test_bad_canvas_arrays_are_refused(array, message):
    with pytest.raises(ImageError, match=message):
        ink_from_rgba(array)


def test_to_mnist_refuses_bad_ink_arrays():
    with pytest.raises(ImageError, match="expected a 2-D ink array"):
        to_mnist(np.zeros((4, 4, 3)))
    with pytest.raises(ImageError, match="NaN or infinity"):
        to_mnist(np.full((4, 4), np.nan))
    with pytest.raises(ImageError, match="no ink"):
        to_mnist(np.full((40, 40), 0.04))  # Faint noise below the threshold is not ink.


def test_messages_are_one_line_and_errors_are_value_errors():
    with pytest.raises(ValueError) as caught:
        load_image_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert "\n" not in str(caught.value)


def test_module_imports_neither_tensorflow_nor_streamlit():
    tree = ast.parse(Path(preprocess.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"tensorflow", "keras", "streamlit", "torch"}


def test_a_16_bit_greyscale_png_gets_an_8_bit_preview_a_browser_can_show():
    """st.image could not show an I;16 upload (it tried JPEG); the preview is 8-bit PNG, same picture."""
    digit = np.asarray(draw_digit("7", (120, 90), (30, 10, 90, 80)), dtype=np.uint16) * 257  # 0..65535
    data = encode(Image.fromarray(digit))  # uint16 -> mode I;16
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    preview = Image.open(io.BytesIO(preview_of(data)))
    assert preview.format == "PNG" and preview.mode == "L" and preview.size == (120, 90)
    np.testing.assert_array_equal(np.asarray(preview), (digit // 257).astype(np.uint8))
    assert digit_of(data).shape == (28, 28)  # and the model reads it, as the CLI does


@pytest.mark.parametrize("fmt, mode", [("GIF", "P"), ("TIFF", "L"), ("PNG", "RGBA"), ("JPEG", "CMYK"), ("BMP", "1")])
def test_previews_of_other_formats_and_modes_are_small_pngs(fmt, mode):
    image = draw_digit("1", (900, 600), (300, 100, 500, 500)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    preview = Image.open(io.BytesIO(preview_of(buffer.getvalue())))
    assert preview.format == "PNG" and max(preview.size) == 400 and preview.mode in ("L", "RGB", "RGBA")
    assert digit_of(buffer.getvalue()).max() == pytest.approx(1.0)


def test_a_preview_refuses_what_preprocessing_refuses():
    for data, message in ((b"", "the data is empty"), (b"plain text", "not an image CNN Lab can read")):
        with pytest.raises(ImageError, match=message):
            preview_of(data)


def big_rgba_png(side: int = 4096) -> bytes:
    """Issue 19's upload: a small PNG (tens of KB) of side x side RGBA pixels, a digit on transparency."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(side // 2, side // 8), (side // 2, side * 7 // 8)], fill=(255, 255, 255, 255),
                               width=side // 12)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_big_upload_is_read_from_a_reduced_copy_with_one_decode():
    data = big_rgba_png()
    assert len(data) < 200_000
    digit, preview = preprocess.read_upload(data)
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(1.0)
    assert Image.open(io.BytesIO(preview)).size == (400, 400)
    assert load_image_bytes(data).shape == (preprocess.WORK_SIDE, preprocess.WORK_SIDE)


MEMORY_PROBE = """
import io, resource, sys, threading
from PIL import Image, ImageDraw
sys.path.insert(0, {root!r})
from cnn_core.common import preprocess
from cnn_core.server.memory import tune_malloc
from tests.test_preprocess import big_rgba_png
assert tune_malloc()  # as the web server does at its start (app.py)
data = big_rgba_png()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
threads = [threading.Thread(target=preprocess.read_upload, args=(data,)) for _ in range({visitors})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
current = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")][0]
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, (current - before) / 1024)
"""


@pytest.mark.parametrize("visitors", [1, 5])
def test_uploads_of_16_megapixels_at_once_stay_within_a_memory_budget(visitors):
    """Issue 19: one such upload peaked at 1,170 MB, five at once took the server to 3,695 MB. Now each
    decode holds at most 64 MB of full-resolution pixels and DECODE_SLOTS of them run at once."""
    import subprocess
    import sys

    code = MEMORY_PROBE.format(root=str(Path(preprocess.__file__).resolve().parents[2]), visitors=visitors)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    grew_mb, held_mb = map(float, result.stdout.split()[-2:])
    assert grew_mb < 110 * min(visitors, preprocess.DECODE_SLOTS._initial_value), f"peak grew {grew_mb:.0f} MB"
    assert held_mb < 30, f"{held_mb:.0f} MB still held after the uploads"
