"""Plotly figures for training runs, as pure functions: data in, ``go.Figure`` out.

    loss_figure(history)                      # the seed's train/test loss against iteration
    accuracy_figure(history, 500, 0.9672)     # live accuracy on 500-image slices, final accuracy dashed
    overlay_figure({run_id: history}, {run_id: "seed CNN · MNIST · 97.1% · 15:44"})

A history is a list of progress records, either ``ProgressRecord``s from a live job or the dicts
``RunStore.read_history`` returns; test fields are None between measurements. Nothing here knows
about Streamlit, so the same figures serve the page, notebooks and tests.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

# Live charts redraw every second in the browser; a few hundred points per line keeps that cheap
# on a small machine, and a curve of 2,500 steps looks the same thinned to 400.
MAX_POINTS = 400
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")


def as_rows(history) -> list[dict]:
    """Progress records or dicts -> dicts."""
    return [row if isinstance(row, dict) else vars(row) for row in history]  # asdict would deep-copy each one


def thin(rows: list[dict], limit: int = MAX_POINTS) -> list[dict]:
    """At most ``limit`` rows, evenly spaced, always keeping the first and the last."""
    if len(rows) <= limit:
        return rows
    keep = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    return [rows[i] for i in keep]


def series(rows: list[dict], field: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows where ``field`` was measured, as float arrays.

    NumPy arrays rather than lists: Plotly checks a list element by element, an array at once, and
    the live chart is rebuilt every second beside a training job.
    """
    chosen = [row for row in rows if row.get(field) is not None]
    return (np.fromiter((row["step"] for row in chosen), float, len(chosen)),
            np.fromiter((row[field] for row in chosen), float, len(chosen)))


def base_layout(x_title: str, y_title: str, height: int = 340, **extra) -> dict:
    """The shared layout, as one dict so that the figure is validated once."""
    return dict(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(title=dict(text=x_title)),
                yaxis=dict(title=dict(text=y_title)), legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
                uirevision="keep", **extra)  # uirevision keeps a visitor's zoom while the chart refreshes.


def step_axis(layout: dict, *step_arrays: np.ndarray) -> dict:
    """Whole-number ticks on the iteration axis when few steps are drawn (Plotly would tick 0.5s)."""
    steps = np.concatenate([np.asarray(s, float) for s in step_arrays]) if step_arrays else np.array([])
    if len(steps) and steps.max() - steps.min() < 10:
        layout["xaxis"].update(range=[steps.min() - 1, steps.max() + 1], dtick=1, tickformat="d")
    return layout


def loss_figure(history, title: str = "") -> go.Figure:
    """Train and test loss against iteration, as the seed plots them (y from 0 to the top train loss)."""
    rows = as_rows(history)
    train_steps, train_loss = series(thin(rows), "train_loss")
    # Test measurements are few (one per eval_every steps), so they are never thinned.
    test_steps, test_loss = series(rows, "test_loss")
    layout = step_axis(base_layout("iteration", "loss", title=dict(text=title) if title else None),
                       train_steps, test_steps)
    if len(train_loss):
        layout["yaxis"]["range"] = [0, float(max(train_loss.max(), test_loss.max(initial=0))) * 1.05]
    return go.Figure([
        go.Scatter(x=train_steps, y=train_loss, mode="lines", name="train", line=dict(color=PALETTE[0])),
        go.Scatter(x=test_steps, y=test_loss, mode="lines+markers", name="test", line=dict(color=PALETTE[1])),
    ], layout=layout)


def accuracy_figure(history, eval_images: int | None = None, final_accuracy: float | None = None,
                    test_images: int = 10_000) -> go.Figure:
    """Accuracy while training, measured on a small rotating slice of the test set, and, once the
    run is over, its accuracy on the whole test set as a dashed line: the two differ by a point or so,
    and the chart says which is which."""
    steps, accuracy = series(as_rows(history), "test_accuracy")
    layout = step_axis(base_layout("iteration", "test accuracy", height=260), steps)
    layout["yaxis"].update(tickformat=".0%", range=[0, 1.01])
    layout["showlegend"] = True  # Plotly hides a lone trace's legend, and its name is the label that matters.
    slice_words = f"{eval_images:,}-image" if eval_images else "small"
    traces = [go.Scatter(x=steps, y=accuracy, mode="lines+markers", name=f"live, on a {slice_words} test slice",
                         line=dict(color=PALETTE[2]))]
    if final_accuracy is not None:
        ends = [steps.min(), steps.max()] if len(steps) else [0, 1]
        traces.append(go.Scatter(
            x=ends, y=[final_accuracy] * 2, mode="lines", line=dict(color=PALETTE[3], dash="dash"),
            name=f"final, all {test_images:,} test images: {final_accuracy:.2%}",
            hovertemplate=f"final accuracy on all {test_images:,} test images: {final_accuracy:.2%}<extra></extra>"))
    return go.Figure(traces, layout=layout)


def overlay_figure(histories: dict[str, list], labels: dict[str, str] | None = None) -> go.Figure:
    """Several runs on one chart: test loss solid with markers, train loss dotted, one colour per run.

    The loss axis is logarithmic: runs start near 2.3 and end between 0.02 and 0.1, and a linear
    axis flattens exactly the late differences a comparison is about.

    ``histories`` is keyed by run id; ``labels`` (run id -> name, see ``catalogue.run_name``) names
    each run in the legend the way a person remembers it.
    """
    traces = []
    for index, (run_id, history) in enumerate(histories.items()):
        rows, color = as_rows(history), PALETTE[index % len(PALETTE)]
        label = (labels or {}).get(run_id, run_id)
        steps, values = series(rows, "test_loss")
        traces.append(go.Scatter(x=steps, y=values, mode="lines+markers", name=f"{label}, test",
                                 legendgroup=run_id, line=dict(color=color)))
        steps, values = series(thin(rows), "train_loss")
        traces.append(go.Scatter(x=steps, y=values, mode="lines", name=f"{label}, train", legendgroup=run_id,
                                 line=dict(color=color, dash="dot", width=1), opacity=0.6))
    layout = base_layout("iteration", "loss (log scale)", height=420)
    ticks = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]  # Plotly's own log ticks label 0.5 as "5"
    layout["yaxis"].update(type="log", tickvals=ticks, ticktext=[f"{tick:g}" for tick in ticks])
    return go.Figure(traces, layout=layout)
