"""Streamlit glue for the Experiments and Lessons pages: cached per-model artifacts and the current digit.

The files are what the worker writes beside each model (``cnn_core.experiments.artifacts``); each
loader is cached on the model folder and the file's modification time, and returns None when the
file is missing so that the page can say so instead of failing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cnn_core.data import Dataset
from cnn_core.experiments import artifacts, neighbours, novelty
from pages.shared import DRAWN_IMAGE

SOURCES = ("A test digit", "My drawing from the Predict page")


def file_version(folder: Path | None, name: str) -> float:
    """The file's modification time, 0 when missing: the cache key that refreshes after a rewrite."""
    try:
        return (Path(folder) / name).stat().st_mtime
    except (OSError, TypeError):
        return 0.0


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
    """A source radio and a test-digit picker; returns the (28, 28) digit and its label when known."""
    drawn = st.session_state.get(DRAWN_IMAGE)
    source = st.radio("Digit", SOURCES if drawn is not None else SOURCES[:1], horizontal=True, key=f"{prefix}_source")
    if source == SOURCES[1]:
        return np.asarray(drawn, np.float32), None
    index_key = f"{prefix}_index"
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if row.button("Random test digit", key=f"{prefix}_random"):
        st.session_state[index_key] = int(np.random.default_rng().integers(len(dataset.test_labels)))
    index = row.number_input("Test digit number", 0, len(dataset.test_labels) - 1, key=index_key, width=200)
    return dataset.test_images[index].astype(np.float32) / 255, int(dataset.test_labels[index])
