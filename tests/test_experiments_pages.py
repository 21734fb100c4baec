"""The Experiments and Lessons pages, run headless with AppTest on the shipped CNN and MLP.

The pages are opened as scripts of their own (app.py registers them), with runs in a temporary
folder so only the shipped models are offered. Run: ``python -m pytest -q tests/test_experiments_pages.py``.
"""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, needs_data
from tests.support import SHIPPED_FOLDER, click_tile, texts, tile_data

pytestmark = [needs_data, pytest.mark.skipif(not (SHIPPED_FOLDER / "model.tflite").is_file(), reason="no shipped model")]


def open_page(name: str, **address) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=180)
    at.query_params.update(address)
    at.run()
    assert not at.exception, at.exception
    return at


def chart_ids(at) -> str:
    return " ".join(element.proto.id for element in at.get("plotly_chart"))


def test_experiments_page_shows_every_view_for_a_test_digit(runs_dir):
    at = open_page("experiments.py")
    for key in ("experiments_occlusion", "experiments_ranking"):
        assert key in chart_ids(at)
    assert len(tile_data(at, "experiments_strip")["tiles"]) == 13
    assert len(tile_data(at, "experiments_neighbours")["tiles"]) == 8
    assert "This looks like a digit" in texts(at) and "What it tolerates" in texts(at)
    assert "Familiarity" in texts(at) and "odds of about" in texts(at)  # the score, in words
    assert at.metric[0].label == "Test accuracy" and float(at.metric[0].value.rstrip("%")) > 95
    assert "The largest drop, the reddest place on the map, is" in texts(at)


def test_clicking_filters_switches_them_off_and_the_page_says_which_and_why(runs_dir):
    at = open_page("experiments.py", view="off")
    base = float(at.metric[0].value.rstrip("%"))
    for index in (3, 7, 3, 9):  # 3 off, 7 off, 3 back on, 9 off
        click_tile(at, "experiments_grid1", index)
        assert not at.exception, at.exception
    assert at.multiselect(key="experiments_off1").value == [7, 9]
    assert tile_data(at, "experiments_grid1")["off"] == [7, 9] and tile_data(at, "experiments_grid2")["off"] == []
    click_tile(at, "experiments_grid2", 10)
    assert "**Off now:** conv1 #7, #9; conv2 #10" in texts(at)
    assert at.query_params["off"] == "1.7,1.9,2.10"
    assert "Why switching more filters off can raise accuracy" in texts(at)
    at.button(key="experiments_all_on").click().run()
    assert float(at.metric[0].value.rstrip("%")) == base and "off" not in at.query_params
    # The same filters from a link, in another session.
    other = open_page("experiments.py", view="off", off="1.7,2.10", digit="4")
    assert other.multiselect(key="experiments_off1").value == [7] and other.multiselect(key="experiments_off2").value == [10]
    assert other.number_input(key="experiments_index").value == 4


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
    for key in ("lessons_shift", "lessons_rotation"):
        assert key in chart_ids(at)
    table = at.table[0].value
    assert list(table["model"]) == ["left", "right"] and list(table["parameters"]) == ["333,526", "333,910"]
    at.toggle(key="lessons_show_loss").set_value(True).run()
    assert "lessons_loss" in chart_ids(at)
    at = open_page("lessons.py", view="pairs")
    # By default two CNNs trained from different seeds, each seed shown, measured against chance.
    assert "Run A trained from seed 0, run B from seed 1." in texts(at)
    assert "Chance level, run A paired with random kernels" in texts(at) and "from seeds 0 and 1 find" in texts(at)
    assert len(tile_data(at, "lessons_pairs")["tiles"]) == 32
    assert at.button(key="lessons_new_seed").label == "Same settings, new seed"
    same = open_page("lessons.py", view="pairs", b="default")
    assert "are the same model" in texts(same)
    at = open_page("lessons.py", view="quiz")
    assert [tile["label"] for tile in tile_data(at, "lessons_quiz_options")["tiles"]] == ["A", "B", "C"]
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


def test_same_settings_new_seed_queues_run_a_again_from_an_unused_seed(runs_dir, monkeypatch):
    import pages.shared
    from cnn_core.common.runs import RunStore

    submitted = []

    class Launcher:  # records the submit instead of starting a worker
        store = RunStore(runs_dir)

        def submit(self, model, train, owner=None):
            submitted.append((model, train, owner))
            return "20991231-000000-newseed"

        def running(self):
            return []

        def close(self):
            pass

    monkeypatch.setattr(pages.shared, "launcher", lambda: Launcher())
    at = open_page("lessons.py", view="pairs")
    at.button(key="lessons_new_seed").click().run()
    assert not at.exception, at.exception
    (model, train, owner), = submitted
    assert train.seed == 2 and train.iterations == 2000 and model.conv_channels == (32, 64)  # seeds 0 and 1 are shipped
    assert owner and "Run 20991231-000000-newseed is queued: run A's settings from seed 2" in texts(at)
