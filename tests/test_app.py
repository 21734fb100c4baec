"""The whole app headless (AppTest): home view, Streamlit patches, and hostile saved runs and addresses."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, needs_data

pytestmark = needs_data


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Runs in a temp folder, and a fresh job manager and caches for it."""
    import streamlit as st

    import cnn_core.jobs as jobs

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(jobs, "_manager", None)
    st.cache_resource.clear()
    (tmp_path / "runs").mkdir()
    yield tmp_path / "runs"
    st.cache_resource.clear()


def app_on(page: str | None = None, query: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.query_params.update(query or {})
    if page:
        app.switch_page(page)
    return app.run()


def all_text(app: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success") for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


def test_home_shows_data_devices_and_models(runs_dir):
    app = app_on()
    assert not app.exception
    text = all_text(app)
    assert "mnist" in text and "fashion-mnist" in text and "No GPU visible" in text
    assert "Shipped seed CNN: **99." in text and "**0** saved run(s)" in text


def test_streamlit_no_longer_clears_keras_after_each_run(runs_dir):
    app_on()
    from streamlit.runtime.scriptrunner import script_runner

    assert script_runner._clean_problem_modules() is None
    assert script_runner._clean_problem_modules.__qualname__.startswith("keep_keras_state_between_runs")


def evil_run(runs_dir, marker):
    """A run folder that claims completion and holds a model whose Lambda layer writes a file."""
    import keras

    folder = runs_dir / "20260101-000000-evil00"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model": {}, "train": {"dataset": "mnist"}}))
    (folder / "status.json").write_text(json.dumps({"status": "completed"}))
    inputs = keras.Input((28, 28, 1))
    payload = eval(f"lambda x: x + 0 * len(open({str(marker)!r}, 'w').name)")
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(payload)(inputs)))
    keras.Model(inputs, outputs).save(folder / "model.keras")
    marker.unlink(missing_ok=True)
    return folder.name


def test_a_model_that_tries_to_run_code_is_refused(runs_dir, tmp_path):
    marker = tmp_path / "pwned"
    run_id = evil_run(runs_dir, marker)
    app = app_on("pages/predict.py")
    picker = app.selectbox(key="predict_model")
    picker.select_index(next(i for i, label in enumerate(picker.options) if run_id in label)).run()
    assert not app.exception
    assert any("cannot be used" in e.value and "cannot load model" in e.value for e in app.error)
    assert not marker.exists()


def test_a_corrupted_run_folder_is_reported_not_fatal(runs_dir):
    broken = runs_dir / "20260101-000000-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (runs_dir / "stray-file.txt").write_text("hello")
    app = app_on()
    assert not app.exception and "Skipped:" in all_text(app) and "config.json: unreadable" in all_text(app)
    for page in ("pages/train.py", "pages/predict.py", "pages/filters.py"):
        assert not app_on(page).exception, page


@pytest.mark.parametrize("bad", ["../etc", "../../runs/x", "a/b", "%2e%2e"])
def test_a_run_id_with_traversal_in_the_address_is_refused(runs_dir, bad):
    app = app_on("pages/train.py", {"run": bad})
    assert not app.exception
    assert any("not a valid run id" in e.value for e in app.error)
