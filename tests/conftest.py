"""Shared test set-up: the real data wherever cnn_core.data finds it, runs in a temp folder.

Data: ``$CNN_DATA_DIR`` if set, else ``../shared/data`` when that folder exists (this project's
workspace), else the other places ``cnn_core.data`` looks (./data, Keras' cache, the download).
Tests that need data, and every browser test (the pages load it), skip with the reason when the
data cannot be had, instead of failing on a "could not be loaded" box.
"""
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "CNN_DATA_DIR" not in os.environ and WORKSPACE_DATA.is_dir():
    os.environ["CNN_DATA_DIR"] = str(WORKSPACE_DATA)


def data_missing_reason(name: str = "mnist") -> str | None:
    """Why dataset ``name`` cannot be had for the tests, or None when it can (on disk or downloadable)."""
    from cnn_core.data import obtainable

    ok, where = obtainable(name)
    return None if ok else f"{name}: {where}"


def real_data_available(name: str = "mnist") -> bool:
    return data_missing_reason(name) is None


MISSING_DATA = data_missing_reason()
needs_data = pytest.mark.skipif(MISSING_DATA is not None, reason=f"needs the data; {MISSING_DATA}")


def poll(condition, timeout: float, interval: float = 0.2):
    """The first true value ``condition()`` returns within ``timeout`` seconds, or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def pytest_collection_modifyitems(config, items):
    """Browser tests drive whole pages, which load the data: without it they skip, saying why."""
    if MISSING_DATA is None:
        return
    skip = pytest.mark.skip(reason=f"browser tests need the data; {MISSING_DATA}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture
def run_store(tmp_path):
    """A RunStore in a fresh temporary folder."""
    from cnn_core.runs import RunStore

    return RunStore(tmp_path / "runs")


from tests.browser_support import app_server, app_url, browser  # noqa: E402,F401  (fixtures)
