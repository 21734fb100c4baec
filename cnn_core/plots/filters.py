"""Plotly figures for the Filters page, as pure functions of NumPy arrays.

Every grid (kernels, feature maps, filtered images) is drawn as ONE heatmap: the tiles are laid
side by side in a mosaic with a one-cell gap of NaN between them. One trace of a few thousand cells
serialises and draws far faster than dozens of subplots, which matters when a page redraws on every
click. Kernels use a diverging scale centred on zero (blue negative, white zero, red positive), so
a kernel's sign pattern reads at a glance. The 784x784 convolution matrix is sent as a small PNG
(one pixel per entry), not as 614,656 heatmap cells.
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
SEQUENTIAL = [[0.0, "black"], [1.0, "white"]]  # non-negative maps: light on dark, as MNIST stores its digits
COLORBAR_PIXELS = 80   # room the colour bar takes beside the plot
LABEL_PIXELS = 16      # height of one line of tile label


def tile_origins(shape: tuple[int, int, int], columns: int, gap: int = 1, title_rows: int = 0) -> list[tuple[int, int]]:
    """(top, left) of each tile in the mosaic; ``title_rows`` empty rows above every tile make room for a label."""
    height, width, count = shape
    step_down, step_across = height + gap + title_rows, width + gap
    return [((number // columns) * step_down + title_rows, (number % columns) * step_across)
            for number in range(count)]


def mosaic(stack: np.ndarray, columns: int, gap: int = 1, title_rows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tile a (height, width, count) stack into one 2-D array with NaN gaps, and each cell's tile index (-1: gap)."""
    height, width, count = stack.shape
    origins = tile_origins(stack.shape, columns, gap, title_rows)
    rows = math.ceil(count / columns)
    shape = (rows * (height + gap + title_rows) - gap, columns * (width + gap) - gap)
    tiled = np.full(shape, np.nan, dtype=np.float64)
    index = np.full(shape, -1, dtype=np.int64)
    for number, (top, left) in enumerate(origins):
        tiled[top:top + height, left:left + width] = stack[:, :, number]
        index[top:top + height, left:left + width] = number
    return tiled, index


def default_columns(count: int) -> int:
    """Eight tiles a row for 32 channels, sixteen for more (64 would be too tall); a few get one row."""
    return max(1, count if count <= 12 else 8 if count <= 32 else 16)


def fitting_height(shape: tuple[int, int], width: int, title: bool) -> int:
    """The height that lets square cells of a (rows, columns) picture fill a chart about ``width`` px wide.

    Plotly cannot size a chart by its aspect ratio, and cells are kept square, so a height chosen
    without the shape leaves wide empty bands around the grid or shrinks it to a strip.
    """
    rows, columns = shape
    plot_width = max(100, width - COLORBAR_PIXELS)
    return int(min(1600, max(120, plot_width * rows / columns + (44 if title else 8))))


def _picture_layout(shape: tuple[int, int], title: str, height: int | None, width: int, **extra) -> dict:
    """Square cells, no axes, y down (as images are), a height that fits the picture's shape.

    A plain dict handed to the Figure constructor: Plotly validates it once, where separate
    update_xaxes / update_yaxes / update_layout calls would validate three times.
    """
    return dict(
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain"),
        title=dict(text=title, font=dict(size=14)) if title else None,
        height=height or fitting_height(shape, width, bool(title)),
        margin=dict(l=4, r=4, t=40 if title else 4, b=4), plot_bgcolor="white", **extra)


def _tile_titles(titles, origins, width) -> list[dict]:
    """Small labels in the empty rows above each tile (kernel number, match name...).

    Returned as plain dicts for the layout and set all at once: ``add_annotation`` one by one
    re-validates the whole layout each time, which grows with the square of the tile count.
    """
    return [dict(x=left + (width - 1) / 2, y=top - 0.5, text=text, showarrow=False, yanchor="bottom",
                 font=dict(size=10), xref="x", yref="y") for text, (top, left) in zip(titles, origins)]


def tile_grid(stack, titles: Sequence[str] | None = None, columns: int | None = None, title: str = "",
              diverging: bool | None = None, per_tile: bool = True, height: int | None = None,
              value_name: str = "value", width: int = 900) -> go.Figure:
    """A grid of 2-D tiles from a (height, width, count) stack: kernels, feature maps or filtered images.

    ``width`` is the chart's expected on-screen width in pixels, used to choose its height.
    ``diverging=None`` picks the zero-centred diverging scale when any value is negative.
    ``per_tile=True`` scales each tile by its own largest |value|, so weak channels stay visible;
    hovering always shows the raw value.
    """
    stack = np.asarray(stack, dtype=np.float64)
    if stack.ndim != 3 or 0 in stack.shape:
        raise ValueError(f"expected a (height, width, count) stack, got shape {stack.shape}")
    tile_height, tile_width, count = stack.shape
    columns = columns or default_columns(count)
    diverging = bool((stack < 0).any()) if diverging is None else diverging
    if per_tile:
        peak = np.abs(stack).max(axis=(0, 1), keepdims=True)
        shown = stack / np.where(peak > 0, peak, 1.0)
        limit = 1.0
    else:
        shown, limit = stack, float(np.abs(stack).max()) or 1.0
    # Enough empty rows above each tile for one line of 10 px text at the expected cell size.
    cell_pixels = max(100, width - COLORBAR_PIXELS) / (columns * (tile_width + 1) - 1)
    title_rows = max(1, math.ceil(LABEL_PIXELS / cell_pixels))
    # float32 halves what goes to the browser (Plotly sends arrays as binary); the raw values ride
    # along for the hover only when the picture shows scaled ones.
    tiled, _ = mosaic(shown, columns, title_rows=title_rows)
    raw = mosaic(stack, columns, title_rows=title_rows)[0].astype(np.float32) if per_tile else None
    value = "%{customdata:.4f}" if per_tile else "%{z:.4f}"
    labels = list(titles) if titles is not None else [f"#{number}" for number in range(count)]
    heatmap = go.Heatmap(
        z=tiled.astype(np.float32), customdata=raw,
        colorscale=DIVERGING if diverging else SEQUENTIAL,
        zmin=-limit if diverging else 0.0, zmax=limit, zmid=0.0 if diverging else None,
        hovertemplate=f"{value_name} {value}<extra></extra>", hoverongaps=False, showscale=True,
        colorbar=dict(thickness=10, title=dict(text="÷ tile max" if per_tile else value_name, side="right")))
    annotations = _tile_titles(labels, tile_origins(stack.shape, columns, title_rows=title_rows), tile_width)
    # The label rows above the first tile row lie outside the data, so count them in the shape.
    shape = (tiled.shape[0] + title_rows, tiled.shape[1])
    return go.Figure(heatmap, layout=_picture_layout(shape, title, height, width, annotations=annotations))


def image_figure(image, title: str = "", diverging: bool | None = None, height: int | None = None,
                 width: int = 320, show_values: bool = False, colour_bar: bool = True) -> go.Figure:
    """One 2-D image or map: light on dark like a digit, or the diverging scale when it has negative values.

    ``show_values`` writes each cell's number in it and drops the colour bar (for small kernels).
    """
    image = np.asarray(image, dtype=np.float64)
    diverging = bool((image < 0).any()) if diverging is None else diverging
    limit = float(np.abs(image).max()) or 1.0
    heatmap = go.Heatmap(
        z=image.astype(np.float32), colorscale=DIVERGING if diverging else SEQUENTIAL,
        zmin=-limit if diverging else 0.0, zmax=limit, zmid=0.0 if diverging else None,
        hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>",
        texttemplate="%{z:.3~g}" if show_values else None, showscale=colour_bar and not show_values,
        colorbar=dict(thickness=10))
    if show_values or not colour_bar:
        width += COLORBAR_PIXELS  # no colour bar takes that room
    return go.Figure(heatmap, layout=_picture_layout(image.shape, title, height, width))


def sparsity_figure(matrix, title: str = "", height: int = 520, block: int = 2) -> go.Figure:
    """The sparsity pattern of the whole convolution matrix: dark where an entry is not zero.

    Each on-screen pixel covers a ``block`` x ``block`` square of entries (dark if any is non-zero):
    784 entries do not fit across a half-width column, and a browser shrinking the picture itself
    would blur one-entry-wide diagonals into grey. Signs are left to the zoomed block, where they
    can be seen; here the point is how few entries are not zero.
    """
    matrix = np.asarray(matrix)
    rows, columns = (math.ceil(side / block) for side in matrix.shape)
    padded = np.zeros((rows * block, columns * block), dtype=bool)
    padded[:matrix.shape[0], :matrix.shape[1]] = matrix != 0
    occupied = padded.reshape(rows, block, columns, block).any(axis=(1, 3))
    picture = Image.fromarray(np.where(occupied, 30, 255).astype(np.uint8))  # dark ink on white
    # One PNG (a few kB for a banded matrix) instead of 614,656 numbers, and no plotly.express set-up.
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    source = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    image = go.Image(source=source, x0=0, y0=0, dx=block, dy=block,
                     hovertemplate=f"output pixels %{{y}}-%{{y}}+{block - 1}, input pixels "
                                   f"%{{x}}-%{{x}}+{block - 1}<extra></extra>")
    return go.Figure(image, layout=dict(
        xaxis=dict(title_text="input pixel (flattened image index)", constrain="domain"),
        yaxis=dict(title_text="output pixel", autorange="reversed", scaleanchor="x", constrain="domain"),
        title=dict(text=title, font=dict(size=14)) if title else None, height=height,
        margin=dict(l=4, r=4, t=40 if title else 8, b=4)))


def matrix_block_figure(matrix, rows: slice, columns: slice, title: str = "", height: int = 360) -> go.Figure:
    """A zoomed block of the matrix with its values, on the zero-centred diverging scale."""
    block = np.asarray(matrix, dtype=np.float64)[rows, columns]
    limit = float(np.abs(block).max()) or 1.0
    row_ids = np.arange(matrix.shape[0])[rows]
    column_ids = np.arange(matrix.shape[1])[columns]
    heatmap = go.Heatmap(
        z=np.where(block == 0, np.nan, block), x=column_ids, y=row_ids, colorscale=DIVERGING,
        zmin=-limit, zmax=limit, zmid=0.0, xgap=1, ygap=1, colorbar=dict(thickness=10),
        hovertemplate="output %{y}, input %{x}: %{z:.4f}<extra></extra>")
    return go.Figure(heatmap, layout=dict(
        xaxis=dict(title_text="input pixel", constrain="domain"),
        yaxis=dict(title_text="output pixel", autorange="reversed", scaleanchor="x", constrain="domain"),
        title=dict(text=title, font=dict(size=14)) if title else None, height=height,
        margin=dict(l=4, r=4, t=40 if title else 8, b=4), plot_bgcolor="#f4f4f5"))
