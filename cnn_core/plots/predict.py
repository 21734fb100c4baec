"""Plotly figures for the Predict page: class probabilities as bars, a 28x28 digit as pixels.

Pure functions of NumPy arrays; nothing here knows about Streamlit. Figures are built from plain
dicts with ``go.Figure(dict)``, which Plotly validates once: the page redraws them after every pen
stroke (``benchmarks/experiments_latency.py`` and ``benchmarks/server.py`` time the answer).

    probability_figure(prediction.probabilities, prediction.class_names, true_label=7)
    digit_figure(image28)
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

TOP_COLOUR = "#2563eb"      # The predicted class: the theme's primary blue.
OTHER_COLOUR = "#cbd5e1"    # The other classes: a quiet grey.
TRUE_COLOUR = "#16a34a"     # The true class when the model got it wrong: green, the right answer.
FONT = dict(size=13)


def probability_figure(probabilities: np.ndarray, class_names: tuple[str, ...] | list[str],
                       true_label: int | None = None, height: int = 300) -> go.Figure:
    """A bar per class, the predicted one in blue; a wrong answer's true class shown in green."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 1 or len(probabilities) != len(class_names):
        raise ValueError(f"expected {len(class_names)} probabilities, one per class, "
                         f"got shape {probabilities.shape}")
    top = int(probabilities.argmax())
    colours = [OTHER_COLOUR] * len(probabilities)
    if true_label is not None and true_label != top:
        colours[true_label] = TRUE_COLOUR
    colours[top] = TOP_COLOUR
    # Category labels are strings so Plotly keeps "0".."9" in order instead of treating them as
    # numbers; the numbers in front keep Fashion-MNIST's class names readable and unique.
    labels = list(class_names) if _all_digits(class_names) else [
        f"{index} {name}" for index, name in enumerate(class_names)]
    bars = dict(type="bar", x=labels, y=probabilities.tolist(), marker=dict(color=colours),
                text=[f"{p:.0%}" if p >= 0.005 else "" for p in probabilities], textposition="outside",
                textfont=dict(size=12), constraintext="none", cliponaxis=False, hovertemplate="%{x}: %{y:.2%}<extra></extra>")
    layout = dict(height=height, margin=dict(l=10, r=10, t=20, b=10), font=FONT, showlegend=False,
                  yaxis=dict(range=[0, 1.08], tickformat=".0%", title="probability", fixedrange=True),
                  xaxis=dict(type="category", tickangle=-30 if len(labels[0]) > 2 else 0, fixedrange=True),
                  plot_bgcolor="white", bargap=0.25)
    return go.Figure(dict(data=[bars], layout=layout))


def digit_figure(image28: np.ndarray, size: int = 220) -> go.Figure:
    """A 28x28 image as crisp grey pixels (ink bright, as the model sees it), values on hover."""
    image28 = np.asarray(image28, dtype=np.float64)
    if image28.shape != (28, 28):
        raise ValueError(f"expected a 28x28 image, got shape {image28.shape}")
    # A heatmap, not st.image: a browser would blur 28 pixels stretched to 220, hiding exactly
    # the blockiness that shows how little the network gets to see.
    heatmap = dict(type="heatmap", z=image28.round(3).tolist(), zmin=0.0, zmax=1.0,
                   colorscale=[[0.0, "black"], [1.0, "white"]], showscale=False,
                   hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>")
    hidden_axis = dict(visible=False, fixedrange=True, range=[-0.5, 27.5])
    layout = dict(width=size, height=size, font=FONT, margin=dict(l=0, r=0, t=0, b=0),
                  xaxis=hidden_axis, plot_bgcolor="black",
                  # Row 0 at the top, as in the image, and square pixels.
                  yaxis=dict(hidden_axis, range=[27.5, -0.5], scaleanchor="x"))
    return go.Figure(dict(data=[heatmap], layout=layout))


def _all_digits(class_names) -> bool:
    """Whether every class name is a single digit, as MNIST's are."""
    return all(len(name) == 1 and name.isdigit() for name in class_names)
