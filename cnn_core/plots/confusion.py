"""The confusion matrix as a way in: which test digits sit in a cell, and a figure whose cells can be clicked.

    confusion_matrix(labels, predicted)                                # (10, 10) counts
    cell_indices(labels, predicted, true_class=4, predicted_class=9)   # test indices of 4s read as 9
    clickable_confusion_figure(matrix, class_names)                    # heatmap + one clickable point per cell

Plotly cannot select heatmap cells, so an invisible marker sits on each cell: clicking a cell
selects its marker, whose ``customdata`` is ``[true, predicted]``. The pairs go to the browser as
plain lists: as a NumPy array Plotly would send a typed array, whose rows reach Streamlit's
selection as objects ({"0": 4, "1": 9}) that a reader expecting lists silently ignores, which is
why a click on a cell once showed nothing.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


CELL_LIMIT = 50  # digits shown for one cell


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    if labels.shape != predicted.shape:
        raise ValueError(f"expected as many predictions as labels, got {predicted.shape} and {labels.shape}")
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def confusion_figure(matrix: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """Heatmap of the confusion matrix; colour on a log scale so that the rare mistakes show."""
    names = [str(name) for name in class_names]
    figure = go.Figure(go.Heatmap(
        z=np.log10(1 + matrix), x=names, y=names, text=matrix, texttemplate="%{text}",
        colorscale="Blues", showscale=False,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    figure.update_yaxes(autorange="reversed", title="true", type="category")
    figure.update_xaxes(title="predicted", side="top", type="category")
    figure.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def cell_indices(labels: np.ndarray, predicted: np.ndarray, true_class: int, predicted_class: int,
                 limit: int = CELL_LIMIT) -> np.ndarray:
    """Indices of the test digits of class ``true_class`` that the model read as ``predicted_class``."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels and predictions differ in shape: {labels.shape} vs {predicted.shape}")
    return np.flatnonzero((labels == true_class) & (predicted == predicted_class))[:limit]


def clickable_confusion_figure(matrix: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """The confusion heatmap with an invisible, selectable marker on every cell."""
    figure = confusion_figure(matrix, class_names)
    names = [str(name) for name in class_names]
    count = len(names)
    true, predicted = np.divmod(np.arange(count * count), count)
    figure.add_trace(go.Scatter(
        x=[names[p] for p in predicted], y=[names[t] for t in true], mode="markers",
        marker=dict(size=28, opacity=0.0, symbol="square"), customdata=np.stack([true, predicted], axis=1).tolist(),
        text=np.asarray(matrix).ravel(),
        hovertemplate="true %{y}, predicted %{x}: %{text} (click to see them)<extra></extra>",
        showlegend=False, selected=dict(marker=dict(opacity=0.35, color="#f58518")),
        unselected=dict(marker=dict(opacity=0.0))))
    # Only the markers answer the mouse: a click that Plotly gave to the heatmap would select nothing.
    figure.update_traces(hoverinfo="skip", hovertemplate=None, selector=dict(type="heatmap"))
    figure.update_layout(clickmode="event+select", hovermode="closest")
    return figure


def selected_cell(points: list[dict]) -> tuple[int, int] | None:
    """(true, predicted) of the clicked cell from a Streamlit Plotly selection, or None."""
    for point in points or []:
        custom = point.get("customdata")
        if isinstance(custom, dict):  # a typed-array row, as {"0": true, "1": predicted}
            custom = [custom.get("0"), custom.get("1")]
        if isinstance(custom, (list, tuple)) and len(custom) == 2 and all(isinstance(v, (int, float)) for v in custom):
            return int(custom[0]), int(custom[1])
    return None
