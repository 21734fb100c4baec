"""The Filters page run headless with AppTest, on tiny saved runs (a small CNN and an MLP).

The runs live in a temporary CNN_RUNS_DIR, so the tests never depend on models/seed-mnist (which
may or may not exist) and never touch runs/. Run: ``python -m pytest -q tests/test_filters_page.py``.
"""
import base64
import json

import numpy as np
import pytest

from tests.conftest import ROOT, needs_data
from tests.support import click_tile, close_launcher, completed_run, select_model, texts, tile_data

pytestmark = needs_data
CNN_RUN, MLP_RUN = "filters-cnn", "filters-mlp"


@pytest.fixture(scope="module")
def filters_runs(tmp_path_factory, tiny_models):
    """A runs folder holding a completed tiny CNN run and a completed MLP run, with their LiteRT files."""
    from cnn_core.common.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("filters") / "runs")
    for run_id, source in ((CNN_RUN, tiny_models.cnn), (MLP_RUN, tiny_models.mlp)):
        completed_run(store, source, run_id, accuracy=0.1)
    return store.root


@pytest.fixture
def app(filters_runs, monkeypatch):
    """The app on the Filters page with the tiny CNN run picked, over filters_runs."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CNN_RUNS_DIR", str(filters_runs))
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/filters.py").run()
    select_model(at, "filters_model", CNN_RUN)
    yield at
    close_launcher()
    st.cache_resource.clear()


def chart(at, key: str) -> dict:
    """The Plotly figure (as JSON) of the chart with this widget key."""
    for element in at.get("plotly_chart"):
        if key in element.proto.id:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r} on the page")


def figure_z(at, key: str) -> np.ndarray:
    """The first trace's z of a chart; Plotly sends NumPy arrays as base64 typed arrays."""
    z = chart(at, key)["data"][0]["z"]
    if isinstance(z, dict):
        shape = [int(side) for side in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=float)


def test_cnn_page_shows_kernels_maps_matches_and_an_exact_matrix_product(app):
    from cnn_core.common.kernels import match_table
    from cnn_core.common.runs import RunStore
    from cnn_core.server.serving import ServedModel

    assert not app.exception
    assert "conv1: 4 kernels of 3x3 on 1 channel; conv2: 8 kernels of 3x3 on 4 channels" in texts(app)
    expected = match_table(ServedModel(RunStore().path(CNN_RUN)).first_layer_kernels())
    shown = app.dataframe[0].value
    assert shown["nearest"].tolist() == [row["nearest"] for row in expected]
    np.testing.assert_allclose(shown["similarity"], [row["similarity"] for row in expected])
    stages = app.radio(key="filters_stage")
    assert stages.options == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"]
    stages.set_value("pool2").run()
    assert tile_data(app, "filters_maps")["heading"] == "pool2: 8 maps of 7x7"
    assert float(app.metric[0].value) < 1e-4  # matrix x image vs direct convolution
    assert app.metric[1].value == "4,428 of 614,656"  # sobel x, shown first: 6 non-zero taps, less those off the border
    app.selectbox(key="filters_matrix_kernel").select("hand-made: identity").run()
    assert app.metric[1].value == "784 of 614,656"  # one entry per row
    app.selectbox(key="filters_matrix_kernel").select("hand-made: box blur").run()
    assert app.metric[1].value == "6,724 of 614,656"  # 9 x 784 taps minus the 332 that fall off the border


def test_switching_the_test_image_redraws_it(app):
    from cnn_core.common.data import load_dataset

    app.number_input(key="filters_index").set_value(7).run()
    assert not app.exception
    digits = load_dataset("mnist")
    assert f"test image 7 (a {digits.test_labels[7]})" in texts(app)
    shown = figure_z(app, "filters_input")
    np.testing.assert_allclose(shown, digits.test_images[7] / 255.0, atol=1e-6)
    app.selectbox(key="filters_class").set_value(3).run()  # a class picks a random digit of that class
    assert digits.test_labels[app.number_input(key="filters_index").value] == 3


def test_drawn_digit_is_used_and_its_absence_is_explained(app):
    from pages.keys import DRAWN_IMAGE, MY_DRAWING

    app.radio(key="filters_source").set_value(MY_DRAWING).run()
    assert not app.exception and "Nothing has been drawn" in texts(app)
    drawing = np.zeros((28, 28), np.float32)
    drawing[5:23, 13:15] = 1.0  # a "1"
    app.session_state[DRAWN_IMAGE] = drawing
    app.run()
    assert not app.exception and "your drawing from the Predict page" in texts(app)
    np.testing.assert_allclose(figure_z(app, "filters_input"), drawing)


def test_custom_kernel_updates_and_invalid_kernel_says_why(app):
    app.text_area(key="filters_custom_text").input("0 0 0\n0 -2 0\n0 0 0").run()
    assert not app.exception and "minus **identity** (|cosine| 1.000)" in texts(app)
    app.radio(key="filters_custom_size").set_value(5).run()  # the typed kernel, padded to 5x5
    rows = [line.split() for line in app.text_area(key="filters_custom_text").value.splitlines()]
    assert len(rows) == 5 and rows[2] == ["0", "0", "-2", "0", "0"] and rows[0] == ["0"] * 5
    app.radio(key="filters_custom_size").set_value(3).run()  # and back: its centre, as typed
    assert app.text_area(key="filters_custom_text").value.split() == "0 0 0 0 -2 0 0 0 0".split()
    app.text_area(key="filters_custom_text").input("1 2 3 x").run()
    assert not app.exception
    assert [e.value for e in app.error] == ["That kernel cannot be used: expected 9 numbers for a 3x3 kernel, got 4."]


def test_mlp_model_says_it_has_no_convolutions(app):
    select_model(app, "filters_model", MLP_RUN)
    assert "multilayer perceptron" in texts(app)
    # No feature maps, but the designed kernels and the matrix still work.
    assert not [r for r in app.radio if r.key == "filters_stage"] and app.metric


def test_clicking_a_kernel_selects_it_for_its_maps_and_for_switching_it_off(app):
    assert tile_data(app, "filters_conv1_kernels")["selected"] == [0]
    click_tile(app, "filters_conv1_kernels", 2)
    assert not app.exception
    assert tile_data(app, "filters_conv1_kernels")["selected"] == [2]
    assert any(m.value.startswith("Kernel **#2**") for m in app.markdown)
    assert app.query_params["kernel"] == "2"
    assert app.button(key="filters_switch_off").label == "Switch kernel #2 off and see what it costs"
    # A click on a conv1 map selects the same kernel; one on a conv2 map, that channel below.
    click_tile(app, "filters_maps", 3)
    assert tile_data(app, "filters_conv1_kernels")["selected"] == [3]
    app.radio(key="filters_stage").set_value("relu2").run()
    click_tile(app, "filters_maps", 5)
    assert app.number_input(key="filters_deep_channel").value == 5 and app.query_params["channel"] == "5"


def test_the_address_holds_the_view_and_a_link_opens_it_again(app, filters_runs):
    from streamlit.testing.v1 import AppTest

    app.number_input(key="filters_index").set_value(7).run()
    app.radio(key="filters_stage").set_value("pool1").run()
    address = dict(app.query_params)
    assert address["model"] == CNN_RUN and address["digit"] == "7" and address["stage"] == "pool1"
    # Another browser: a new session opened on that address alone, focused on one section.
    other = AppTest.from_file(str(ROOT / "pages" / "filters.py"), default_timeout=180)
    other.query_params.update({**address, "view": "maps", "kernel": "1"})
    other.run()
    assert not other.exception, other.exception
    assert other.number_input(key="filters_index").value == 7 and other.radio(key="filters_stage").value == "pool1"
    maps = tile_data(other, "filters_maps")
    assert maps["heading"].startswith("pool1") and maps["selected"] == [1]
    assert "filters_conv1_kernels" not in str([e.proto.id for e in other.get("bidi_component")])  # one section only
    # A hand-edited address: what cannot be read is named, and the page shows its defaults.
    broken = AppTest.from_file(str(ROOT / "pages" / "filters.py"), default_timeout=180)
    broken.query_params.update({"model": CNN_RUN, "digit": "99999999", "stage": "<b>x</b>", "custom": "1,**x**,3"})
    broken.run()
    assert not broken.exception and broken.number_input(key="filters_index").value == 0
    assert any("could not be read (digit, stage)" in c.value for c in broken.caption)
    # A kernel typed into someone's link is shown as typed, never as Markdown.
    assert [e.value for e in broken.error] == ["That kernel cannot be used: expected 9 numbers for a 3x3 kernel, got 3."]
    broken.query_params["custom"] = "1,2,3;4,**x**,6;7,8,9"
    broken.run()
    assert "'\\*\\*x\\*\\*'" in broken.error[0].value
