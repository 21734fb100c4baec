"""The whole app headless (AppTest): the home view, the TensorFlow-free server, hostile run folders and addresses."""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.app_support import all_text, app_on, runs_dir  # noqa: F401  (fixture)
from tests.conftest import ROOT, needs_data

pytestmark = needs_data


def wait_for_devices(timeout: float = 180) -> None:
    """The device list comes from a child process in the background; wait until it has answered."""
    from pages.shared import device_report

    deadline = time.time() + timeout
    while device_report() is None and time.time() < deadline:
        time.sleep(0.2)


def test_home_shows_data_devices_and_models(runs_dir):
    wait_for_devices()
    app = app_on()
    assert not app.exception
    text = all_text(app)
    assert "mnist" in text and "fashion-mnist" in text and ("GPU" in text or "CPU" in text)
    assert "Shipped seed CNN: **99." in text and "**0** saved run(s)" in text


SERVER_WITHOUT_TENSORFLOW = r"""
import json, sys
from streamlit.testing.v1 import AppTest
from cnn_core.data import load_dataset
import numpy as np

def app_on(page):
    app = AppTest.from_file("app.py", default_timeout=120)
    if page:
        app.switch_page(page)
    return app.run()

failures = []
for page in (None, "pages/train.py", "pages/filters.py", "pages/predict.py"):
    app = app_on(page)
    failures += [f"{page}: {e.value}" for e in app.exception]
app = app_on("pages/predict.py")
app.button(key="predict_sample_button").click().run()   # a prediction, served
failures += [e.value for e in app.exception]
app = app_on("pages/filters.py")
app.number_input(key="filters_index").set_value(3).run()  # feature maps, served
failures += [e.value for e in app.exception]
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"failures": failures, "loaded": loaded[:10]}))
"""


def test_every_page_renders_without_importing_tensorflow_or_keras(tmp_path):
    """In a fresh interpreter (other tests here import TensorFlow): every page, a prediction, feature maps."""
    env = {**os.environ, "CNN_RUNS_DIR": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "-c", SERVER_WITHOUT_TENSORFLOW], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failures"] == []
    assert result["loaded"] == [], f"the web server imported {result['loaded']}"


def test_the_patched_streamlit_flag_still_exists():
    """pages.shared.ensure_app_navigation flips PagesManager.uses_pages_directory; fail if Streamlit renames it."""
    from streamlit.runtime.pages_manager import PagesManager

    assert isinstance(PagesManager.uses_pages_directory, (bool, type(None)))
    assert "uses_pages_directory" in vars(PagesManager)


def write_run(runs_dir, name: str, config=None, status=None, metrics=None):
    """A run folder written by hand, as a hostile or broken worker might leave it."""
    from cnn_core.model import ModelConfig
    from cnn_core.training import TrainConfig

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
    text = all_text(app)
    assert not app.exception
    for name in ("train0", "pid000", "acc000", "json00", "link00", "stray-file"):
        assert f"Skipped: 20260101-000000-{name}" in text or f"Skipped: {name}" in text, name
    assert str(runs_dir) not in text  # the server's paths stay private
    for page in ("pages/train.py", "pages/predict.py", "pages/filters.py"):
        assert not app_on(page).exception, page


def test_a_run_whose_serving_files_are_garbage_gets_a_message(runs_dir):
    from cnn_core.runs import RunStore
    from cnn_core.model import ModelConfig, build_model
    from tests.app_support import completed_run

    store = RunStore(runs_dir)
    run_id = completed_run(store, build_model(ModelConfig(conv_channels=(4, 8), hidden_units=8)),
                           ModelConfig(conv_channels=(4, 8), hidden_units=8), accuracy=0.5)
    (runs_dir / run_id / "model.tflite").write_bytes(b"this is no flatbuffer" * 100)
    app = app_on("pages/predict.py")
    picker = app.selectbox(key="predict_model")
    picker.select_index(next(i for i, label in enumerate(picker.options) if run_id in label)).run()
    assert not app.exception
    assert any("cannot be used" in e.value for e in app.error)


@pytest.mark.parametrize("bad", ["../etc", "../../runs/x", "a/b", "%2e%2e", "no-such-run"])
def test_a_bad_or_missing_run_in_the_address_is_reported_once_without_paths(runs_dir, bad):
    app = app_on("pages/train.py", {"run": bad})
    assert not app.exception
    warnings = [w.value for w in app.warning if "no run" in w.value]
    assert len(warnings) == 1 and str(runs_dir) not in warnings[0]
