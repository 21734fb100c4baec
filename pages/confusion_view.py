"""The Train page's confusion matrix with a drill-down: click a cell, see its test digits, open one.

Opening a digit sets what the other pages read (the model, the sampled test digit, the Filters
page's test image) and switches page, so the digit arrives in Predict with its probabilities, or
in Filters with its feature maps.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.data import Dataset
from cnn_core.plots.confusion import cell_indices, clickable_confusion_figure, confusion_matrix, selected_cell
from cnn_core.plots.filters import tile_grid
from pages import keys
from pages.keys import train as key
from pages.shared import PLOT_CONFIG


def open_in(page: str, model_key: str, dataset: Dataset, index: int) -> None:
    """Show test digit ``index`` with ``model_key`` on the Predict or Filters page."""
    st.session_state[keys.MODEL] = model_key
    if page == keys.PREDICT_PAGE:
        st.session_state[keys.PREDICT_SAMPLE] = (dataset.name, index)
        st.session_state[keys.PREDICT_SAMPLE_CLASS] = keys.ANY_CLASS  # so the chosen digit stays
        st.session_state[keys.PREDICT_OPEN_TAB] = "sample"
    else:
        st.session_state[keys.FILTERS_SOURCE] = keys.TEST_DIGIT
        st.session_state[keys.FILTERS_CLASS] = keys.ANY_CLASS
        st.session_state[keys.FILTERS_INDEX] = index
    st.switch_page(page)


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
                            config=PLOT_CONFIG)
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
                              value_name="ink", width=560), key=key("cell_digits"), config=PLOT_CONFIG)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    chosen = row.selectbox("Test image", [int(i) for i in indices], key=key("cell_pick"), width=160,
                           format_func=lambda i: f"#{i}")
    if row.button("Open in Predict", key=key("open_predict")):
        open_in(keys.PREDICT_PAGE, run_id, dataset, chosen)
    if row.button("Open in Filters", key=key("open_filters")):
        open_in(keys.FILTERS_PAGE, run_id, dataset, chosen)
