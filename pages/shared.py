"""Streamlit glue shared by the pages: cached loaders, the job manager handle, the model picker.

Everything here is thin: the work is in ``cnn_core``. Failures become a message on the page and
``st.stop()``, never a traceback.
"""
from __future__ import annotations

import gc

import streamlit as st

from cnn_core.data import DataError, Dataset, load_dataset
from cnn_core.inference import DEFAULT_KEY, ModelChoice, Predictor, load_model, model_choices
from cnn_core.jobs import JobManager, get_manager
from cnn_core.runs import RunError, RunStore

MODEL_KEY = "model_key"  # session_state: the model this visitor picked, shared by the pages


def keep_keras_state_between_runs() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit 1.67 does that (``script_runner._clean_problem_modules``) to free memory in apps that
    build a model per run. We build models in background training threads and keep loaded ones in
    ``st.cache_resource``: clearing Keras' global state and TensorFlow's kernel cache under a
    running job, plus the full garbage collection it forces, cost every rerun 0.2-0.5 s on 2 cores
    (measured on the Predict page) and slowed training while the Train page polled. We use no
    matplotlib, the only other module it cleans. Private API: tests/test_app.py checks it is patched.
    """
    from streamlit.runtime.scriptrunner import script_runner

    script_runner._clean_problem_modules = lambda: None


def ensure_app_navigation() -> None:
    """Make sure a page runs inside app.py's st.navigation, even as a fresh server's first request.

    Streamlit treats a folder named ``pages/`` beside the main script as old-style multipage
    navigation until ``st.navigation`` has run once in the process. A visitor whose first request
    is a deep link (``/train?run=...``) would get this page alone, with every file of ``pages/``
    in the sidebar. Switching that mode off and rerunning sends the request through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # Once per session: the mode is process-wide and stays off once off (AppTest alone turns it
    # back on before each of its runs, and a rerun there would drop the click being tested).
    if PagesManager.uses_pages_directory and not st.session_state.get("_navigation_checked"):
        st.session_state["_navigation_checked"] = True
        PagesManager.uses_pages_directory = False
        st.rerun()


def freeze_long_lived_objects() -> None:
    """Move every object alive now out of the garbage collector's sight.

    TensorFlow and Keras leave hundreds of thousands of long-lived objects, and Streamlit runs a
    full collection after every script run (``runner.postScriptGC``): with the Train page's
    fragment polling once a second, that was 0.2-0.5 s of the GIL a second taken from training.
    Frozen, a collection takes milliseconds. Objects frozen here are still freed by reference
    counting; only cycles among them would stay, and these live as long as the process anyway.
    """
    gc.collect()
    gc.freeze()


keep_keras_state_between_runs()


@st.cache_resource
def job_manager() -> JobManager:
    """The process-wide job manager: one for every visitor of this server."""
    from cnn_core.devices import list_devices

    list_devices()  # Imports TensorFlow now, so that freezing below covers it.
    freeze_long_lived_objects()
    return get_manager()


def run_store() -> RunStore:
    return job_manager().store


def dataset_or_stop(name: str = "mnist") -> Dataset:
    """The dataset, or a clear message and the end of the page if it cannot be loaded."""
    try:
        return load_dataset(name)
    except DataError as error:
        st.error(f"The {name} data could not be loaded: {error}")
        st.stop()


@st.cache_resource(max_entries=6, show_spinner="Loading the model...")
def cached_predictor(key: str, version: float) -> Predictor:
    """A loaded model behind its fast forward pass; ``version`` (file mtime) refreshes the cache."""
    choice = next((c for c in model_choices(run_store()) if c.key == key), ModelChoice(key, key))
    predictor = Predictor(load_model(key, run_store()), choice.class_names)
    freeze_long_lived_objects()  # Loading a model brings in more of Keras.
    return predictor


def model_version(key: str) -> float:
    from cnn_core.inference import DEFAULT_MODEL

    path = DEFAULT_MODEL if key == DEFAULT_KEY else run_store().path(key) / "model.keras"
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def pick_model(label: str = "Model", widget_key: str = "model_picker") -> tuple[ModelChoice, Predictor]:
    """A select box of the shipped model and saved runs; returns the choice and its predictor."""
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
        return choice, cached_predictor(choice.key, model_version(choice.key))
    except (RunError, ValueError) as error:
        st.error(f"This model cannot be used: {error}")
        st.stop()


# session_state key of the last digit drawn on the Predict page: a (28, 28) float32 array in [0, 1]
# (after MNIST-style preprocessing), which the Filters page offers as its input image.
DRAWN_IMAGE = "drawn_image"
