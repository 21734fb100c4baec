"""Tile grids (cnn_core.plots.tiles): one tiny PNG per channel, on the app's two colour scales."""
import base64
import io

import numpy as np
import pytest
from PIL import Image

from cnn_core.plots.tiles import colourize, digit_tiles, paired_tiles, tile_stack


def pixels(source: str) -> np.ndarray:
    """The RGB pixels of a tile's PNG data URI."""
    assert source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"))


def test_each_channel_is_one_png_with_one_pixel_per_value():
    stack = np.random.default_rng(0).normal(size=(3, 3, 5))
    grid = tile_stack(stack, value_name="weight")
    assert len(grid.tiles) == 5 and grid.side == 3
    assert all(pixels(tile.sources[0]).shape == (3, 3, 3) for tile in grid.tiles)
    assert [tile.label for tile in grid.tiles] == ["#0", "#1", "#2", "#3", "#4"]
    assert grid.legend.kind == "signed" and grid.legend.low == -grid.legend.high == -np.abs(stack).max()


def test_signed_values_are_blue_white_red_and_ink_is_light_on_dark():
    signed = colourize(np.array([[-1.0, 0.0, 1.0]]), "signed", -1.0, 1.0)[0]
    assert signed[0][2] > signed[0][0] and signed[2][0] > signed[2][2]  # blue negative, red positive
    assert signed[1].min() > 240  # zero is white
    ink = colourize(np.array([[0.0, 1.0]]), "ink", 0.0, 1.0)[0]
    assert ink[0].tolist() == [0, 0, 0] and ink[1].tolist() == [255, 255, 255]  # as MNIST stores a digit


def test_digits_are_light_on_dark_whether_bytes_or_floats():
    digit = np.zeros((28, 28), np.uint8)
    digit[10:18, 13:15] = 255
    from_bytes = digit_tiles(digit[None], ["a"]).tiles[0].sources[0]
    from_floats = digit_tiles(digit[None] / 255.0, ["a"]).tiles[0].sources[0]
    assert from_bytes == from_floats
    picture = pixels(from_bytes)
    assert picture[0, 0].tolist() == [0, 0, 0] and picture[12, 13].tolist() == [255, 255, 255]


def test_per_tile_scales_each_tile_by_its_own_peak_and_limits_fix_the_scale():
    stack = np.stack([np.full((2, 2), 0.1), np.full((2, 2), 10.0)], axis=-1)
    per_tile = tile_stack(stack, per_tile=True)
    assert per_tile.tiles[0].sources == per_tile.tiles[1].sources  # both at their own maximum
    assert per_tile.legend.name == "÷ tile max"
    fixed = tile_stack(stack, limits=(0.0, 20.0))
    assert pixels(fixed.tiles[1].sources[0])[0, 0, 0] == 128  # 10 on a 0-20 scale: half way


def test_pairs_hold_two_pictures_and_bad_shapes_say_what_was_expected():
    first = tile_stack(np.ones((3, 3, 2)))
    pairs = paired_tiles(first, first, ["x", "y"], order=[1, 0])
    assert [len(tile.sources) for tile in pairs.tiles] == [2, 2] and pairs.tiles[0].label == "x"
    with pytest.raises(ValueError, match="expected a \\(height, width, count\\) stack"):
        tile_stack(np.ones((3, 3)))
    with pytest.raises(ValueError, match="expected 2 labels"):
        tile_stack(np.ones((3, 3, 2)), labels=["only one"])
