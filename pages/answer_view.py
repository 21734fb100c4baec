"""How the Predict page shows an answer: the input beside it, the probabilities, the 28x28 image the
model sees, and whether the input looks like a digit at all (with the familiarity score in words).

Shared by the page's three tabs (draw, sample, upload); each calls ``panels`` for its two columns.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.data import DataError, load_dataset
from cnn_core.experiments.novelty import NOVELTY_FILE, TARGET_FLAG_RATE, describe
from cnn_core.plots.predict import probability_figure
from cnn_core.plots.tiles import digit_tiles
from cnn_core.server.serving import Prediction, ServedModel
from pages.components import tile_grid
from pages.shared import PLOT_CONFIG, analysis_state, digit_verdict, model_json

CANVAS_SIDE = 280  # Ten canvas pixels per MNIST pixel.


def panels():
    """The input and the answer side by side, the answer taking what the input leaves."""
    # A fixed width for the input: the 280-pixel canvas must never be squeezed, or part of it
    # scrolls out of reach of the pen.
    row = st.container(horizontal=True, gap="medium")
    return row.container(width=CANVAS_SIDE + 20), row.container(width="stretch")


def show_seen(image28: np.ndarray, key: str) -> None:
    """The 28x28 image the model is given, small: a tile (a Plotly chart is never narrower than 150 px)."""
    tile_grid(digit_tiles(np.asarray(image28)[None], ["what the model sees (28x28)"]), key=key, size=84)


def novelty_note(choice, served: ServedModel, image28: np.ndarray) -> None:
    """Beside the answer: whether the drawing looks like the digits the model learned from at all."""
    if choice.dataset != "mnist":
        return  # The check is calibrated on digits against letters, scribbles and blobs.
    try:
        verdict = digit_verdict(choice, served, image28, load_dataset("mnist"))
    except DataError:
        return
    if verdict is None:  # No calibration files: a run still being analysed, or an older one.
        if analysis_state(choice) in ("queued", "running"):
            st.caption("Whether this looks like a digit to the model is known once its experiment files are "
                       "ready (a background process computes them after training).")
        return
    words = describe(verdict, (model_json(choice.folder, NOVELTY_FILE, served) or {}).get("digit_flag_rate", TARGET_FLAG_RATE))
    if verdict.looks_like_digit:
        st.caption(f"It looks like a digit to this model (familiarity {verdict.score:.2f}, above the line at "
                   f"{verdict.threshold:.2f}).")
    else:
        st.warning("That doesn't look like a digit to this model: it is unlike every digit it trained on, so "
                   "the answer above is a forced guess. A network has to pick one of its ten classes, "
                   "whatever it is shown.")
    with st.expander("What familiarity means"):
        st.markdown(words)


def show_answer(prediction: Prediction, key: str, true_label: int | None = None) -> None:
    """The answer in words, right or wrong when the truth is known, and the probability bars."""
    name = prediction.class_name
    # A Fashion-MNIST class needs its number too: the bars and the dataset are indexed by it.
    said = f"**{name}**" if name.isdigit() else f"**{name}** (class {prediction.label})"
    st.markdown(f"The model says {said}, with {prediction.confidence:.1%} confidence.")
    if true_label is not None:
        truth = prediction.class_names[true_label]
        if true_label == prediction.label:
            st.markdown(f":green-badge[:material/check: Right] The true label is **{truth}**.")
        else:
            st.markdown(f":red-badge[:material/close: Wrong] The true label is **{truth}**, "
                        "shown in green below.")
    figure = probability_figure(prediction.probabilities, prediction.class_names, true_label, height=230)
    st.plotly_chart(figure, key=key, config=PLOT_CONFIG)
