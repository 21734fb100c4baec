"""The tests' set-up and every shared fixture: the real data, temporary run folders, exported models, the browser.

Data: ``$CNN_DATA_DIR`` if set, else ``../shared/data`` when that folder exists (this project's
workspace), else the other places ``cnn_core.common.data`` looks (./data, Keras' cache). A test that
needs the data is marked ``needs_data`` (or uses the ``mnist`` fixture) and skips with the reason
when the data cannot be had; so does every browser test, since the pages load it.

Markers: ``browser`` (a real Chromium), ``slow`` (trains for real, or starts processes that do);
``python -m pytest -q -m "not slow and not browser"`` is the quick loop.
"""
import os
from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, PRESENTER_PASSWORD, browser_available, start_app, stop_app
from tests.support import ModelFolder, export_model_folder, shipped_model_folder

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "CNN_DATA_DIR" not in os.environ and WORKSPACE_DATA.is_dir():
    os.environ["CNN_DATA_DIR"] = str(WORKSPACE_DATA)


def data_missing_reason(name: str = "mnist") -> str | None:
    """Why dataset ``name`` cannot be had for the tests, or None when it can (on disk or downloadable)."""
    from cnn_core.common.data import obtainable

    ok, where = obtainable(name)
    return None if ok else f"{name}: {where}"


MISSING_DATA = data_missing_reason()
needs_data = pytest.mark.skipif(MISSING_DATA is not None, reason=f"needs the data; {MISSING_DATA}")


def pytest_collection_modifyitems(config, items):
    """Browser tests drive whole pages, which load the data: without it they skip, saying why."""
    if MISSING_DATA is None:
        return
    skip = pytest.mark.skip(reason=f"browser tests need the data; {MISSING_DATA}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mnist():
    """The MNIST dataset, loaded once; the test skips when it cannot be had."""
    if MISSING_DATA is not None:
        pytest.skip(f"needs the data; {MISSING_DATA}")
    from cnn_core.common.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture
def run_store(tmp_path):
    """A RunStore in a fresh temporary folder."""
    from cnn_core.common.runs import RunStore

    return RunStore(tmp_path / "runs")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Runs in a temp folder for the app under AppTest; the server's cached launcher is made anew and
    closed (its workers killed) after."""
    import streamlit as st

    from tests.support import close_launcher

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    (tmp_path / "runs").mkdir()
    yield tmp_path / "runs"
    close_launcher()
    st.cache_resource.clear()


class TinyModels:
    """Two tiny untrained networks exported once per session, to copy into runs: ``cnn`` (conv 4-8,
    dense 8) and ``mlp`` (784-8-10)."""

    def __init__(self, folder: Path):
        from cnn_core.common.config import ModelConfig

        self.cnn = export_model_folder(folder / "cnn", ModelConfig(conv_channels=(4, 8), hidden_units=8))
        self.mlp = export_model_folder(folder / "mlp", ModelConfig(architecture="mlp", hidden_units=8))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """The session's one export of tiny models (it takes TensorFlow a few seconds)."""
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def shipped_folder() -> ModelFolder:
    """The shipped seed CNN's folder (models/seed-mnist); the test skips when it is missing."""
    if not (ROOT / "models" / "seed-mnist" / "model.tflite").is_file():
        pytest.skip("the shipped model models/seed-mnist is missing")
    return shipped_model_folder()


@pytest.fixture(scope="session")
def shipped(shipped_folder):
    """The shipped seed CNN served through LiteRT, as the web server serves it."""
    from cnn_core.server.serving import ServedModel

    return ServedModel(shipped_folder.folder)


# The real app in a real browser.
@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """(url, runs_dir, process) of one app server shared by the browser tests."""
    if not browser_available():
        if os.environ.get("CI"):
            pytest.fail("CI needs /usr/bin/chromium and playwright for the browser tests")
        pytest.skip("no /usr/bin/chromium or playwright here")
    folder = tmp_path_factory.mktemp("app")
    process, url = start_app(folder / "runs", folder / "server.log", {"CNN_PRESENTER_PASSWORD": PRESENTER_PASSWORD})
    yield url, folder / "runs", process
    stop_app(process)


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server[0]


@pytest.fixture(scope="session")
def browser(app_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
