"""The Predict page, run headless with AppTest on the real data and a real (quickly trained) model.

A drawing reaches the page the way the browser sends it: as the canvas component's widget state,
``{"drawing": {"raw": <Fabric JSON>, "data": <PNG data URL>}}``, set on the canvas's key. From
there the page's own path runs: PNG decoding, ``cnn_core.common.preprocess``, the LiteRT-served model
(``cnn_core.server.serving``), the figures. Runs are saved with their serving files, as a worker saves them.
"""
import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import needs_data
from tests.support import completed_run, texts, tile_data

pytestmark = needs_data
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, tiny_models):
    """(store, run_id): a tiny CNN saved as a completed run (its answers are wrong as often as not,
    which the page must show either way)."""
    from cnn_core.common.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("predict") / "runs")
    return store, completed_run(store, tiny_models.cnn, accuracy=0.9)


def served(store, run_id):
    """The model as the page serves it (LiteRT), to know what the page should answer."""
    from cnn_core.server.serving import ServedModel

    return ServedModel(store.path(run_id))


def open_predict(monkeypatch, store, model_key):
    """An AppTest of the whole app, on the Predict page, with ``model_key`` picked."""
    from streamlit.testing.v1 import AppTest

    import streamlit as st

    # The page finds runs in $CNN_RUNS_DIR through the server's cached launcher; start it afresh.
    monkeypatch.setenv("CNN_RUNS_DIR", str(store.root))
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["model_key"] = model_key
    at.switch_page("pages/predict.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def page(monkeypatch, quick_run):
    store, run_id = quick_run
    return open_predict(monkeypatch, store, run_id)


def canvas_rgba(image28: np.ndarray) -> np.ndarray:
    """A 28x28 uint8 digit as the 280x280 canvas would hold it: white ink on opaque black."""
    grey = np.asarray(Image.fromarray(image28).resize((280, 280), Image.Resampling.BILINEAR))
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def draw(at, rgba: np.ndarray):
    """Send a drawing to the page's canvas, as the component does after a stroke, and rerun."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    generation = at.session_state["predict_canvas_generation"] if "predict_canvas_generation" in at.session_state else 0
    at.session_state[f"predict_canvas_{generation}"] = {
        "drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}}
    return at.run()


def test_empty_canvas_shows_a_hint_not_a_prediction(page):
    assert "Draw a digit in the black square" in page.info[0].value
    assert "predict_draw_bars" not in [c.key for c in page.get("plotly_chart")]
    assert "drawn_image" not in page.session_state
    assert page.slider(key="predict_stroke_width").value == 22


def test_a_drawing_is_preprocessed_predicted_and_kept_for_filters(page, quick_run, mnist):
    from cnn_core.common.digit_code import decode_digit, quantize
    from cnn_core.common.preprocess import preprocess_rgba

    rgba = canvas_rgba(mnist.test_images[0])
    draw(page, rgba)
    assert not page.exception, page.exception
    # On MNIST's 8-bit grid, the form a link carries: a link to it shows exactly this digit.
    seen = quantize(preprocess_rgba(rgba))
    expected = served(quick_run[0], quick_run[1]).predict(seen)
    assert f"The model says **{expected.label}**, with {expected.confidence:.1%} confidence" in texts(page)
    np.testing.assert_allclose(page.session_state["drawn_image"], seen, atol=1e-6)
    np.testing.assert_array_equal(decode_digit(page.query_params["drawn"]), seen)
    assert page.query_params["view"] == "draw"
    assert "predict_draw_bars" in {c.key for c in page.get("plotly_chart")} and tile_data(page, "predict_draw_seen")
    assert "answered in" in page.caption[-1].value or any("answered in" in c.value for c in page.caption)


def test_clear_empties_the_canvas_and_forgets_the_drawing(page, mnist):
    draw(page, canvas_rgba(mnist.test_images[1]))
    assert "drawn_image" in page.session_state
    page.button(key="predict_clear").click().run()
    assert "drawn_image" not in page.session_state
    assert page.session_state["predict_canvas_generation"] == 1
    assert "Draw a digit in the black square" in page.info[0].value


def test_coming_back_to_predict_shows_the_drawing_again(page, mnist):
    rgba = canvas_rgba(mnist.test_images[3])
    draw(page, rgba)
    strokes = page.session_state["predict_drawn_json"]
    said = next(m.value for m in page.markdown if m.value.startswith("The model says"))
    page.switch_page("pages/filters.py").run()
    assert not page.exception, page.exception
    page.switch_page("pages/predict.py").run()
    assert not page.exception, page.exception
    # The canvas remounts with the strokes (initial_drawing), and the answer stays on screen.
    assert page.session_state["predict_canvas_restored"] == strokes
    assert said in texts(page) and "drawn_image" in page.session_state
    assert not any("Draw a digit in the black square" in i.value for i in page.info)


def test_the_canvas_bin_forgets_the_drawing_like_clear(page, mnist):
    draw(page, canvas_rgba(mnist.test_images[4]))
    assert "drawn_image" in page.session_state
    page.session_state["predict_canvas_0"] = {"drawing": {"raw": {"objects": []}, "data": None}}  # the bin
    page.run()
    assert "drawn_image" not in page.session_state and "predict_drawn_json" not in page.session_state
    assert "Draw a digit in the black square" in page.info[0].value


def test_the_pen_width_sits_below_the_canvas(page):
    """The canvas's own toolbar floats just above it, so nothing of ours may sit there."""
    tree = repr(page.main)  # the element tree in page order
    assert tree.index("predict_canvas_0") < tree.index("predict_stroke_width") < tree.index("predict_clear")


def test_sample_of_a_chosen_class_shows_its_true_label(page, mnist):
    page.selectbox(key="predict_sample_class").select(3).run()
    page.button(key="predict_sample_button").click().run()
    name, index = page.session_state["predict_sample"]
    assert name == "mnist" and mnist.test_labels[index] == 3
    assert "The true label is **3**" in texts(page)


def test_a_wrong_answer_is_marked_and_a_right_one_too(page, quick_run, mnist):
    predicted = served(quick_run[0], quick_run[1]).probabilities(mnist.test_images[:500] / 255.0).argmax(axis=1)
    wrong = int(np.flatnonzero(predicted != mnist.test_labels[:500])[0])
    right = int(np.flatnonzero(predicted == mnist.test_labels[:500])[0])
    page.session_state["predict_sample"] = ("mnist", wrong)
    page.run()
    assert "Wrong" in texts(page) and f"The true label is **{mnist.test_labels[wrong]}**" in texts(page)
    page.session_state["predict_sample"] = ("mnist", right)
    page.run()
    assert "Right" in texts(page) and "Wrong" not in texts(page)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, message", [
    ("notes.png", b"these are my notes, not a picture", "not an image"),
    ("cut.png", png_bytes(np.full((64, 64), 255, np.uint8))[:60], "damaged or truncated"),
    ("huge.png", png_bytes(np.zeros((5000, 5000), bool)), "the limit is 4096x4096"),
    ("heavy.png", b"\x89PNG\r\n\x1a\n" + bytes(11 * 2**20), "the limit is 10 MB"),
    ("blank.png", png_bytes(np.full((64, 64), 255, np.uint8)), "no ink: it is blank"),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M1 1L9 9"/></svg>', "export it as PNG"),
])
def test_bad_uploads_get_a_clear_message(page, name, content, message):
    page.file_uploader(key="predict_upload").upload(name, content, "image/png").run()
    assert not page.exception, page.exception
    errors = [e.value for e in page.error]
    assert len(errors) == 1 and errors[0].startswith(f"{name} cannot be used") and message in errors[0]
    assert "draw a digit" not in errors[0]  # an upload is not a drawing


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("name, fmt, mode", [
    ("scan16.png", "PNG", "I;16"), ("digit.gif", "GIF", "P"), ("digit.tif", "TIFF", "L"), ("digit.webp", "WEBP", "RGB"),
])
def test_uploads_in_other_formats_and_16_bit_greyscale_are_answered(page, mnist, name, fmt, mode):
    digit = Image.fromarray(mnist.test_images[2]).resize((112, 112))
    image = Image.fromarray(np.asarray(digit, np.uint16) * 257) if mode == "I;16" else digit.convert(mode)
    assert image.mode == mode
    page.file_uploader(key="predict_upload").upload(name, encoded(image, fmt), "application/octet-stream").run()
    # Before: st.image could not write the I;16 PNG as JPEG (an exception box), and the uploader
    # refused .gif and .tif with only a red icon.
    assert not page.exception and not page.error, (page.exception, [e.value for e in page.error])
    assert "predict_upload_bars" in {c.key for c in page.get("plotly_chart")} and tile_data(page, "predict_upload_seen")
    assert page.file_uploader(key="predict_upload").proto.type == []  # every file reaches the page


def test_a_refused_file_replaces_the_previous_answer(page, mnist):
    good = png_bytes(255 - np.asarray(Image.fromarray(mnist.test_images[2]).resize((112, 112))))
    page.file_uploader(key="predict_upload").upload("scan.png", good, "image/png").run()
    assert "predict_upload_bars" in {c.key for c in page.get("plotly_chart")}
    page.file_uploader(key="predict_upload").upload("logo.svg", b"<svg></svg>", "image/svg+xml").run()
    assert [e.value.split(" — ")[0] for e in page.error] == ["logo.svg cannot be used"]
    assert "predict_upload_bars" not in {c.key for c in page.get("plotly_chart")}


def test_an_uploaded_digit_is_answered(page, mnist):
    # A dark digit on white paper, as a scan would be: preprocessing turns it round.
    paper = 255 - np.asarray(Image.fromarray(mnist.test_images[2]).resize((112, 112)))
    page.file_uploader(key="predict_upload").upload("scan.png", png_bytes(paper), "image/png").run()
    assert not page.exception and not page.error
    assert "predict_upload_bars" in {c.key for c in page.get("plotly_chart")} and tile_data(page, "predict_upload_seen")


def test_fashion_models_answer_with_class_names(monkeypatch, quick_run, tiny_models):
    from cnn_core.common.data import DATASETS

    store = quick_run[0]
    run_id = completed_run(store, tiny_models.cnn, dataset="fashion-mnist")
    at = open_predict(monkeypatch, store, run_id)
    said = next(m.value for m in at.markdown if m.value.startswith("The model says"))
    assert any(f"**{name}** (class {index})" in said for index, name in enumerate(DATASETS["fashion-mnist"])), said
    assert at.selectbox(key="predict_sample_class").options[1] == "T-shirt/top"
    # Words follow the model's dataset: no "digit" for a clothing model.
    assert [tab.label for tab in at.tabs] == ["Draw", "Sample a test clothing item", "Upload an image"]
    assert at.button(key="predict_sample_button").label == "Sample a test clothing item"
    assert "digit" not in at.file_uploader(key="predict_upload").label


def test_the_shipped_model_reads_a_drawn_digit(monkeypatch, quick_run, mnist, shipped_folder):
    at = open_predict(monkeypatch, quick_run[0], "default")
    for index in range(5):
        draw(at, canvas_rgba(mnist.test_images[index]))
        assert f"The model says **{mnist.test_labels[index]}**" in texts(at)


def test_probability_bars_mark_the_answer_and_the_truth():
    from cnn_core.common.data import DATASETS
    from cnn_core.plots.predict import OTHER_COLOUR, TOP_COLOUR, TRUE_COLOUR, probability_figure

    probabilities = np.array([0.05, 0.7, 0.1, 0.15, 0, 0, 0, 0, 0, 0])
    bars = probability_figure(probabilities, DATASETS["mnist"], true_label=3).data[0]
    assert list(bars.x) == list("0123456789") and bars.y[1] == pytest.approx(0.7)
    assert bars.marker.color[1] == TOP_COLOUR and bars.marker.color[3] == TRUE_COLOUR
    assert bars.marker.color[0] == OTHER_COLOUR and bars.text[1] == "70%" and bars.text[4] == ""
    fashion = probability_figure(probabilities, DATASETS["fashion-mnist"]).data[0]
    assert fashion.x[9] == "9 Ankle boot"
    with pytest.raises(ValueError, match="expected 10 probabilities"):
        probability_figure(np.ones(3) / 3, DATASETS["mnist"])


def test_digit_figure_shows_the_28x28_pixels_top_row_first():
    from cnn_core.plots.predict import digit_figure

    image = np.zeros((28, 28), np.float32)
    image[0, 5] = 1.0
    heatmap = digit_figure(image).data[0]
    assert heatmap.z[0][5] == 1.0 and len(heatmap.z) == 28
    assert digit_figure(image).layout.yaxis.range == (27.5, -0.5)
    with pytest.raises(ValueError, match="expected a 28x28 image"):
        digit_figure(np.zeros((32, 32)))


def test_an_uploaded_files_name_is_shown_as_text_not_markdown(page):
    name = "[Presenter login](http://127.0.0.1:9/phish) **bold**.png"
    page.file_uploader(key="predict_upload").upload(name, b"not an image", "image/png").run()
    [error] = [e.value for e in page.error]
    assert "[Presenter login]" not in error and "**bold**" not in error  # every markup character escaped
    assert error.startswith(r"\[Presenter login\]\(h") and r"\*\*bold\*\*.png cannot be used" in error


def test_a_link_with_a_drawing_shows_it_and_its_answer_in_another_browser(monkeypatch, quick_run, mnist):
    from streamlit.testing.v1 import AppTest

    from cnn_core.common.digit_code import encode_digit

    store, run_id = quick_run
    digit = mnist.test_images[5] / 255.0
    monkeypatch.setenv("CNN_RUNS_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "pages" / "predict.py"), default_timeout=120)
    at.query_params.update({"model": run_id, "view": "draw", "drawn": encode_digit(digit)})
    at.run()
    assert not at.exception, at.exception
    expected = served(store, run_id).predict(digit)
    assert f"The model says **{expected.label}**, with {expected.confidence:.1%} confidence" in texts(at)
    assert "This drawing came with the link." in texts(at)
    at.button(key="predict_draw_own").click().run()  # then the canvas, to draw over it
    assert "Draw a digit in the black square" in at.info[0].value and "drawn" not in at.query_params


def test_show_me_a_mistake_and_the_confusion_matrix_for_the_shipped_model(monkeypatch, tmp_path, mnist):
    from streamlit.testing.v1 import AppTest

    from cnn_core.server.catalogue import DEFAULT_FOLDER

    if not (DEFAULT_FOLDER / "predictions.npy").is_file():
        pytest.skip("the shipped model carries no predictions.npy")
    predictions = np.load(DEFAULT_FOLDER / "predictions.npy")
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "pages" / "predict.py"), default_timeout=120)
    at.query_params.update({"model": "default", "view": "sample"})
    at.run()
    at.button(key="predict_mistake").click().run()
    assert not at.exception, at.exception
    index = at.session_state["predict_sample"][1]
    assert predictions[index] != mnist.test_labels[index] and "Wrong" in texts(at)
    assert at.query_params["digit"] == str(index)
    wrong = int((predictions != mnist.test_labels).sum())
    assert any(f"{wrong:,} of 10,000 test digits" in e.label for e in at.expander)
    assert "predict_confusion" in " ".join(c.proto.id for c in at.get("plotly_chart"))
