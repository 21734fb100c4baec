"""The Predict page: draw, sample a test image or upload one; see what the model answers.

Every input goes through the same MNIST-style preprocessing as the CLI (``cnn_core.common.preprocess``)
and the same LiteRT forward pass the other pages use (``cnn_core.server.serving``). The input and
the answer sit side by side, so that a room sees the drawing and the answer at once on a 1024x768
projector; the 28x28 image the model actually sees is shown small under the answer, and conv1's
maps of a drawing under both. The last digit drawn is kept in ``st.session_state[keys.DRAWN_IMAGE]``
for the other pages and in the address (``drawn=``), so a link shows the same drawing and answer.
The sample tab offers "Show me a mistake" and the confusion matrix for any model that carries its
test predictions (the shipped ones do). Words follow the model's dataset.
"""
from __future__ import annotations

import time

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnn_core.common.data import DataError, how_to_get, load_dataset
from cnn_core.common.digit_code import quantize
from cnn_core.common.preprocess import READABLE, ImageError, preprocess_rgba, read_upload
from cnn_core.common.vocabulary import display_name, item_noun
from cnn_core.plots.predict import digit_figure
from cnn_core.plots.tiles import tile_stack
from cnn_core.server.serving import ServedModel
from pages import links
from pages.answer_view import CANVAS_SIDE, novelty_note, panels, show_answer, show_seen
from pages.components import in_tour, link_button, page_title, settings, tile_grid
from pages.confusion_view import confusion_drilldown
from pages.keys import ANY_CLASS, DRAWN_IMAGE, PREDICT_SAMPLE_CLASS
from pages.keys import PREDICT_SAMPLE as SAMPLE
from pages.shared import PLOT_CONFIG, as_text, ensure_app_navigation, model_predictions, pick_model

CANVAS_KEY = "predict_canvas"     # The canvas's widget key is this plus its generation number.
GENERATION = "predict_canvas_generation"  # Bumped by "Clear": a new key mounts an empty canvas.
DRAWN_JSON = "predict_drawn_json"  # The canvas's own record of the strokes, to redraw them on return.
RESTORED = "predict_canvas_restored"  # The strokes a freshly mounted canvas starts with (None: empty).
LINKED = "predict_linked_drawing"  # True while the drawing on show came with a link, not from this canvas.
TAB = "predict_tab"
VIEWS = ("draw", "sample", "upload")


def canvas_key() -> str:
    """The current canvas's widget key; tests feed drawings through it."""
    return f"{CANVAS_KEY}_{st.session_state.get(GENERATION, 0)}"


def forget_drawing() -> None:
    """Forget the drawn digit and its strokes, so Filters does not show a stale one."""
    st.session_state.pop(DRAWN_IMAGE, None)
    st.session_state.pop(DRAWN_JSON, None)


def clear_canvas() -> None:
    """Mount a fresh, empty canvas and forget the drawing."""
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state[RESTORED] = None
    st.session_state[LINKED] = False
    forget_drawing()


def initial_drawing() -> dict | None:
    """The strokes to mount the canvas with: the last drawing when the visitor comes back to the page.

    Streamlit forgets a widget's state once a run does not draw it (another page was open), so a
    canvas key missing from the session means a fresh mount. The strokes are fixed for as long as
    that canvas lives: a changing ``initial_drawing`` would make the component redraw after every stroke.
    """
    if canvas_key() not in st.session_state:
        st.session_state[RESTORED] = st.session_state.get(DRAWN_JSON)
    return st.session_state.get(RESTORED)


def read_drawing(result) -> np.ndarray | None:
    """The 28x28 digit on the canvas, or None when there is none to read (and then none is kept)."""
    objects = (result.json_data or {}).get("objects") or []
    if not objects:  # An empty canvas: never drawn on, or emptied by the canvas's own bin.
        forget_drawing()
        return None
    rgba = result.image_data
    if rgba is None:  # Strokes restored on return, not yet sent back as pixels: the kept digit.
        return st.session_state.get(DRAWN_IMAGE)
    try:
        # On MNIST's 8-bit grid, as the address carries it: a link shows exactly this digit.
        image28 = quantize(preprocess_rgba(rgba))
    except ImageError:
        return None  # Strokes too faint or off the canvas: nothing to read yet.
    st.session_state[DRAWN_IMAGE] = image28
    st.session_state[DRAWN_JSON] = result.json_data
    return image28


@st.fragment
def draw_section(choice, predictor: ServedModel, noun: str = "digit", active: bool = True) -> None:
    """The canvas and its answer. A fragment: a pen stroke reruns this, not the whole page."""
    left, right = panels()
    linked = st.session_state.get(LINKED) and st.session_state.get(DRAWN_IMAGE) is not None
    with left:
        if linked:
            st.plotly_chart(digit_figure(st.session_state[DRAWN_IMAGE], size=CANVAS_SIDE), key="predict_linked",
                            config=PLOT_CONFIG, width="content")
            st.caption("This drawing came with the link.")
            st.button("Draw your own", key="predict_draw_own", icon=":material/draw:", on_click=clear_canvas)
            result = None
        else:
            # The canvas first, with free room above it for its own toolbar (undo, redo, bin), which
            # appears there on hover; the pen width and Clear sit below, out of the toolbar's way.
            stroke = st.session_state.get("predict_stroke_width", 22)
            st.space("medium")  # where the toolbar floats (2.65rem up), clear of the tab labels
            result = st_canvas(stroke_width=stroke, stroke_color="#ffffff", background_color="#000000",
                               width=CANVAS_SIDE, height=CANVAS_SIDE, drawing_mode="freedraw",
                               initial_drawing=initial_drawing(),
                               update_streamlit=True, return_image_data=True, key=canvas_key())
            with st.container(horizontal=True, vertical_alignment="bottom"):
                st.slider("Pen width", 8, 40, 22, key="predict_stroke_width", width=170,
                          help="MNIST strokes are about 2 to 3 of the 28 pixels wide, so about 20 to 30 here.")
                st.button("Clear", key="predict_clear", icon=":material/delete:", on_click=clear_canvas)
    started = time.perf_counter()
    image28 = st.session_state[DRAWN_IMAGE] if linked else read_drawing(result)
    if active:
        links.keep_drawn(image28)
    if image28 is None:
        with right:
            st.info(f"Draw {'a digit' if noun == 'digit' else 'something'} in the black square with the mouse: "
                    "the answer appears as you draw, no button to press.")
        return
    prediction = predictor.predict(image28)
    elapsed = time.perf_counter() - started
    with right:
        show_answer(prediction, key="predict_draw_bars")
        novelty_note(choice, predictor, image28)
        show_seen(image28, key="predict_draw_seen")
        st.caption(f"Preprocessed and answered in {elapsed * 1000:.0f} ms.")
    if predictor.architecture == "cnn":
        relu = predictor.feature_maps(image28)["relu1"]
        tile_grid(tile_stack(relu, per_tile=True), key="predict_draw_maps", size=40,
                  heading="What conv1's kernels make of it (after ReLU; more on the Filters page)")


def pick_sample(dataset_name: str, labels: np.ndarray, wanted: int) -> None:
    """Choose a random test image, of class ``wanted`` if one is chosen, and remember it."""
    candidates = np.arange(len(labels)) if wanted == ANY_CLASS else np.flatnonzero(labels == wanted)
    st.session_state[SAMPLE] = (dataset_name, int(np.random.default_rng().choice(candidates)))


def pick_mistake(dataset_name: str, labels: np.ndarray, predictions: np.ndarray) -> None:
    """Choose a random test image this model gets wrong (any class: a mistake rarely has the chosen one)."""
    wrong = np.flatnonzero(predictions != labels)
    if len(wrong):
        st.session_state[SAMPLE] = (dataset_name, int(np.random.default_rng().choice(wrong)))
        st.session_state[PREDICT_SAMPLE_CLASS] = ANY_CLASS


def sample_section(choice, predictor: ServedModel, dataset_name: str, active: bool = True) -> None:
    """A test-set image, random, of a chosen class or a mistake: its true label and the model's answer."""
    noun = item_noun(dataset_name)
    try:
        dataset = load_dataset(dataset_name)
    except DataError as error:
        st.error(f"The {dataset_name} test {noun}s could not be loaded: {error}. "
                 f"Drawing and uploading still work; to sample, {how_to_get(dataset_name)}.")
        return
    classes = [ANY_CLASS, *range(len(dataset.class_names))]
    predictions = model_predictions(choice, len(dataset.test_labels))
    if links.seed(links.DIGIT, "predict_linked_index", links.whole_number(0, len(dataset.test_labels) - 1)):
        st.session_state[SAMPLE] = (dataset.name, st.session_state.pop("predict_linked_index"))
        st.session_state[PREDICT_SAMPLE_CLASS] = ANY_CLASS
    left, right = panels()
    with left:
        wanted = st.selectbox("Class", classes, key=PREDICT_SAMPLE_CLASS, width=200,
                              format_func=lambda c: "Any class" if c == ANY_CLASS else dataset.class_names[c])
        buttons = st.container(horizontal=True)
        buttons.button(f"Sample a test {noun}", key="predict_sample_button", icon=":material/casino:",
                       on_click=pick_sample, args=(dataset.name, dataset.test_labels, wanted))
        if predictions is not None:
            buttons.button("Show me a mistake", key="predict_mistake", icon=":material/error:",
                           on_click=pick_mistake, args=(dataset.name, dataset.test_labels, predictions),
                           help="A test image this model gets wrong, picked at random from its mistakes.")
    remembered = st.session_state.get(SAMPLE)
    if (remembered is None or remembered[0] != dataset.name
            or (wanted != ANY_CLASS and dataset.test_labels[remembered[1]] != wanted)):
        pick_sample(dataset.name, dataset.test_labels, wanted)
    index = st.session_state[SAMPLE][1]
    if active:
        links.keep(links.DIGIT, index)
    # Test images are already MNIST-style, so they go to the model as they are, scaled to [0, 1].
    image28 = dataset.test_images[index].astype(np.float32) / 255.0
    with left:
        st.plotly_chart(digit_figure(image28, size=200), key="predict_sample_seen", config=PLOT_CONFIG, width="content")
        st.caption(f"Test image #{index} (28x28)")
    with right:
        show_answer(predictor.predict(image28), key="predict_sample_bars", true_label=int(dataset.test_labels[index]))
    if predictions is None:
        st.caption("This model carries no record of its answers on the test set, so its confusion matrix "
                   "cannot be shown.")
        return
    wrong = int((predictions != dataset.test_labels).sum())
    with st.expander(f"Where this model goes wrong: {wrong:,} of {len(predictions):,} test {noun}s "
                     "(confusion matrix)", expanded=False):
        confusion_drilldown(choice.key, dataset, predictions, prefix="predict",
                            on_pick=lambda chosen: st.session_state.__setitem__(SAMPLE, (dataset.name, int(chosen))))


def upload_section(choice, predictor: ServedModel, noun: str = "digit") -> None:
    """An uploaded image, preprocessed like a drawing; a bad file gets a clear message.

    Any file is accepted here (no ``type=`` filter): the browser would refuse an SVG with only a red
    icon and leave the previous file's answer on screen, where this page says what is wrong.
    """
    left, right = panels()
    with left:
        limit = st.get_option("server.maxUploadSize")
        upload = st.file_uploader(f"An image of one {noun}", key="predict_upload",
                                  help=f"{READABLE}, up to {limit} MB. Dark on light or light on dark.")
    if upload is None:
        with right:
            st.info(f"Upload a photo or scan of one {'handwritten digit' if noun == 'digit' else noun}. "
                    "A link cannot carry your file: a link to this tab opens it empty.")
        return
    try:
        # One decode, bounded by pixels, for both the digit and the preview (cnn_core.common.preprocess).
        image28, preview = read_upload(upload.getvalue())
    except ImageError as error:
        with right:
            st.error(f"{as_text(upload.name, 80)} cannot be used — {error}.")
        return
    with left:
        # A PNG made for the browser: st.image would try to write a 16-bit greyscale upload as JPEG.
        st.image(preview, caption=as_text(upload.name, 80), width=200)
    with right:
        show_answer(predictor.predict(image28), key="predict_upload_bars")
        novelty_note(choice, predictor, image28)
        show_seen(image28, key="predict_upload_seen")


def main() -> None:
    page_title("Predict")
    if not in_tour():
        st.caption("Draw, sample an image from the test set or upload one, and see what the network "
                   "answers, after the same MNIST-style preprocessing the command line uses.")
    with settings(in_tour(), "Model"):
        choice, predictor = pick_model("Model", widget_key="predict_model")
    noun = item_noun(choice.dataset)
    if choice.dataset != "mnist":
        st.caption(f"This model was trained on {display_name(choice.dataset)}: it answers with its classes "
                   f"({', '.join(choice.class_names)}), whatever you draw.")
    labels = dict(zip(VIEWS, ["Draw", f"Sample a test {noun}", "Upload an image"]))
    if links.seed_drawn():
        st.session_state[LINKED] = True
    (draw, sample, upload), view = links.tabs(labels, TAB, "draw")
    unread = st.empty()  # says, at the end, what of the address could not be read
    # Every tab is drawn, as before (its widgets keep their state while another is on show); only
    # the one on show writes its settings into the address.
    with draw:
        draw_section(choice, predictor, noun, active=view == "draw")
        link_button("draw")
    with sample:
        sample_section(choice, predictor, choice.dataset, active=view == "sample")
        link_button("sample")
    with upload:
        upload_section(choice, predictor, noun)
    if view != "sample":
        links.drop(links.DIGIT)
    if view != "draw":
        links.drop(links.DRAWN)

    links.problems(unread)

ensure_app_navigation()
main()
