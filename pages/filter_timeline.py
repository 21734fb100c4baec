"""The Filters page's replay of training: conv1's kernels and one digit's maps, step by step.

The worker records them while it trains (``cnn_core.common.snapshots``: steps 1, 2, 4, 8... and every
test measurement) into ``filter_history.npz``; this view only reads that file. A slider scrubs
through the snapshots and Play steps through them by itself.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.arrays import ModelFileError
from cnn_core.common.runs import RunError
from cnn_core.common.snapshots import read_filter_history
from cnn_core.plots import filters as plots
from cnn_core.server.catalogue import ModelChoice
from cnn_core.server.serving import ServingError
from pages.shared import PLOT_CONFIG, cached_served, file_version, model_version, refused

FRAME = "filters_timeline_frame"     # session_state: the snapshot shown
PLAYING = "filters_timeline_playing"  # session_state: whether Play is on
PLAY_FRAME = "filters_timeline_play_frame"  # session_state: the snapshot Play shows (the slider's, when paused)
FRAME_SECONDS = 0.8


@st.cache_data(max_entries=6, show_spinner=False)
def cached_history(path: str, version: float, kernel_shape: tuple | None = None) -> dict[str, np.ndarray] | None:
    """The snapshots, checked against conv1's (kh, kw, count); None when missing or refused."""
    try:
        return read_filter_history(path, kernel_shape)
    except ModelFileError:
        return None


def history_problem(path: str, kernel_shape: tuple | None) -> str | None:
    """Why the snapshots were refused, for the page to say (None when they were not)."""
    try:
        read_filter_history(path, kernel_shape)
    except ModelFileError as error:
        return str(error)
    return None


@st.cache_data(max_entries=64, show_spinner=False)
def frame_figures(path: str, version: float, frame: int):
    """The kernels and the maps at one snapshot, each on one colour scale shared by every snapshot."""
    history = cached_history(path, version)
    steps, kernels, maps = history["steps"], history["kernels"], history["maps"].astype(np.float32)
    kernel_figure = plots.tile_grid(kernels[frame], title=f"conv1 kernels at step {int(steps[frame]):,}",
                                    diverging=True, per_tile=False, value_name="weight", width=620)
    limit = float(np.abs(kernels).max()) or 1.0
    kernel_figure.update_traces(zmin=-limit, zmax=limit)
    map_figure = plots.tile_grid(maps[frame], title=f"their maps of test digit {int(history['digit_index'])}",
                                 diverging=False, per_tile=False, value_name="activation", width=620)
    map_figure.update_traces(zmin=0.0, zmax=float(maps.max()) or 1.0)
    return kernel_figure, map_figure


def conv1_shape(choice: ModelChoice) -> tuple | None:
    """(kh, kw, count) of the chosen model's conv1, which its snapshots must match (None for an MLP)."""
    try:
        served = cached_served(choice, model_version(choice))
    except (RunError, ServingError, ValueError, OSError):
        return None
    return tuple(served.kernels[0].shape[:2]) + (served.kernels[0].shape[-1],) if served.kernels else None


def toggle_play() -> None:
    st.session_state[PLAYING] = not st.session_state.get(PLAYING, False)


def timeline_view(choice: ModelChoice) -> None:
    """Scrub or play through the snapshots of the chosen model's conv1, when it has them."""
    st.subheader("Watch the filters form")
    path = (choice.folder / "filter_history.npz") if choice.folder else None
    version = file_version(choice.folder, "filter_history.npz")
    kernel_shape = conv1_shape(choice)
    history = cached_history(str(path), version, kernel_shape) if version else None
    if history is None and version:
        refused(history_problem(str(path), kernel_shape))
    if history is None or len(history.get("steps", [])) < 2:
        st.info("This model carries no record of how its filters formed. Every run trained here records "
                "one: launch a short run on the Train page, then pick it above.")
        return
    steps = history["steps"]
    st.markdown(
        "At step 1 the kernels are the random numbers the network started from, and their maps are "
        "noise. Press Play: within a few hundred steps most kernels settle into a light side and a "
        "dark side, edge detectors like the Sobel kernels below, and the maps start to trace the "
        "digit's strokes. Colours keep one scale throughout, so growing weights look stronger.")
    timed = bool(st.session_state.get(PLAYING))
    st.fragment(run_every=FRAME_SECONDS if timed else None)(frames)(str(path), version, steps, timed)


def frames(path: str, version: float, steps: np.ndarray, timed: bool) -> None:
    """The controls and the two pictures; while playing, each rerun shows the next snapshot.

    While playing, the step shows as text, not as the slider: a slider keeps the value its browser
    side last sent, which would undo each step the timer takes.
    """
    last = len(steps) - 1
    playing = st.session_state.get(PLAYING, False)
    if playing != timed:  # Play or Pause was pressed: the fragment's timer is set when the page runs.
        st.rerun(scope="app")
    controls = st.container(horizontal=True, vertical_alignment="bottom")
    controls.button("Pause" if playing else "Play", key="filters_timeline_play", on_click=toggle_play,
                    icon=":material/pause:" if playing else ":material/play_arrow:")
    if playing:
        frame = min(st.session_state.get(PLAY_FRAME, -1) + 1, last)
        st.session_state[PLAY_FRAME] = frame
        if frame >= last:
            st.session_state[PLAYING] = False  # Stop on the trained filters.
        st.session_state[FRAME] = frame  # Where the slider will stand once paused.
        controls.markdown(f"Training step **{int(steps[frame]):,}** ({frame + 1} of {len(steps)})")
    else:
        frame = controls.select_slider("Training step", options=list(range(len(steps))), key=FRAME,
                                       format_func=lambda index: f"{int(steps[index]):,}", width=420)
        st.session_state[PLAY_FRAME] = frame if frame < last else -1  # Play again from the start after the end.
    kernel_figure, map_figure = frame_figures(path, version, frame)
    left, right = st.columns(2)
    left.plotly_chart(kernel_figure, key="filters_timeline_kernels", config=PLOT_CONFIG)
    right.plotly_chart(map_figure, key="filters_timeline_maps", config=PLOT_CONFIG)
