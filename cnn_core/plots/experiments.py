"""Plotly figures for the experiments, as pure functions: results in, ``go.Figure`` out.

    strip_figure(strip_answers(...))            # the invariance strip with each answer
    occlusion_figure(image28, occlusion_map(...))  # the digit with the sensitivity map over it
    curve_figure({"CNN": side, "MLP": side}, "shift_accuracy")
    ranking_figure(ranking)                     # filters by the accuracy lost without each
    neighbours_figure(images, labels, similarities)
    pairing_figure(first_kernels, second_kernels, pairing)
    options_figure(question)                    # the quiz's three candidate outputs

Built from plain dicts (``go.Figure(dict)``), as ``plots.predict`` does, so Plotly validates each once.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnn_core.plots.filters import tile_grid
from cnn_core.plots.runs import PALETTE

FONT = dict(size=13)
# The map is see-through where the drop is 0, red where covering hurt the answer and blue where
# it helped, so the digit stays readable underneath.
OVERLAY_SCALE = [[0.0, "rgba(37,99,235,0.85)"], [0.5, "rgba(0,0,0,0)"], [1.0, "rgba(220,38,38,0.85)"]]
GREYS = [[0.0, "black"], [1.0, "white"]]


def strip_figure(answers, columns: int = 7, width: int = 900) -> go.Figure:
    """The variants as a grid of digits, each titled with its answer and confidence."""
    stack = np.stack([answer.image for answer in answers], axis=-1)
    titles = [f"{answer.name}: {answer.label} ({answer.confidence:.0%})" for answer in answers]
    return tile_grid(stack, titles, columns=columns, per_tile=False, diverging=False, value_name="ink", width=width)


def occlusion_figure(image28: np.ndarray, result, size: int = 320) -> go.Figure:
    """The digit in grey with the per-pixel probability drop laid over it (red: covering it hurts)."""
    drops = result.pixel_map()
    limit = float(np.abs(drops).max()) or 1.0
    axis = dict(visible=False, fixedrange=True, range=[-0.5, 27.5])
    data = [dict(type="heatmap", z=np.asarray(image28, np.float32), colorscale=GREYS, zmin=0, zmax=1,
                 showscale=False, hoverinfo="skip"),
            dict(type="heatmap", z=drops, colorscale=OVERLAY_SCALE, zmin=-limit, zmax=limit, zmid=0,
                 colorbar=dict(thickness=10, title=dict(text="drop", side="right")),
                 hovertemplate="row %{y}, column %{x}: probability drop %{z:.3f}<extra></extra>")]
    layout = dict(width=size + 60, height=size, margin=dict(l=0, r=0, t=0, b=0), font=FONT, xaxis=axis,
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


def neighbours_figure(images: np.ndarray, labels, similarities, width: int = 900) -> go.Figure:
    """Training digits in a row, each titled with its label and cosine similarity."""
    stack = np.moveaxis(np.asarray(images, np.float32), 0, -1)
    stack = stack / 255 if stack.max() > 1 else stack
    titles = [f"{int(label)} ({similarity:.2f})" for label, similarity in zip(labels, similarities)]
    return tile_grid(stack, titles, columns=len(titles), per_tile=False, diverging=False, value_name="ink", width=width)


def pairing_figure(first: np.ndarray, second: np.ndarray, pairing, columns: int = 8, width: int = 900) -> go.Figure:
    """Each pair side by side (first run's kernel, then its partner), best pairs first."""
    first, second = _kernel_stack(first), _kernel_stack(second)
    tiles, titles = [], []
    for index in pairing.order():
        partner = pairing.second_index[index]
        tiles += [first[:, :, index], second[:, :, partner] * pairing.sign[index]]
        titles += [f"A#{index}", f"B#{partner} {pairing.similarity[index]:.2f}"]
    return tile_grid(np.stack(tiles, axis=-1), titles, columns=columns, value_name="weight", width=width)


def options_figure(question, width: int = 700) -> go.Figure:
    """The quiz's candidate outputs, titled A, B, C."""
    stack = np.stack(question.options, axis=-1)
    titles = [f"{'ABC'[index]}" for index in range(stack.shape[-1])]
    return tile_grid(stack, titles, columns=len(titles), value_name="output", width=width)


def _kernel_stack(kernels: np.ndarray) -> np.ndarray:
    """(h, w, count) from conv1 kernels shaped (h, w, 1, count) or already (h, w, count)."""
    kernels = np.asarray(kernels, np.float32)
    return kernels[:, :, 0, :] if kernels.ndim == 4 else kernels
