"""The Train page headless (Streamlit's AppTest): it renders, validates, launches and shows results."""
import time

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.training import PRESETS
from tests.conftest import ROOT, needs_data

pytestmark = needs_data
TINY = {"iterations": 30, "batch_size": 20, "train_images": 600, "eval_every": 10, "eval_images": 200,
        "hidden_units": 16}


@pytest.fixture
def manager(tmp_path, monkeypatch):
    """A fresh process-wide job manager whose runs go to a temporary folder."""
    import streamlit as st

    import cnn_core.jobs as jobs

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(jobs, "_manager", None)
    st.cache_resource.clear()  # pages.shared.job_manager caches the manager it handed out
    yield jobs.get_manager()
    for job in jobs.get_manager().jobs():
        job.stop()
        job.wait(30)
    st.cache_resource.clear()


def train_page(query: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.query_params.update(query or {})
    app.switch_page("pages/train.py")
    return app.run()


def fill(app: AppTest, **values) -> None:
    for field, value in values.items():
        widget = app.text_input(key=f"train_{field}") if isinstance(value, str) else app.number_input(key=f"train_{field}")
        widget.set_value(value)


def test_the_page_renders_with_the_seed_defaults(manager):
    app = train_page()
    assert not app.exception, app.exception
    assert app.title[0].value == "Train"
    assert app.number_input(key="train_iterations").value == 2500
    assert app.text_input(key="train_learning_rate").value == "0.0001"
    assert any("CPU" in caption.value for caption in app.caption)  # the devices line
    assert any("No saved runs" in info.value for info in app.info)


def test_the_fast_preset_fills_the_form(manager):
    app = train_page()
    app.selectbox(key="train_preset").set_value("fast").run()
    fast = PRESETS["fast"]
    assert app.number_input(key="train_batch_size").value == fast.batch_size
    assert app.number_input(key="train_iterations").value == fast.iterations
    assert app.selectbox(key="train_schedule").value == fast.schedule


def test_invalid_values_get_a_message_and_launch_nothing(manager):
    app = train_page()
    fill(app, iterations=0, conv_channels="32, lots")
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    messages = [error.value for error in app.error]
    assert any("iterations must be an integer from 1" in m for m in messages), messages
    assert any("conv_channels must be whole numbers" in m for m in messages), messages
    assert manager.jobs() == []


def test_a_bad_run_id_in_the_address_gets_a_clear_message(manager):
    app = train_page({"run": "../etc"})
    assert not app.exception, app.exception
    assert any("not a valid run id" in error.value for error in app.error)


def test_the_form_launches_a_tiny_job_and_the_page_shows_its_results(manager):
    app = train_page()
    fill(app, conv_channels="4, 8", **TINY)
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    [job] = manager.jobs()
    assert job.train_config.iterations == 30 and job.model_config.conv_channels == (4, 8)
    assert app.query_params["run"] in (job.run_id, [job.run_id])
    assert job.wait(120) and job.status == "completed", job.reason
    app.run()
    assert not app.exception, app.exception
    assert any(metric.label == "Full test accuracy" for metric in app.metric)
    assert any(f"Run `{job.run_id}`: completed" in md.value for md in app.markdown)
    assert len(app.get("plotly_chart")) >= 3  # loss, accuracy, confusion matrix, mistakes


def test_stop_from_the_page_stops_a_running_job(manager):
    app = train_page()
    fill(app, conv_channels="4, 8", **{**TINY, "iterations": 100_000, "eval_every": 10_000})
    app.button(key="train_launch").click().run()
    [job] = manager.jobs()
    deadline = time.time() + 60
    while job.latest() is None and time.time() < deadline:
        time.sleep(0.1)
    app.run()
    app.button(key="train_stop").click().run()
    assert job.wait(30) and job.status == "stopped"
