"""Streamlit glue shared by the pages: the launcher, cached models and files, the visitor's identity.

Everything here is thin: the work is in ``cnn_core``. The web server never imports TensorFlow or
Keras: training runs in worker processes (``cnn_core.server.launcher``), models are served through
LiteRT (``cnn_core.server.serving``), and even the device list comes from a child process. Each
per-model file (the experiments' neighbours, calibration and rankings) is cached on its folder and
modification time, and None when missing, so that a page can say so. Failures become a message on
the page and ``st.stop()``, never a traceback.
"""
from __future__ import annotations

import hmac
import os
import secrets
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from cnn_core.common.data import DataError, Dataset, load_dataset, locate
from cnn_core.common.runs import RunError, RunStore
from cnn_core.experiments import artifacts, neighbours, novelty
from cnn_core.server.catalogue import ModelChoice, model_choices
from cnn_core.server.devices import DeviceReport, probe
from cnn_core.server.fetch import fetch
from cnn_core.server.launcher import Launcher, launcher_from_environment
from cnn_core.server.serving import ServedModel, ServingError
from pages import keys, links

PLOT_CONFIG = {"displayModeBar": False}  # charts without Plotly's toolbar, which crowds small figures


def ensure_app_navigation() -> None:
    """Make sure a page runs inside app.py's st.navigation, even as a fresh server's first request.

    Why this private API is still patched: Streamlit 1.67 treats a folder named ``pages/`` beside
    the main script as old-style multipage navigation until ``st.navigation`` has run once in the
    process, so a visitor whose first request is a deep link (``/train?run=...``) would get that
    page alone, with every file of ``pages/`` in the sidebar. Switching the mode off and rerunning
    sends the request through app.py. ``tests/test_app.py`` fails if Streamlit renames the flag.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # Once per session: the mode is process-wide and stays off once off (AppTest alone turns it
    # back on before each of its runs, and a rerun there would drop the click being tested).
    if PagesManager.uses_pages_directory and not st.session_state.get("_navigation_checked"):
        st.session_state["_navigation_checked"] = True
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource
def launcher() -> Launcher:
    """The server's training queue: one for every visitor of this server."""
    return launcher_from_environment(RunStore())


def run_store() -> RunStore:
    return launcher().store


class _DeviceProbe:
    """The device report, asked of a child process once per server, in the background."""

    def __init__(self):
        self.report: DeviceReport | None = None
        threading.Thread(target=self._ask, name="device-probe", daemon=True).start()

    def _ask(self) -> None:
        self.report = probe()


@st.cache_resource
def _device_probe() -> _DeviceProbe:
    return _DeviceProbe()


def device_report() -> DeviceReport | None:
    """What TensorFlow sees (None for the few seconds the first probe takes)."""
    return _device_probe().report


def owner_token() -> str:
    """This browser session's secret: the runs it launches can be stopped and deleted by it alone."""
    if keys.OWNER not in st.session_state:
        st.session_state[keys.OWNER] = secrets.token_urlsafe(24)
    return st.session_state[keys.OWNER]


def presenter_password() -> str:
    """The presenter password from st.secrets or $CNN_PRESENTER_PASSWORD ('' when none is set)."""
    try:
        from_secrets = st.secrets.get("presenter_password", "")
    except (FileNotFoundError, KeyError, AttributeError):
        from_secrets = ""
    except Exception:  # st.secrets raises its own error when secrets.toml is malformed.
        from_secrets = ""
    return str(from_secrets or os.environ.get("CNN_PRESENTER_PASSWORD", ""))


def is_presenter() -> bool:
    return bool(st.session_state.get(keys.PRESENTER))


def presenter_login() -> None:
    """A sidebar field for the presenter password, shown only when one is configured."""
    expected = presenter_password()
    if not expected:
        return
    with st.sidebar:
        if is_presenter():
            st.caption(":material/verified_user: Presenter: you can stop and delete every run.")
            return
        typed = st.text_input("Presenter password", type="password", key="presenter_password_input",
                              help="The presenter can stop and delete every visitor's runs.")
        if typed:
            if hmac.compare_digest(typed.encode(), expected.encode()):
                st.session_state[keys.PRESENTER] = True
                st.rerun()
            st.error("That is not the presenter password.")


def dataset_or_stop(name: str = "mnist") -> Dataset:
    """The dataset, or a clear message and the end of the page if it cannot be loaded."""
    try:
        return load_dataset(name)
    except DataError as error:
        if locate(name)[0] != "download":
            st.error(f"The {name} data could not be loaded: {error}")
            st.stop()
    with st.spinner(f"Downloading {name} (a worker process asks Keras for it)..."):
        problem = fetch_dataset(name)
    if problem:
        st.error(f"The {name} data is not on this machine and could not be downloaded: {problem}. "
                 "Put the four IDX files in a folder and set CNN_DATA_DIR to it (see the README).")
        st.stop()
    return load_dataset(name)


@st.cache_data(ttl=60, show_spinner=False)
def fetch_dataset(name: str) -> str | None:
    """Download a dataset in a child process, once a minute at most (an offline server fails fast)."""
    return fetch(name)


def file_version(folder: Path | None, name: str) -> float:
    """The file's modification time, 0 when missing: the cache key that refreshes after a rewrite."""
    try:
        return (Path(folder) / name).stat().st_mtime
    except (OSError, TypeError):
        return 0.0


def model_version(choice: ModelChoice) -> float:
    """When the chosen model's LiteRT file was written: a cache key for everything derived from it."""
    return file_version(choice.folder, "model.tflite")


@st.cache_resource(max_entries=6, show_spinner="Loading the model...")
def cached_served(choice: ModelChoice, version: float) -> ServedModel:
    """A model folder behind LiteRT; ``version`` (the files' mtime) refreshes the cache."""
    if choice.folder is None:
        raise ServingError(f"model {choice.key} has no folder")
    return ServedModel(choice.folder, choice.class_names)


def pick_model(label: str = "Model", widget_key: str = "model_picker", choices: list[ModelChoice] | None = None,
               preferred: str | None = None, param: str | None = links.MODEL) -> tuple[ModelChoice, ServedModel]:
    """A select box of models (by default every shipped model and saved run); returns the choice and its
    served model. It starts on the model the address names (``param``), else on ``preferred``, else on
    the model this visitor picked last, which it remembers for the other pages unless ``preferred``
    is given. The chosen model's key goes back into the address."""
    choices = model_choices(run_store()) if choices is None else choices
    if not choices:
        st.info("No model yet: the shipped model is missing and no run has finished. Train one on the Train page.")
        st.stop()
    names = [c.key for c in choices]
    if param:
        links.seed(param, widget_key, lambda raw: choices[names.index(raw)])
    if st.session_state.get(widget_key) not in choices:  # first drawn here, or its model has gone
        wanted = preferred or st.session_state.get(keys.MODEL, names[0])
        st.session_state[widget_key] = choices[names.index(wanted) if wanted in names else 0]
    choice = st.selectbox(label, choices, format_func=lambda c: c.label, key=widget_key)
    if preferred is None:
        st.session_state[keys.MODEL] = choice.key
    if param:
        links.keep(param, choice.key)
    try:
        return choice, cached_served(choice, model_version(choice))
    except (RunError, ServingError, ValueError, OSError) as error:
        st.error(f"{choice.label} cannot be used: {error}")
        st.stop()


def model_predictions(choice: ModelChoice, test_count: int) -> np.ndarray | None:
    """The model's answer for every test digit (its folder's predictions.npy), or None without one."""
    if choice.folder is None:
        return None
    predictions = _predictions(str(choice.folder), file_version(choice.folder, "predictions.npy"))
    return predictions if predictions is not None and len(predictions) == test_count else None


@st.cache_data(max_entries=8, show_spinner=False)
def _predictions(folder: str, version: float) -> np.ndarray | None:
    try:
        return RunStore(Path(folder).parent).read_predictions(Path(folder).name)
    except RunError:
        return None


@st.cache_data(max_entries=32, show_spinner=False)
def _json(folder: str, name: str, version: float) -> dict | None:
    return artifacts.read_json(Path(folder), name)


def model_json(folder: Path | None, name: str) -> dict | None:
    """A JSON artifact of the model folder (novelty.json, ablation.json, robustness.json), or None."""
    if folder is None:
        return None
    return _json(str(folder), name, file_version(folder, name))


@st.cache_resource(max_entries=6, show_spinner="Loading the training digits' embeddings...")
def _reference(folder: str, version: float, _train_images: np.ndarray) -> novelty.NoveltyReference | None:
    return artifacts.read_reference(Path(folder), _train_images)


def model_reference(folder: Path | None, dataset: Dataset) -> novelty.NoveltyReference | None:
    """The model's neighbour index with the training pixels it points at, or None without neighbours.npz."""
    if folder is None:
        return None
    return _reference(str(folder), file_version(folder, neighbours.NEIGHBOURS_FILE), dataset.train_images)


def digit_verdict(choice, served, image28: np.ndarray, dataset: Dataset) -> novelty.Verdict | None:
    """Whether the image looks like a digit to this model, or None when the model lacks its novelty files."""
    reference, calibration = model_reference(choice.folder, dataset), model_json(choice.folder, novelty.NOVELTY_FILE)
    if reference is None or calibration is None:
        return None
    image = np.asarray(image28, np.float32)[None]
    return novelty.judge(served.embeddings(image), image, reference, calibration)[0]


@st.cache_data(max_entries=2, show_spinner=False)
def test_floats(name: str, count: int, _dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` test digits as floats in [0, 1], and their labels."""
    return _dataset.test_images[:count].astype(np.float32) / 255, _dataset.test_labels[:count]


def current_digit(dataset: Dataset, prefix: str) -> tuple[np.ndarray, int | None]:
    """A source radio and a test-digit picker; returns the (28, 28) digit and its label when known.

    The digit comes from the address when a link names one (``digit=7``, or ``digit=drawn`` with
    the drawing itself), and goes back into it."""
    source_key, index_key = f"{prefix}_source", f"{prefix}_index"
    links.seed_digit(source_key, index_key, len(dataset.test_labels))
    drawn = st.session_state.get(keys.DRAWN_IMAGE)
    sources = (keys.TEST_DIGIT, keys.MY_DRAWING) if drawn is not None else (keys.TEST_DIGIT,)
    if st.session_state.get(source_key) not in sources:
        st.session_state[source_key] = keys.TEST_DIGIT
    source = st.radio("Digit", sources, horizontal=True, key=source_key)
    if source == keys.MY_DRAWING:
        links.keep_digit(source, None, drawn)
        return np.asarray(drawn, np.float32), None
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if row.button("Random test digit", key=f"{prefix}_random"):
        st.session_state[index_key] = int(np.random.default_rng().integers(len(dataset.test_labels)))
    index = row.number_input("Test digit number", 0, len(dataset.test_labels) - 1, key=index_key, width=200)
    links.keep_digit(source, index, None)
    return dataset.test_images[index].astype(np.float32) / 255, int(dataset.test_labels[index])
