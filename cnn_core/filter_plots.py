"""Plotly figures for the Filters page, as pure functions of NumPy arrays.

Every grid (kernels, feature maps, filtered images) is drawn as ONE heatmap: the tiles are laid
side by side in a mosaic with a one-cell gap of NaN between them. One trace of a few thousand cells
serialises and draws far faster than dozens of subplots, which matters when a page redraws on every
click. Kernels use a diverging scale centred on zero (blue negative, white zero, red positive), so
a kernel's sign pattern reads at a glance. The 784x784 convolution matrix is sent as a small PNG
(one pixel per entry), not as 614,656 heatmap cells.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
SEQUENTIAL = "gray_r"  # non-negative maps: white background, dark ink, like the digit itself
TILE_PIXELS = 64       # rough on-screen size of one tile, used to choose a figure's height


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
    """Eight tiles a row for the usual 32 or 64 channels; fewer tiles get a single row."""
    return max(1, min(count, 8 if count > 12 else count))


def _layout(figure: go.Figure, rows: int, columns: int, title: str, height: int | None) -> go.Figure:
    """Square cells, no axes, y down (as images are), a height that fits the tile rows."""
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    figure.update_layout(
        title=dict(text=title, font=dict(size=14)) if title else None,
        height=height or 50 + rows * max(TILE_PIXELS, 560 // columns),
        margin=dict(l=4, r=4, t=40 if title else 24, b=4), plot_bgcolor="white")
    return figure


def _tile_titles(titles, origins, width) -> list[dict]:
    """Small labels in the empty rows above each tile (kernel number, match name...).

    Returned as plain dicts for the layout: set all at once they take milliseconds, whereas
    ``add_annotation`` one by one re-validates the layout each time (half a second for 64).
    """
    return [dict(x=left + (width - 1) / 2, y=top - 0.5, text=text, showarrow=False, yanchor="bottom",
                 font=dict(size=10), xref="x", yref="y") for text, (top, left) in zip(titles, origins)]


def tile_grid(stack, titles: Sequence[str] | None = None, columns: int | None = None, title: str = "",
              diverging: bool | None = None, per_tile: bool = True, height: int | None = None,
              value_name: str = "value") -> go.Figure:
    """A grid of 2-D tiles from a (height, width, count) stack: kernels, feature maps or filtered images.

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
    # Label rows take about a third of a tile: enough for one line of text at the usual sizes.
    title_rows = max(1, math.ceil(tile_height * 0.3))
    tiled, index = mosaic(shown, columns, title_rows=title_rows)
    raw, _ = mosaic(stack, columns, title_rows=title_rows)
    labels = list(titles) if titles is not None else [f"#{number}" for number in range(count)]
    # Numbers only in customdata: Plotly then sends it as one compact binary array, not as text.
    heatmap = go.Heatmap(
        z=tiled, customdata=np.dstack([raw, index]),
        colorscale=DIVERGING if diverging else SEQUENTIAL,
        zmin=-limit if diverging else 0.0, zmax=limit, zmid=0.0 if diverging else None,
        hovertemplate="#%{customdata[1]}<br>" + value_name + " %{customdata[0]:.4f}<extra></extra>",
        hoverongaps=False, showscale=True,
        colorbar=dict(thickness=10, title=dict(text="÷ tile max" if per_tile else value_name, side="right")))
    annotations = _tile_titles(labels, tile_origins(stack.shape, columns, title_rows=title_rows), tile_width)
    figure = go.Figure(heatmap, layout=dict(annotations=annotations))
    return _layout(figure, math.ceil(count / columns), columns, title, height)


def image_figure(image, title: str = "", diverging: bool | None = None, height: int = 260) -> go.Figure:
    """One 2-D image or map: grey ink on white, or the diverging scale when it has negative values."""
    image = np.asarray(image, dtype=np.float64)
    diverging = bool((image < 0).any()) if diverging is None else diverging
    limit = float(np.abs(image).max()) or 1.0
    figure = go.Figure(go.Heatmap(
        z=image, colorscale=DIVERGING if diverging else SEQUENTIAL,
        zmin=-limit if diverging else 0.0, zmax=limit, zmid=0.0 if diverging else None,
        hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>",
        colorbar=dict(thickness=10)))
    return _layout(figure, 1, 1, title, height)


def sparsity_figure(matrix, title: str = "", height: int = 520) -> go.Figure:
    """The whole convolution matrix, one pixel per entry: red positive, blue negative, white zero."""
    matrix = np.asarray(matrix)
    rgb = np.full((*matrix.shape, 3), 255, dtype=np.uint8)
    rgb[matrix > 0] = (200, 30, 30)
    rgb[matrix < 0] = (30, 60, 200)
    # binary_string sends the picture as a PNG (a few kB for a banded matrix) instead of 614,656 numbers.
    figure = px.imshow(rgb, binary_string=True)
    figure.update_traces(hovertemplate="output pixel %{y}, input pixel %{x}<extra></extra>")
    figure.update_xaxes(title_text="input pixel (flattened image index)", showticklabels=True)
    figure.update_yaxes(title_text="output pixel", showticklabels=True)
    figure.update_layout(title=dict(text=title, font=dict(size=14)) if title else None, height=height,
                         margin=dict(l=4, r=4, t=40 if title else 8, b=4))
    return figure


def matrix_block_figure(matrix, rows: slice, columns: slice, title: str = "", height: int = 360) -> go.Figure:
    """A zoomed block of the matrix with its values, on the zero-centred diverging scale."""
    block = np.asarray(matrix, dtype=np.float64)[rows, columns]
    limit = float(np.abs(block).max()) or 1.0
    row_ids = np.arange(matrix.shape[0])[rows]
    column_ids = np.arange(matrix.shape[1])[columns]
    figure = go.Figure(go.Heatmap(
        z=np.where(block == 0, np.nan, block), x=column_ids, y=row_ids, colorscale=DIVERGING,
        zmin=-limit, zmax=limit, zmid=0.0, xgap=1, ygap=1, colorbar=dict(thickness=10),
        hovertemplate="output %{y}, input %{x}: %{z:.4f}<extra></extra>"))
    figure.update_xaxes(title_text="input pixel", constrain="domain")
    figure.update_yaxes(title_text="output pixel", autorange="reversed", scaleanchor="x", constrain="domain")
    figure.update_layout(title=dict(text=title, font=dict(size=14)) if title else None, height=height,
                         margin=dict(l=4, r=4, t=40 if title else 8, b=4), plot_bgcolor="#f4f4f5")
    return figure
