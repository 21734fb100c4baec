"""Shared test set-up: real data from CNN_DATA_DIR (default ../shared/data), runs in a temp folder."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CNN_DATA_DIR", str(ROOT.parent / "shared" / "data"))


def real_data_available(name: str = "mnist") -> bool:
    return (Path(os.environ["CNN_DATA_DIR"]) / name).is_dir()


needs_data = pytest.mark.skipif(not real_data_available(), reason="CNN_DATA_DIR has no mnist/")


@pytest.fixture
def run_store(tmp_path):
    """A RunStore in a fresh temporary folder."""
    from cnn_core.runs import RunStore

    return RunStore(tmp_path / "runs")


from tests.browser_support import app_server, app_url, browser  # noqa: E402,F401  (fixtures)
