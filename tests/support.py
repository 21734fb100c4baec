"""Helpers the tests share (the fixtures are in conftest.py): waiting, the app under AppTest, saved runs.

    poll(lambda: run_store.read(run_id).status == "completed", 120, "the run to finish")
    app = app_on("pages/predict.py", session={"model_key": run_id})
    texts(app)                                   # every message on the page, one string
    completed_run(store, tiny_models.cnn, accuracy=0.5)   # a servable run, without TensorFlow
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_FOLDER = ROOT / "models" / "seed-mnist"


def poll(condition, timeout: float, what: str, interval: float = 0.2, details=None):
    """The first true value ``condition()`` returns within ``timeout`` seconds; an AssertionError naming
    ``what`` (and whatever ``details()`` adds, a log or a screenshot) when there is none by then."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = details() if details else ""
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}" + (f"\n{extra}" if extra else ""))
        time.sleep(interval)


# The app under AppTest.
def app_on(page: str | None = None, query: dict | None = None, session: dict | None = None, timeout: float = 120):
    """The app opened on ``page`` (a path under pages/) with ``query`` in the address, run once."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    app.query_params.update(query or {})
    for name, value in (session or {}).items():
        app.session_state[name] = value
    if page:
        app.switch_page(page)
    return app.run()


def texts(app) -> str:
    """Every piece of text on the page (markdown, captions and message boxes), one per line."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success")
    return "\n".join(str(element.value) for kind in kinds for element in getattr(app, kind))


def tile_data(app, key: str) -> dict:
    """What a tile grid (pages.components.tile_grid) with this key sends the browser: tiles, heading..."""
    for element in app.get("bidi_component"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.json)
    raise AssertionError(f"no tile grid {key!r} on the page")


def click_tile(app, key: str, index: int):
    """Click tile ``index`` of a clickable grid, as the browser sends it (a trigger), and rerun."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    element = next(e for e in app.get("bidi_component") if e.proto.id.endswith(f"-{key}"))
    states = app._tree.get_widget_states()  # every other widget as it stands, as AppTest.run sends them
    # A v2 component's events travel on one trigger widget beside it ("<id>__events"), as a list.
    trigger = WidgetState(id=f"$$STREAMLIT_INTERNAL_KEY_{element.proto.id}__events",
                          json_trigger_value=json.dumps([{"event": "clicked", "value": index}]))
    states.widgets.append(trigger)
    return app._run(states)


def close_launcher() -> None:
    """Close the launcher the pages cached, if any (AppTest shares this process's cache)."""
    from pages.shared import launcher

    launcher().close()


def adopt_fake_worker(launcher, store, config: dict, code: str, **worker) -> str:
    """A running run of ``config`` whose 'worker' is ``python -c code RUN_ID`` (run from the project's
    root, printing "ready" first), adopted as if ``launcher`` had started it; ``worker`` sets the
    Worker's other fields (``started=0.0``: started long ago)."""
    from cnn_core.server.launcher import Worker

    run_id = store.create(config, owner="alice")
    store.write_status(run_id, "running")
    process = subprocess.Popen([sys.executable, "-c", code, run_id], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    launcher._workers[run_id] = Worker(run_id, process, **worker)
    return run_id


def tick_until_ended(launcher, run_id: str, what: str, timeout: float = 30) -> None:
    """Tick ``launcher`` until it has let go of ``run_id``'s worker; the process is killed either way."""
    process = launcher._workers[run_id].process

    def ended():
        launcher.tick()
        return run_id not in launcher._workers

    try:
        poll(ended, timeout, what)
    finally:
        process.kill()
        process.wait()


def select_model(app, key: str, model_key: str) -> None:
    """Pick the model whose catalogue key is ``model_key`` in the model menu ``key``, and rerun."""
    from cnn_core.server.catalogue import model_choices
    from pages.shared import run_store

    label = next(choice.label for choice in model_choices(run_store()) if choice.key == model_key)
    box = app.selectbox(key=key)
    box.select(next(option for option in box.options if option == label)).run()
    assert not app.exception, app.exception


# Saved runs and model folders.
@dataclass(frozen=True)
class ModelFolder:
    """An exported model: its folder (model.keras, model.tflite, weights.npz) and the config it was built from."""

    folder: Path
    config: object  # cnn_core.common.config.ModelConfig


def export_model_folder(folder: Path, config, seed: int = 3) -> ModelFolder:
    """Build ``config`` untrained and export it to ``folder`` as a worker would (TensorFlow)."""
    from cnn_core.worker.export import export_serving
    from cnn_core.worker.network import build_model

    folder.mkdir(parents=True, exist_ok=True)
    model = build_model(config, seed=seed)
    model.save(folder / "model.keras")
    export_serving(model, folder, lambda path, data: path.write_bytes(data))
    return ModelFolder(folder, config)


def shipped_model_folder() -> ModelFolder:
    from cnn_core.common.config import ModelConfig

    meta = json.loads((SHIPPED_FOLDER / "meta.json").read_text())
    return ModelFolder(SHIPPED_FOLDER, ModelConfig.from_dict(meta["model"]))


def completed_run(store, source: ModelFolder, run_id: str | None = None, dataset: str = "mnist",
                  accuracy: float | None = None, owner: str | None = None, predictions=None,
                  train: dict | None = None) -> str:
    """A completed run of ``store`` holding ``source``'s model files, as a worker leaves one. No TensorFlow."""
    from cnn_core.common.config import TrainConfig
    from cnn_core.common.runs import RunStore

    config = {"model": source.config.to_dict(), "train": {**TrainConfig(dataset=dataset).to_dict(), **(train or {})}}
    # Built in a hidden staging folder, then moved in whole: a launcher watching the runs folder
    # would otherwise start a worker on it while it still says "queued".
    staging = RunStore(store.root / ".staging")
    run_id = staging.create(config, run_id, owner=owner)
    for name in ("model.keras", "model.tflite", "weights.npz"):
        shutil.copyfile(source.folder / name, staging.path(run_id) / name)
    if predictions is not None:
        staging.write_predictions(run_id, np.asarray(predictions))
    staging.write_metrics(run_id, {} if accuracy is None else {"test_accuracy": accuracy})
    staging.write_status(run_id, "completed")
    store.root.mkdir(parents=True, exist_ok=True)
    staging.path(run_id).rename(store.path(run_id))
    return run_id


def as_floats(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255
