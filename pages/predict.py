"""The Predict page: draw a digit, sample a test digit or upload an image; see what the model answers.

Every input goes through the same MNIST-style preprocessing as the CLI (``cnn_core.preprocess``)
and the same LiteRT forward pass the other pages use (``cnn_core.serving``). The page shows the 28x28 image the
model actually sees beside the input, the ten class probabilities, and the answer in words. The
last digit drawn is kept in ``st.session_state[DRAWN_IMAGE]`` for the Filters page.
"""
from __future__ import annotations

import time

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnn_core.data import DataError, load_dataset
from cnn_core.inference import Prediction
from cnn_core.serving import ServedModel as Predictor  # the LiteRT-served model: .predict(image28)
from cnn_core.predict_plots import digit_figure, probability_figure
from cnn_core.preprocess import ImageError, preprocess_bytes, preprocess_rgba
from pages.shared import DRAWN_IMAGE, ensure_app_navigation, pick_model

CANVAS_SIDE = 280                 # Ten canvas pixels per MNIST pixel.
CANVAS_KEY = "predict_canvas"     # The canvas's widget key is this plus its generation number.
GENERATION = "predict_canvas_generation"  # Bumped by "Clear": a new key mounts an empty canvas.
SAMPLE = "predict_sample"         # (dataset name, test-set index) of the sampled digit.
ANY_CLASS = -1                    # The class menu's "Any class" (an int, so the menu shows no "clear").
PLOT_CONFIG = {"displayModeBar": False}


def canvas_key() -> str:
    """The current canvas's widget key; tests feed drawings through it."""
    return f"{CANVAS_KEY}_{st.session_state.get(GENERATION, 0)}"


def clear_canvas() -> None:
    """Mount a fresh, empty canvas and forget the drawn digit, so Filters does not show a stale one."""
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(DRAWN_IMAGE, None)


def panels():
    """Input, what the model sees, and the answer side by side; they wrap onto rows when narrow."""
    # Fixed widths, not column ratios: the 280-pixel canvas must never be squeezed, or part of
    # it scrolls out of reach of the pen.
    row = st.container(horizontal=True, gap="medium")
    return row.container(width=CANVAS_SIDE + 20), row.container(width=230), row.container(width="stretch")


def show_seen(image28: np.ndarray, key: str, title: str = "**What the model sees** (28x28)") -> None:
    st.markdown(title)
    st.plotly_chart(digit_figure(image28), key=key, config=PLOT_CONFIG, width="content")


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
    figure = probability_figure(prediction.probabilities, prediction.class_names, true_label)
    st.plotly_chart(figure, key=key, config=PLOT_CONFIG)


@st.fragment
def draw_section(predictor: Predictor) -> None:
    """The canvas and its answer. A fragment: a pen stroke reruns this, not the whole page."""
    left, middle, right = panels()
    with left:
        stroke = st.slider("Pen width", 8, 40, 22, key="predict_stroke_width",
                           help="MNIST strokes are about 2 to 3 of the 28 pixels wide, "
                                "so about 20 to 30 here.")
        result = st_canvas(stroke_width=stroke, stroke_color="#ffffff", background_color="#000000",
                           width=CANVAS_SIDE, height=CANVAS_SIDE, drawing_mode="freedraw",
                           update_streamlit=True, return_image_data=True, key=canvas_key())
        st.button("Clear", key="predict_clear", icon=":material/delete:", on_click=clear_canvas)
    started = time.perf_counter()
    rgba = result.image_data if (result.json_data or {}).get("objects") else None
    try:
        image28 = None if rgba is None else preprocess_rgba(rgba)
    except ImageError:
        image28 = None  # Strokes too faint or off the canvas: nothing to read yet.
    if image28 is None:
        with right:
            st.info("Draw a digit in the black square with the mouse: "
                    "the answer appears as you draw, no button to press.")
        return
    prediction = predictor.predict(image28)
    elapsed = time.perf_counter() - started
    st.session_state[DRAWN_IMAGE] = image28
    with middle:
        show_seen(image28, key="predict_draw_seen")
        st.caption(f"Preprocessed and answered in {elapsed * 1000:.0f} ms. "
                   "The Filters page can show this digit's feature maps.")
    with right:
        show_answer(prediction, key="predict_draw_bars")


def pick_sample(dataset_name: str, labels: np.ndarray, wanted: int) -> None:
    """Choose a random test digit, of class ``wanted`` if one is chosen, and remember it."""
    candidates = np.arange(len(labels)) if wanted == ANY_CLASS else np.flatnonzero(labels == wanted)
    st.session_state[SAMPLE] = (dataset_name, int(np.random.default_rng().choice(candidates)))


def sample_section(predictor: Predictor, dataset_name: str) -> None:
    """A test-set digit, random or of a chosen class: its true label and the model's answer."""
    try:
        dataset = load_dataset(dataset_name)
    except DataError as error:
        st.error(f"The {dataset_name} test digits could not be loaded: {error}")
        return
    classes = [ANY_CLASS, *range(len(dataset.class_names))]
    left, middle, right = panels()
    with left:
        wanted = st.selectbox("Class", classes, key="predict_sample_class",
                              format_func=lambda c: "Any class" if c == ANY_CLASS else dataset.class_names[c])
        st.button("Sample a test digit", key="predict_sample_button", icon=":material/casino:",
                  on_click=pick_sample, args=(dataset.name, dataset.test_labels, wanted))
    remembered = st.session_state.get(SAMPLE)
    if (remembered is None or remembered[0] != dataset.name
            or (wanted != ANY_CLASS and dataset.test_labels[remembered[1]] != wanted)):
        pick_sample(dataset.name, dataset.test_labels, wanted)
    index = st.session_state[SAMPLE][1]
    # Test images are already MNIST-style, so they go to the model as they are, scaled to [0, 1].
    image28 = dataset.test_images[index].astype(np.float32) / 255.0
    with middle:
        show_seen(image28, key="predict_sample_seen", title=f"**Test image #{index}** (28x28)")
    with right:
        show_answer(predictor.predict(image28), key="predict_sample_bars",
                    true_label=int(dataset.test_labels[index]))


def upload_section(predictor: Predictor) -> None:
    """An uploaded PNG or JPEG, preprocessed like a drawing; a bad file gets a clear message."""
    left, middle, right = panels()
    with left:
        limit = st.get_option("server.maxUploadSize")
        upload = st.file_uploader("A PNG or JPEG image of one digit", type=["png", "jpg", "jpeg"],
                                  key="predict_upload",
                                  help=f"Up to {limit} MB. Dark ink on light paper or light on dark.")
    if upload is None:
        with right:
            st.info("Upload a photo or scan of one handwritten digit.")
        return
    try:
        image28 = preprocess_bytes(upload.getvalue())
    except ImageError as error:
        with right:
            st.error(f"{upload.name} cannot be used — {error}.")
        return
    with left:
        st.image(upload.getvalue(), caption=upload.name, width=200)
    with middle:
        show_seen(image28, key="predict_upload_seen")
    with right:
        show_answer(predictor.predict(image28), key="predict_upload_bars")


def main() -> None:
    st.title("Predict")
    st.caption("Draw a digit, sample one from the test set or upload one, and see what the network "
               "answers, after the same MNIST-style preprocessing the command line uses.")
    choice, predictor = pick_model("Model", widget_key="predict_model")
    if choice.dataset != "mnist":
        st.caption(f"This model was trained on {choice.dataset}: it answers with its classes "
                   f"({', '.join(choice.class_names)}), whatever you draw.")
    draw, sample, upload = st.tabs(["Draw", "Sample a test digit", "Upload an image"])
    with draw:
        draw_section(predictor)
    with sample:
        sample_section(predictor, choice.dataset)
    with upload:
        upload_section(predictor)


ensure_app_navigation()
main()
