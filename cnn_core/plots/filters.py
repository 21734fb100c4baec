"""Plotly figures for the Filters page, as pure functions of NumPy arrays: one image or map with its
values on hover, and the convolution matrix.

Grids of kernels and maps are tiles (``cnn_core.plots.tiles``), which reflow on a narrow screen;
the figures here are the single pictures a visitor hovers over for the numbers. Kernels and signed
maps use a diverging scale centred on zero (blue negative, white zero, red positive), so a
kernel's sign pattern reads at a glance; non-negative ones are light on dark, as MNIST stores its
digits. The 784x784 convolution matrix is sent as a small PNG (one pixel per entry), not as
614,656 heatmap cells.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image

DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
SEQUENTIAL = [[0.0, "black"], [1.0, "white"]]  # non-negative maps: light on dark, as MNIST stores its digits
COLORBAR_PIXELS = 80   # room the colour bar takes beside the plot


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
