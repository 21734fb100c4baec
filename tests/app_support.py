"""AppTest helpers: the whole app headless, with runs in a temporary folder and a fresh launcher."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Runs in a temp folder; the server's cached launcher is made anew and closed (workers killed) after."""
    import streamlit as st

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    (tmp_path / "runs").mkdir()
    yield tmp_path / "runs"
    close_launcher()
    st.cache_resource.clear()


def close_launcher() -> None:
    """Close the launcher the pages cached, if any (AppTest shares this process's cache)."""
    from pages.shared import launcher

    launcher().close()


def app_on(page: str | None = None, query: dict | None = None, session: dict | None = None,
           timeout: float = 120) -> AppTest:
    """The app opened on ``page`` (a path under pages/) with ``query`` in the address, run once."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    app.query_params.update(query or {})
    for name, value in (session or {}).items():
        app.session_state[name] = value
    if page:
        app.switch_page(page)
    return app.run()


def all_text(app: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success") for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


def completed_run(store, model, model_config=None, run_id: str | None = None, dataset: str = "mnist",
                  accuracy: float | None = None, owner: str | None = None) -> str:
    """Save a Keras ``model`` as a completed run of ``store``, with the LiteRT files the pages serve."""
    from cnn_core.export import export_serving
    from cnn_core.model import ModelConfig
    from cnn_core.training import TrainConfig

    from cnn_core.runs import RunStore

    model_config = model_config or ModelConfig()
    config = {"model": model_config.to_dict(), "train": TrainConfig(dataset=dataset).to_dict()}
    # Built in a hidden staging folder, then moved in whole: a launcher watching the runs folder
    # would otherwise start a worker on it while it still says "queued".
    staging = RunStore(store.root / ".staging")
    run_id = staging.create(config, run_id, owner=owner)
    staging.save_model(run_id, model)
    export_serving(model, model_config, staging.path(run_id), lambda path, data: staging.write_file(run_id, path.name, data))
    staging.write_metrics(run_id, {} if accuracy is None else {"test_accuracy": accuracy})
    staging.write_status(run_id, "completed")
    staging.path(run_id).rename(store.path(run_id))
    return run_id
