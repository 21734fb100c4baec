"""A model's confusion matrix with a drill-down: click a cell, see its test digits, open one.

Used by the Train page for a finished run and by the Predict page for any model whose folder
holds its test predictions (the shipped models too). A click on a cell reaches the page as a
Plotly selection (``cnn_core.plots.confusion``); two menus under the matrix do the same without a
mouse. A digit is picked by clicking it in the grid (or from a menu), and opened in Predict or
Filters through a lesson link (``pages.links``): the page it opens reads the model and the digit
from its address.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.data import Dataset
from cnn_core.plots.confusion import cell_indices, clickable_confusion_figure, confusion_matrix, selected_cell
from cnn_core.plots.tiles import digit_tiles
from pages import keys, links
from pages.components import tile_grid
from pages.shared import PLOT_CONFIG


def open_in(page: str, model_key: str, index: int) -> None:
    """Show test digit ``index`` with ``model_key`` on the Predict or Filters page."""
    st.session_state[keys.MODEL] = model_key
    params = {links.MODEL: model_key, links.DIGIT: index}
    if page == keys.PREDICT_PAGE:
        params[links.VIEW] = "sample"
    links.go(page, params)


def picked_cell(names, prefix: str) -> tuple[int, int] | None:
    """The same choice without the mouse: a true class and a predicted class from two menus."""
    row = st.container(horizontal=True)
    classes = list(range(len(names)))
    true_class = row.selectbox("True", classes, index=None, key=f"{prefix}_cell_true", width=140,
                               format_func=lambda c: names[c], placeholder="class")
    predicted_class = row.selectbox("Predicted", classes, index=None, key=f"{prefix}_cell_predicted", width=140,
                                    format_func=lambda c: names[c], placeholder="class")
    if true_class is None or predicted_class is None:
        return None
    return int(true_class), int(predicted_class)


def pick_clicked_digit(prefix: str, indices: list[int]) -> None:
    """A digit clicked in the cell's grid becomes the one the buttons open."""
    position = st.session_state.get(f"{prefix}_cell_digits")
    position = getattr(position, "clicked", None)
    if isinstance(position, (int, float)) and 0 <= int(position) < len(indices):
        st.session_state[f"{prefix}_cell_pick"] = indices[int(position)]


def confusion_drilldown(model_key: str, dataset: Dataset, predictions: np.ndarray, prefix: str = "train",
                        on_pick=None) -> None:
    """The clickable matrix; below it, the chosen cell's digits and buttons to open one.

    ``on_pick(index)``, when given, is offered as a third button ("Show it here").
    """
    names = dataset.class_names
    st.caption("Click a cell, or pick one below, to see its test images (up to 50) and open one.")
    event = st.plotly_chart(clickable_confusion_figure(confusion_matrix(dataset.test_labels, predictions), names),
                            key=f"{prefix}_confusion", on_select="rerun", selection_mode="points",
                            config=PLOT_CONFIG)
    selection = (event or {}).get("selection") or {}
    cell = selected_cell(selection.get("points") or [])
    menus = picked_cell(names, prefix)
    cell = cell or menus
    if cell is None:
        return
    true_class, predicted_class = cell
    indices = [int(i) for i in cell_indices(dataset.test_labels, predictions, true_class, predicted_class)]
    if not indices:
        st.caption(f"No test image of {names[true_class]} was read as {names[predicted_class]}.")
        return
    st.markdown(f"**{names[true_class]} read as {names[predicted_class]}**: "
                f"{len(indices)} test image{'s' if len(indices) > 1 else ''}"
                + (" (the first 50)" if len(indices) == 50 else ""))
    if st.session_state.get(f"{prefix}_cell_pick") not in indices:
        st.session_state[f"{prefix}_cell_pick"] = indices[0]
    chosen = st.session_state[f"{prefix}_cell_pick"]
    tile_grid(digit_tiles(dataset.test_images[indices], [f"#{i}" for i in indices]), key=f"{prefix}_cell_digits",
              clickable=True, selected=[indices.index(chosen)], hint="Click a digit to choose it.",
              on_click=lambda: pick_clicked_digit(prefix, indices))
    row = st.container(horizontal=True, vertical_alignment="bottom")
    chosen = row.selectbox("Test image", indices, key=f"{prefix}_cell_pick", width=160, format_func=lambda i: f"#{i}")
    if on_pick is not None and row.button("Show it here", key=f"{prefix}_show_here"):
        on_pick(chosen)
    if row.button("Open in Predict", key=f"{prefix}_open_predict"):
        open_in(keys.PREDICT_PAGE, model_key, chosen)
    if row.button("Open in Filters", key=f"{prefix}_open_filters"):
        open_in(keys.FILTERS_PAGE, model_key, chosen)
