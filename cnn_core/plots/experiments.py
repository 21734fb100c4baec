"""The experiments' pictures, as pure functions: Plotly figures, and tile grids (``plots.tiles``).

    strip_tiles(strip_answers(...))             # the invariance strip, each variant with its answer
    occlusion_figure(image28, occlusion_map(...))  # the digit with the sensitivity map over it
    curve_figure({"CNN": side, "MLP": side}, "shift_accuracy")
    ranking_figure(ranking)                     # filters by the accuracy lost without each
    neighbour_tiles(images, labels, similarities)
    pairing_tiles(first_kernels, second_kernels, pairing)
    option_tiles(question)                      # the quiz's three candidate outputs

Figures are built from plain dicts (``go.Figure(dict)``), as ``plots.predict`` does, so Plotly
validates each once. Grids of digits are tiles, drawn light on dark as MNIST stores them.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnn_core.plots.tiles import TileGrid, digit_tiles, paired_tiles, tile_stack
from cnn_core.plots.runs import PALETTE

FONT = dict(size=13)
# The map is see-through where covering the digit costs the answer nothing and red where it costs
# it everything, on a fixed scale (0 to 100% of probability lost), so two digits' maps compare and
# a 0.7% drop stays nearly invisible instead of being stretched to full red.
OVERLAY_SCALE = [[0.0, "rgba(220,38,38,0)"], [0.1, "rgba(220,38,38,0.25)"], [1.0, "rgba(220,38,38,0.95)"]]
GREYS = [[0.0, "black"], [1.0, "white"]]


def strip_tiles(answers) -> TileGrid:
    """The variants as digits, each labelled with its name and the answer given to it."""
    images = np.stack([answer.image for answer in answers])
    labels = [f"{answer.name}: {answer.label} ({answer.confidence:.0%})" for answer in answers]
    return digit_tiles(images, labels)


def occlusion_figure(image28: np.ndarray, result, size: int = 300) -> go.Figure:
    """The digit (light on dark) with, over it, the largest drop in the answer's probability when a
    patch covers each pixel: a fixed scale from 0 to 100%, labelled, so the caption and colours agree."""
    drops = np.clip(result.pixel_peak(), 0.0, 1.0)  # a patch that raises the answer costs it nothing
    axis = dict(visible=False, fixedrange=True, range=[-0.5, 27.5])
    ticks = [0, 0.25, 0.5, 0.75, 1.0]
    data = [dict(type="heatmap", z=np.asarray(image28, np.float32), colorscale=GREYS, zmin=0, zmax=1,
                 showscale=False, hoverinfo="skip"),
            dict(type="heatmap", z=drops, colorscale=OVERLAY_SCALE, zmin=0.0, zmax=1.0,
                 colorbar=dict(thickness=10, tickvals=ticks, ticktext=[f"{tick:.0%}" for tick in ticks],
                               title=dict(text="drop in P(answer)", side="right")),
                 hovertemplate="row %{y}, column %{x}: covering it costs up to %{z:.1%}<extra></extra>")]
    layout = dict(width=size + 90, height=size, margin=dict(l=0, r=0, t=0, b=0), font=FONT, xaxis=axis,
                  yaxis=dict(axis, range=[27.5, -0.5], scaleanchor="x"), plot_bgcolor="black")
    return go.Figure(dict(data=data, layout=layout))


def curve_figure(sides: dict[str, dict], key: str, height: int = 320) -> go.Figure:
    """Accuracy against shift ("shift_accuracy") or rotation ("rotation_accuracy"), one line per model."""
    title = "shift (pixels)" if key == "shift_accuracy" else "rotation (degrees, anticlockwise +)"
    lines = []
    for colour, (name, side) in zip(PALETTE, sides.items()):
        points = sorted((float(x), value) for x, value in side[key].items())
        lines.append(dict(type="scatter", mode="lines+markers", name=name, line=dict(color=colour),
                          x=[x for x, _ in points], y=[value for _, value in points],
                          hovertemplate=f"{name}: %{{y:.1%}} at %{{x}}<extra></extra>"))
    layout = dict(height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT, plot_bgcolor="white",
                  xaxis=dict(title=dict(text=title), gridcolor="#e5e7eb"),
                  yaxis=dict(title=dict(text="test accuracy"), range=[0, 1.02], tickformat=".0%", gridcolor="#e5e7eb"),
                  legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return go.Figure(dict(data=lines, layout=layout))


def ranking_figure(ranking: dict, top: int = 20, height: int | None = None) -> go.Figure:
    """The ``top`` filters whose absence costs the most accuracy, as horizontal bars."""
    rows = ranking["filters"][:top]
    names = [f"conv{row['block']} #{row['filter']}" for row in rows]
    bars = dict(type="bar", orientation="h", x=[100 * row["drop"] for row in rows], y=names,
                marker=dict(color=[PALETTE[row["block"] - 1] for row in rows]),
                hovertemplate="%{y}: accuracy falls %{x:.2f} points<extra></extra>")
    layout = dict(height=height or 60 + 18 * len(rows), margin=dict(l=10, r=10, t=10, b=10), font=FONT,
                  plot_bgcolor="white", xaxis=dict(title=dict(text="accuracy lost (percentage points)")),
                  yaxis=dict(autorange="reversed", type="category"))
    return go.Figure(dict(data=[bars], layout=layout))


def neighbour_tiles(images: np.ndarray, labels, similarities) -> TileGrid:
    """Training digits, each labelled with its label and cosine similarity."""
    names = [f"{int(label)} ({similarity:.2f})" for label, similarity in zip(labels, similarities)]
    titles = [f"a training {int(label)}, cosine similarity {similarity:.3f}" for label, similarity in zip(labels, similarities)]
    return digit_tiles(np.asarray(images), names, titles)


def pairing_tiles(first: np.ndarray, second: np.ndarray, pairing) -> TileGrid:
    """Each pair side by side (the first run's kernel, then its partner, flipped in sign where that
    matches better), best pairs first, on one shared scale."""
    first, second = _kernel_stack(first), _kernel_stack(second)
    partners = second[:, :, pairing.second_index] * pairing.sign  # (h, w, count): partner of each first kernel
    limit = float(max(np.abs(first).max(), np.abs(partners).max())) or 1.0
    first_grid = tile_stack(first, signed=True, value_name="weight", limits=(-limit, limit))
    second_grid = tile_stack(partners, signed=True, value_name="weight", limits=(-limit, limit))
    order = [int(index) for index in pairing.order()]
    labels = [f"A#{index} B#{pairing.second_index[index]} {pairing.similarity[index]:.2f}" for index in order]
    titles = [f"run A kernel #{index} beside run B kernel #{pairing.second_index[index]}"
              f"{' (sign flipped)' if pairing.sign[index] < 0 else ''}: |cosine| {pairing.similarity[index]:.3f}"
              for index in order]
    return paired_tiles(first_grid, second_grid, labels, titles, order)


def option_tiles(question) -> TileGrid:
    """The quiz's candidate outputs, labelled A, B, C, each scaled to its own largest value (the
    pattern tells them apart, not how bright one kernel happens to be)."""
    stack = np.stack(question.options, axis=-1)
    return tile_stack(stack, ["ABC"[index] for index in range(stack.shape[-1])], per_tile=True, value_name="output")


def _kernel_stack(kernels: np.ndarray) -> np.ndarray:
    """(h, w, count) from conv1 kernels shaped (h, w, 1, count) or already (h, w, count)."""
    kernels = np.asarray(kernels, np.float32)
    return kernels[:, :, 0, :] if kernels.ndim == 4 else kernels
