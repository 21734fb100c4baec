"""Streamlit glue shared by the pages: cached loaders, the job manager handle, the model picker.

Everything here is thin: the work is in ``cnn_core``. Failures become a message on the page and
``st.stop()``, never a traceback.
"""
from __future__ import annotations

import streamlit as st

from cnn_core.data import DataError, Dataset, load_dataset
from cnn_core.inference import DEFAULT_KEY, ModelChoice, Predictor, load_model, model_choices
from cnn_core.jobs import JobManager, get_manager
from cnn_core.runs import RunError, RunStore

MODEL_KEY = "model_key"  # session_state: the model this visitor picked, shared by the pages


@st.cache_resource
def job_manager() -> JobManager:
    """The process-wide job manager: one for every visitor of this server."""
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
    return Predictor(load_model(key, run_store()), choice.class_names)


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
