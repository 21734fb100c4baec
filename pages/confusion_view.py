"""The Train page's confusion matrix with a drill-down: click a cell, see its test digits, open one.

Opening a digit sets what the other pages read (the model, the sampled test digit, the Filters
page's test image) and switches page, so the digit arrives in Predict with its probabilities, or
in Filters with its feature maps.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.confusion import cell_indices, clickable_confusion_figure, selected_cell
from cnn_core.data import Dataset
from cnn_core.filter_plots import tile_grid
from cnn_core.plots import confusion_matrix
from pages.shared import MODEL_KEY


def key(field: str) -> str:
    return f"train_{field}"


def open_in(page: str, model_key: str, dataset: Dataset, index: int) -> None:
    """Show test digit ``index`` with ``model_key`` on the Predict or Filters page."""
    st.session_state[MODEL_KEY] = model_key
    if page == "predict":
        st.session_state["predict_sample"] = (dataset.name, index)
        st.session_state["predict_sample_class"] = -1  # any class, so the chosen digit stays
        st.session_state["predict_open_tab"] = "sample"
        st.switch_page("pages/predict.py")
    st.session_state["filters_source"] = "A test digit"
    st.session_state["filters_class"] = "any class"
    st.session_state["filters_index"] = index
    st.switch_page("pages/filters.py")


def picked_cell(names) -> tuple[int, int] | None:
    """The same choice without the mouse: a true class and a predicted class from two menus."""
    st.caption("Click a cell, or pick one below, to see its test images (up to 50) and open one in "
               "Predict or Filters.")
    row = st.container(horizontal=True)
    classes = list(range(len(names)))
    true_class = row.selectbox("True", classes, index=None, key=key("cell_true"), width=140,
                               format_func=lambda c: names[c], placeholder="class")
    predicted_class = row.selectbox("Predicted", classes, index=None, key=key("cell_predicted"), width=140,
                                    format_func=lambda c: names[c], placeholder="class")
    if true_class is None or predicted_class is None:
        return None
    return int(true_class), int(predicted_class)


def confusion_drilldown(run_id: str, dataset: Dataset, predictions: np.ndarray) -> None:
    """The clickable matrix; below it, the clicked cell's digits and buttons to open one."""
    names = dataset.class_names
    event = st.plotly_chart(clickable_confusion_figure(confusion_matrix(dataset.test_labels, predictions), names),
                            key=key("confusion"), on_select="rerun", selection_mode="points",
                            config={"displayModeBar": False})
    selection = (event or {}).get("selection") or {}
    cell = selected_cell(selection.get("points") or [])
    if cell is None:
        cell = picked_cell(names)
    if cell is None:
        return
    true_class, predicted_class = cell
    indices = cell_indices(dataset.test_labels, predictions, true_class, predicted_class)
    if not len(indices):
        st.caption(f"No test image of {names[true_class]} was read as {names[predicted_class]}.")
        return
    st.markdown(f"**{names[true_class]} read as {names[predicted_class]}**: "
                f"{len(indices)} test image{'s' if len(indices) > 1 else ''}" + (" (the first 50)" if len(indices) == 50 else ""))
    stack = np.moveaxis(dataset.test_images[indices].astype(np.float32) / 255.0, 0, -1)  # (28, 28, n)
    st.plotly_chart(tile_grid(stack, [f"#{i}" for i in indices], columns=10, diverging=False, per_tile=False,
                              value_name="ink", width=560), key=key("cell_digits"), config={"displayModeBar": False})
    row = st.container(horizontal=True, vertical_alignment="bottom")
    chosen = row.selectbox("Test image", [int(i) for i in indices], key=key("cell_pick"), width=160,
                           format_func=lambda i: f"#{i}")
    if row.button("Open in Predict", key=key("open_predict")):
        open_in("predict", run_id, dataset, chosen)
    if row.button("Open in Filters", key=key("open_filters")):
        open_in("filters", run_id, dataset, chosen)
