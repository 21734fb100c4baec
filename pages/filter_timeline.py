"""The Filters page's replay of training: conv1's kernels and one digit's maps, step by step.

The worker records them while it trains (``cnn_core.common.snapshots``: steps 1, 2, 4, 8... and every
test measurement) into ``filter_history.npz``; this view only reads that file. A slider scrubs
through the snapshots and Play steps through them by itself; the text under the pictures is
measured on the snapshot on show (how many kernels look like a designed one), so it says what the
pictures show at every step.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.arrays import ModelFileError
from cnn_core.common.kernels import match_table
from cnn_core.common.runs import RunError
from cnn_core.common.snapshots import read_filter_history
from cnn_core.plots.tiles import tile_stack
from cnn_core.server.catalogue import ModelChoice
from cnn_core.server.serving import ServingError
from pages import links
from pages.components import heading, intro, tile_grid
from pages.shared import cached_served, file_version, model_version, refused

FRAME = "filters_timeline_frame"      # session_state: the snapshot on show
PLAYING = "filters_timeline_playing"  # session_state: whether Play is on
# The slider's widget key carries a generation number, bumped whenever Play or Pause moves the
# snapshot: a fresh slider starts on the snapshot on show, where a slider that was hidden while
# playing would come back on the value its browser side last sent (step 1).
GENERATION = "filters_timeline_generation"
FRAME_SECONDS = 0.8
LIKE_DESIGNED = 0.8  # |cosine| from which a kernel counts as looking like a designed one


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
def frame_tiles(path: str, version: float, frame: int):
    """The kernels and the maps at one snapshot, each on one colour scale shared by every snapshot,
    and how many kernels then look like a designed one."""
    history = cached_history(path, version)
    kernels, maps = history["kernels"], history["maps"].astype(np.float32)
    limit = float(np.abs(kernels).max()) or 1.0
    # No labels (the hover says which): two grids of 32 stay in view together while Play runs.
    count = kernels.shape[-1]
    kernel_tiles = tile_stack(kernels[frame], [""] * count, [f"kernel #{i}" for i in range(count)], signed=True,
                              value_name="weight", limits=(-limit, limit))
    map_tiles = tile_stack(maps[frame], [""] * count, [f"map of kernel #{i}" for i in range(count)],
                           value_name="activation", limits=(0.0, float(maps.max()) or 1.0))
    like = sum(row["similarity"] >= LIKE_DESIGNED for row in match_table(kernels[frame]))
    return kernel_tiles, map_tiles, int(like)


def conv1_shape(choice: ModelChoice) -> tuple | None:
    """(kh, kw, count) of the chosen model's conv1, which its snapshots must match (None for an MLP)."""
    try:
        served = cached_served(choice, model_version(choice))
    except (RunError, ServingError, ValueError, OSError):
        return None
    return tuple(served.kernels[0].shape[:2]) + (served.kernels[0].shape[-1],) if served.kernels else None


def toggle_play() -> None:
    st.session_state[PLAYING] = not st.session_state.get(PLAYING, False)
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


def slider_key() -> str:
    return f"filters_timeline_slider_{st.session_state.get(GENERATION, 0)}"


def timeline_view(choice: ModelChoice) -> None:
    """Scrub or play through the snapshots of the chosen model's conv1, when it has them."""
    heading("Watch the filters form", "replay")
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
    if links.seed(links.STEP, FRAME, lambda raw: int(np.searchsorted(steps, links.whole_number(1, int(steps[-1]))(raw)))):
        st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state[FRAME] = min(int(st.session_state.get(FRAME, 0)), len(steps) - 1)
    _, _, first = frame_tiles(str(path), version, 0)
    _, _, last = frame_tiles(str(path), version, len(steps) - 1)
    intro(
        "At step 1 the kernels are the random numbers the network started from. Their maps already "
        "show the digit: any 3x3 kernel adds up neighbouring pixels, so its output follows the strokes, "
        "blurred or outlined by chance. What training changes is the kernels themselves: press Play "
        "and watch them sharpen into a light side and a dark side, edge detectors like the Sobel "
        f"kernels. Counted below: kernels that look like a designed kernel (|cosine| {LIKE_DESIGNED} or "
        f"more) go from {first} of 32 at step 1 to {last} at step {int(steps[-1]):,}. Colours keep one "
        "scale throughout, so weights that grow look stronger.")
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
        frame = st.session_state[FRAME] + 1 if st.session_state[FRAME] < last else 0  # Play again from the start
        st.session_state[FRAME] = frame
        if frame >= last:
            st.session_state[PLAYING] = False  # Stop on the trained filters...
            st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1  # ...with the slider there.
        controls.markdown(f"Training step **{int(steps[frame]):,}** ({frame + 1} of {len(steps)})")
    else:
        frame = controls.select_slider("Training step", options=list(range(len(steps))), key=slider_key(),
                                       value=int(st.session_state[FRAME]),
                                       format_func=lambda index: f"{int(steps[index]):,}", width=420)
        st.session_state[FRAME] = frame
    links.keep(links.STEP, int(steps[frame]))
    kernel_tiles, map_tiles, like = frame_tiles(path, version, frame)
    # Small tiles, two grids side by side where there is room: both stay in view while Play runs.
    row = st.container(horizontal=True, gap="large")
    with row.container(width=410):
        tile_grid(kernel_tiles, key="filters_timeline_kernels", size=48,
                  heading=f"conv1 kernels at step {int(steps[frame]):,}")
    with row.container(width=410):
        tile_grid(map_tiles, key="filters_timeline_maps", size=48,
                  heading=f"their maps of test digit {int(np.asarray(cached_history(path, version)['digit_index']))}")
    st.caption(f"At step {int(steps[frame]):,}: {like} of {len(kernel_tiles.tiles)} kernels look like a "
               f"designed kernel (|cosine| {LIKE_DESIGNED} or more).")
