"""The whole app headless (AppTest): the home view, hostile run folders and addresses.

(That the server never imports TensorFlow is held by tests/test_architecture.py.)"""
import json

import pytest

from tests.conftest import needs_data
from tests.support import app_on, completed_run, poll, select_model, texts

pytestmark = needs_data


def test_home_shows_data_devices_and_models(runs_dir):
    from pages.shared import device_report

    # The device list comes from a child process in the background; wait until it has answered.
    poll(lambda: device_report() is not None, 180, "the device probe to answer")
    app = app_on()
    assert not app.exception
    text = texts(app)
    assert "mnist" in text and "fashion-mnist" in text and ("GPU" in text or "CPU" in text)
    assert "Shipped seed CNN: **99." in text and "**0** saved run(s)" in text


def test_the_patched_streamlit_flag_still_exists():
    """pages.shared.ensure_app_navigation flips PagesManager.uses_pages_directory; fail if Streamlit renames it."""
    from streamlit.runtime.pages_manager import PagesManager

    assert isinstance(PagesManager.uses_pages_directory, (bool, type(None)))
    assert "uses_pages_directory" in vars(PagesManager)


def write_run(runs_dir, name: str, config=None, status=None, metrics=None):
    """A run folder written by hand, as a hostile or broken worker might leave it."""
    from cnn_core.common.config import ModelConfig, TrainConfig

    folder = runs_dir / name
    folder.mkdir()
    config = config if config is not None else {"model": ModelConfig().to_dict(), "train": TrainConfig().to_dict()}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "status.json").write_text(json.dumps(status if status is not None else {"status": "completed"}))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_malformed_and_hostile_run_folders_are_listed_as_skipped_and_break_no_page(runs_dir, tmp_path):
    write_run(runs_dir, "20260101-000000-train0", config={"train": []})
    write_run(runs_dir, "20260101-000000-pid000", status={"status": "running", "pid": "x"})
    write_run(runs_dir, "20260101-000000-acc000", metrics={"test_accuracy": "high"})
    (runs_dir / "20260101-000000-json00").mkdir()
    (runs_dir / "20260101-000000-json00" / "config.json").write_text("{not json")
    outside = tmp_path / "elsewhere"
    write_run(tmp_path, "elsewhere")
    (runs_dir / "20260101-000000-link00").symlink_to(outside, target_is_directory=True)
    (runs_dir / "stray-file.txt").write_text("hello")
    app = app_on()
    text = texts(app)
    assert not app.exception
    for name in ("train0", "pid000", "acc000", "json00", "link00", "stray-file"):
        assert f"Skipped: 20260101-000000-{name}" in text or f"Skipped: {name}" in text, name
    assert str(runs_dir) not in text  # the server's paths stay private
    for page in ("pages/train.py", "pages/predict.py", "pages/filters.py"):
        assert not app_on(page).exception, page


def test_a_run_whose_serving_files_are_garbage_gets_a_message(runs_dir, tiny_models):
    from cnn_core.common.runs import RunStore

    run_id = completed_run(RunStore(runs_dir), tiny_models.cnn, accuracy=0.5)
    (runs_dir / run_id / "model.tflite").write_bytes(b"this is no flatbuffer" * 100)
    app = app_on("pages/predict.py")
    select_model(app, "predict_model", run_id)
    assert any("cannot be used" in e.value for e in app.error)


@pytest.mark.parametrize("bad", ["../etc", "../../runs/x", "a/b", "%2e%2e", "no-such-run"])
def test_a_bad_or_missing_run_in_the_address_is_reported_once_without_paths(runs_dir, bad):
    app = app_on("pages/train.py", {"run": bad})
    assert not app.exception
    warnings = [w.value for w in app.warning if "no run" in w.value]
    assert len(warnings) == 1 and str(runs_dir) not in warnings[0]


def test_markdown_in_the_address_is_never_echoed_as_a_link(runs_dir):
    app = app_on("pages/train.py", {"run": "[Presenter login](http://127.0.0.1:9/phish)"})
    [warning] = [w.value for w in app.warning if "no run" in w.value]
    assert warning.startswith("There is no run with the id in this address on this server")
    assert "Presenter login" not in warning and "phish" not in warning
