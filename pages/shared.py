"""Streamlit glue shared by the pages: the launcher, served models, the visitor's identity.

Everything here is thin: the work is in ``cnn_core``. The web server never imports TensorFlow or
Keras: training runs in worker processes (``cnn_core.launcher``), models are served through LiteRT
(``cnn_core.serving``), and even the device list comes from a child process. Failures become a
message on the page and ``st.stop()``, never a traceback.
"""
from __future__ import annotations

import hmac
import os
import secrets
import threading

import streamlit as st

from cnn_core.data import DataError, Dataset, load_dataset, locate
from cnn_core.device_probe import DeviceReport, probe
from cnn_core.fetch import fetch
from cnn_core.inference import ModelChoice, model_choices
from cnn_core.launcher import Launcher, launcher_from_environment
from cnn_core.runs import RunError, RunStore
from cnn_core.serving import ServedModel, ServingError, load_served

MODEL_KEY = "model_key"       # session_state: the model this visitor picked, shared by the pages
OWNER = "owner_token"         # session_state: this browser session's secret, which owns its runs
PRESENTER = "presenter"       # session_state: True once the presenter password was given
# session_state key of the last digit drawn on the Predict page: a (28, 28) float32 array in [0, 1]
# (after MNIST-style preprocessing), which the Filters page offers as its input image.
DRAWN_IMAGE = "drawn_image"


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
    if OWNER not in st.session_state:
        st.session_state[OWNER] = secrets.token_urlsafe(24)
    return st.session_state[OWNER]


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
    return bool(st.session_state.get(PRESENTER))


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
                st.session_state[PRESENTER] = True
                st.rerun()
            st.error("That is not the presenter password.")


def dataset_or_stop(name: str = "mnist") -> Dataset:
    """The dataset, or a clear message and the end of the page if it cannot be loaded."""
    try:
        return load_dataset(name, allow_download=False)
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
    return load_dataset(name, allow_download=False)


@st.cache_data(ttl=60, show_spinner=False)
def fetch_dataset(name: str) -> str | None:
    """Download a dataset in a child process, once a minute at most (an offline server fails fast)."""
    return fetch(name)


@st.cache_resource(max_entries=6, show_spinner="Loading the model...")
def cached_served(choice: ModelChoice, version: float) -> ServedModel:
    """A model folder behind LiteRT; ``version`` (the files' mtime) refreshes the cache."""
    return load_served(choice)


def model_version(choice: ModelChoice) -> float:
    try:
        return (choice.folder / "model.tflite").stat().st_mtime
    except (OSError, TypeError):
        return 0.0


def pick_model(label: str = "Model", widget_key: str = "model_picker") -> tuple[ModelChoice, ServedModel]:
    """A select box of the shipped models and saved runs; returns the choice and its served model."""
    choices = model_choices(run_store())
    if not choices:
        st.info("No model yet: the shipped model is missing and no run has finished. Train one on the Train page.")
        st.stop()
    keys = [c.key for c in choices]
    remembered = st.session_state.get(MODEL_KEY, keys[0])
    index = keys.index(remembered) if remembered in keys else 0
    choice = st.selectbox(label, choices, index=index, format_func=lambda c: c.label, key=widget_key)
    st.session_state[MODEL_KEY] = choice.key
    try:
        return choice, cached_served(choice, model_version(choice))
    except (RunError, ServingError, ValueError) as error:
        st.error(f"This model cannot be used: {error}")
        st.stop()
