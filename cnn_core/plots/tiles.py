"""Grids of small pictures (kernels, feature maps, digits) as tiles: one tiny PNG and a label each.

The pages draw a grid as a CSS grid of these images (``pages/tile_view.py``), so that on a narrow
screen it reflows into fewer columns instead of shrinking every tile below legibility, and each
tile can be clicked. This module only turns NumPy stacks into tiles; nothing here knows about
Streamlit. A tile's PNG holds one pixel per value (a 3x3 kernel is a 3x3 image): the browser
scales it up without smoothing, so every value stays a crisp square.

One colour convention for every view of the app:
  ink     digits and maps that cannot be negative (after ReLU, pooling): light on dark, as MNIST
          stores its digits (0 black, the largest value white)
  signed  kernels and maps before ReLU: blue negative, white zero, red positive

    grid = tile_stack(kernels, labels=["#0", "#1", ...], signed=True)   # kernels: (3, 3, 32)
    grid.tiles[0].src   # 'data:image/png;base64,...'
    grid.legend         # Legend("weight", "signed", -0.41, 0.41)
"""
from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

# ColorBrewer RdBu, reversed (negative blue, zero near white, positive red): Plotly's "RdBu_r",
# so that a kernel looks the same here as in the Plotly heatmaps beside it.
SIGNED_STOPS = ((5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240), (247, 247, 247),
                (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31))
INK_STOPS = ((0, 0, 0), (255, 255, 255))
KINDS = {"signed": SIGNED_STOPS, "ink": INK_STOPS}


@dataclass(frozen=True)
class Tile:
    """One picture of a grid: its image(s) side by side, a short label under it, a longer hover text."""

    sources: tuple[str, ...]  # PNG data URIs; two for a pair of kernels shown together
    label: str
    title: str = ""


@dataclass(frozen=True)
class Legend:
    """What the colours mean: the value's name, the colour scale, and the values at its two ends."""

    name: str
    kind: str      # "signed" or "ink"
    low: float
    high: float

    def gradient(self) -> str:
        """The scale as a CSS linear-gradient, low values on the left."""
        stops = KINDS[self.kind]
        return "linear-gradient(to right, " + ", ".join(f"rgb{stop}" for stop in stops) + ")"

    def as_dict(self) -> dict:
        return {"name": self.name, "gradient": self.gradient(), "low": _number(self.low),
                "high": _number(self.high), "middle": "0" if self.kind == "signed" else ""}


@dataclass(frozen=True)
class TileGrid:
    """Tiles that share one legend, and the pixel side of the data they show (28 for a map of 28x28)."""

    tiles: tuple[Tile, ...]
    legend: Legend | None
    side: int


def colourize(values: np.ndarray, kind: str, low: float, high: float) -> np.ndarray:
    """(h, w) values -> (h, w, 3) uint8 colours on the ``kind`` scale from ``low`` to ``high`` (NaN: grey)."""
    values = np.asarray(values, np.float64)
    stops = np.asarray(KINDS[kind], np.float64)  # (stops, 3)
    span = high - low if high > low else 1.0
    position = np.clip((np.nan_to_num(values, nan=low) - low) / span, 0.0, 1.0) * (len(stops) - 1)
    below = np.minimum(position.astype(int), len(stops) - 2)
    weight = (position - below)[..., None]
    colours = stops[below] * (1 - weight) + stops[below + 1] * weight
    colours[np.isnan(values)] = (128, 128, 128)
    return colours.round().astype(np.uint8)


def png_source(rgb: np.ndarray) -> str:
    """A (h, w, 3) uint8 picture as a PNG data URI (a few hundred bytes for a 28x28 map)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buffer, format="PNG", compress_level=zlib.Z_BEST_SPEED)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def scale_for(stack: np.ndarray, signed: bool | None, per_tile: bool) -> tuple[str, float, float]:
    """The colour scale a stack is drawn on: (kind, low, high); per-tile scales run from 0 (or -1) to 1."""
    signed = bool((stack < 0).any()) if signed is None else signed
    if per_tile:
        return ("signed", -1.0, 1.0) if signed else ("ink", 0.0, 1.0)
    peak = float(np.nanmax(np.abs(stack))) if stack.size else 0.0
    peak = peak or 1.0
    return ("signed", -peak, peak) if signed else ("ink", 0.0, peak)


def tile_stack(stack, labels: Sequence[str] | None = None, titles: Sequence[str] | None = None,
               signed: bool | None = None, per_tile: bool = False, value_name: str = "value",
               limits: tuple[float, float] | None = None) -> TileGrid:
    """Tiles from a (height, width, count) stack: one tile per channel, all on one colour scale.

    ``signed=None`` picks the signed scale when any value is negative. ``per_tile=True`` scales each
    tile by its own largest |value| (weak channels stay visible; the legend then reads "÷ tile max").
    ``limits`` fixes the scale's ends, so that pictures drawn at different moments compare.
    """
    stack = np.asarray(stack, np.float64)
    if stack.ndim != 3 or 0 in stack.shape:
        raise ValueError(f"expected a (height, width, count) stack, got shape {stack.shape}")
    count = stack.shape[2]
    labels = list(labels) if labels is not None else [f"#{number}" for number in range(count)]
    titles = list(titles) if titles is not None else labels
    if len(labels) != count or len(titles) != count:
        raise ValueError(f"expected {count} labels and titles, one per tile, got {len(labels)} and {len(titles)}")
    kind, low, high = scale_for(stack, signed, per_tile)
    if limits is not None:
        low, high = limits
        kind = "signed" if low < 0 else "ink"
    tiles = []
    for number in range(count):
        picture = stack[:, :, number]
        if per_tile:
            peak = float(np.abs(picture).max()) or 1.0
            picture = picture / peak
        tiles.append(Tile((png_source(colourize(picture, kind, low, high)),), labels[number], titles[number]))
    legend = Legend("÷ tile max" if per_tile else value_name, kind, low, high)
    return TileGrid(tuple(tiles), legend, max(stack.shape[0], stack.shape[1]))


def digit_tiles(images: np.ndarray, labels: Sequence[str], titles: Sequence[str] | None = None) -> TileGrid:
    """Digits (count, 28, 28) as bytes 0-255 or floats in [0, 1], light on dark, without a legend."""
    images = np.asarray(images, np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected a (count, height, width) stack of digits, got shape {images.shape}")
    images = images / 255.0 if images.size and images.max() > 1.0 else images
    grid = tile_stack(np.moveaxis(images, 0, -1), labels, titles, signed=False, limits=(0.0, 1.0))
    return TileGrid(grid.tiles, None, grid.side)


def paired_tiles(first: TileGrid, second: TileGrid, labels: Sequence[str], titles: Sequence[str] | None = None,
                 order: Sequence[int] | None = None) -> TileGrid:
    """Tiles of two pictures side by side (a kernel and its partner): first[i] beside second[i], in ``order``."""
    order = list(order) if order is not None else list(range(len(first.tiles)))
    titles = list(titles) if titles is not None else list(labels)
    tiles = tuple(Tile(first.tiles[index].sources + second.tiles[index].sources, label, title)
                  for index, label, title in zip(order, labels, titles))
    return TileGrid(tiles, first.legend, first.side)


def _number(value: float) -> str:
    """A legend's end value, short: 0.41, 12.3, 1.2e-03."""
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 0.01:
        return f"{value:.3g}".replace("-", "\u2212")
    return f"{value:.1e}".replace("-", "\u2212")
