"""The Experiments and Lessons pages, run headless with AppTest on the shipped CNN and MLP.

The pages are opened as scripts of their own (app.py registers them), with runs in a temporary
folder so only the shipped models are offered. Run: ``python -m pytest -q tests/test_experiments_pages.py``.
"""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, needs_data
from tests.support import SHIPPED_FOLDER, texts

pytestmark = [needs_data, pytest.mark.skipif(not (SHIPPED_FOLDER / "model.tflite").is_file(), reason="no shipped model")]


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def chart_ids(at) -> str:
    return " ".join(element.proto.id for element in at.get("plotly_chart"))


def test_experiments_page_shows_every_view_for_a_test_digit(runs_dir):
    at = open_page("experiments.py")
    for key in ("experiments_strip", "experiments_occlusion", "experiments_neighbours", "experiments_ranking"):
        assert key in chart_ids(at)
    assert "This looks like a digit" in texts(at) and "What it tolerates" in texts(at)
    assert at.metric[0].label == "Test accuracy" and float(at.metric[0].value.rstrip("%")) > 95


def test_switching_every_conv1_filter_off_leaves_chance_on_the_page(runs_dir):
    at = open_page("experiments.py")
    at.multiselect(key="experiments_off1").set_value(list(range(32))).run()
    assert not at.exception, at.exception
    assert float(at.metric[0].value.rstrip("%")) < 20


def test_the_mlp_has_no_filters_to_switch_off(runs_dir):
    at = open_page("experiments.py")
    box = at.selectbox(key="experiments_model")
    box.select(next(option for option in box.options if "MLP" in option)).run()
    assert not at.exception, at.exception
    assert "This model has no convolution filters" in texts(at)


def test_lessons_page_compares_pairs_and_quizzes(runs_dir):
    at = open_page("lessons.py")
    for key in ("lessons_shift", "lessons_rotation", "lessons_loss", "lessons_pairs", "lessons_quiz_options"):
        assert key in chart_ids(at)
    table = at.dataframe[0].value
    assert len(table) == 2 and "MLP" in " ".join(table["model"])
    assert "32 of 32 pairs above 0.9" in texts(at)  # the shipped CNN paired with itself
    at.radio(key="lessons_answer_0").set_value("A").run()
    assert not at.exception, at.exception
    verdicts = [element.value for element in (*at.success, *at.error)]
    assert len(verdicts) == 1 and verdicts[0].startswith(("Right: A.", "Not quite: it is "))


def test_a_drawn_blob_is_flagged_as_not_a_digit(runs_dir):
    from cnn_core.experiments import novelty
    from cnn_core.common.preprocess import to_mnist
    from pages.keys import DRAWN_IMAGE, MY_DRAWING

    blob = to_mnist(np.asarray(novelty.draw_blob(np.random.default_rng(5)), np.float32) / 255)
    at = AppTest.from_file(str(ROOT / "pages" / "experiments.py"), default_timeout=180)
    at.session_state[DRAWN_IMAGE] = blob
    at.run()
    at.radio(key="experiments_source").set_value(MY_DRAWING).run()
    assert not at.exception, at.exception
    assert "That doesn't look like a digit" in texts(at)
