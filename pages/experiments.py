"""Experiments: test what the seed tutorial claims on one digit, with the model you pick.

Four views, each a question: what does the model tolerate (the invariance strip), what does it
look at (occlusion), what has it seen (nearest training digits, and whether the digit looks like
one at all), and what happens when filters are switched off (click them in the grid). Each is
widgets, one ``cnn_core.experiments`` call and a figure or tiles from ``cnn_core.plots.experiments``;
the per-model files the worker writes (neighbours, novelty calibration, filter ranking) come
through ``pages.shared``, and a view says so while they are still being prepared. The model, the
digit, the view and its settings are in the address (``pages.links``).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.experiments import ablation, artifacts, neighbours, novelty, occlusion, robustness
from cnn_core.plots import experiments as plots
from cnn_core.plots.predict import digit_figure, probability_figure
from cnn_core.plots.tiles import tile_stack
from pages import links
from pages.components import clicked, in_tour, intro, link_button, page_title, settings, tile_grid
from pages.shared import (PLOT_CONFIG, current_digit, dataset_or_stop, digit_verdict, ensure_app_navigation,
                          file_version, model_json, model_reference, pick_model, test_floats, wait_for_analysis)

FILLS = {"Black (erase the ink)": 0.0, "Grey (the classic patch)": 0.5}
PATCH_KEY, FILL_KEY, TAB = "experiments_patch", "experiments_fill", "experiments_tab"
VIEWS = {"tolerates": "What it tolerates", "looks": "What it looks at", "seen": "What it has seen",
         "off": "Switch filters off"}


def off_key(block: int) -> str:
    return f"experiments_off{block}"


@st.cache_data(max_entries=8, show_spinner=False)
def base_accuracy(folder: str, version: float, _served, _images: np.ndarray, _labels: np.ndarray) -> float:
    """Accuracy with every filter on, once per model: only the masked run is paid per click."""
    return ablation.accuracy_with_masks(_served.probabilities, _images, _labels)


@st.cache_data(max_entries=64, show_spinner=False)
def masked_accuracy(folder: str, version: float, switched_off: tuple, _served, _images, _labels) -> float:
    """Accuracy with these filters off, cached: other widgets' reruns and repeated choices cost nothing."""
    masks = ablation.masks_with_off(_served.channels, dict(switched_off))
    return ablation.accuracy_with_masks(_served.probabilities, _images, _labels, masks)


@st.fragment
def tolerance_view(served, image: np.ndarray) -> None:
    intro("**What it tolerates.** The same digit moved, turned, resized and thickened. "
                "Look for the first variant whose answer changes: a CNN shrugs off a pixel or two "
                "of shift, but not a turn of 30 degrees or a digit that fills the frame.")
    answers = robustness.strip_answers(served.probabilities, robustness.invariance_strip(image))
    tile_grid(plots.strip_tiles(answers), key="experiments_strip", size=76)
    changed = [answer.name for answer in answers[1:] if answer.label != answers[0].label]
    st.caption(f"The answer changes for: {', '.join(changed)}." if changed else
               "The answer never changes across these variants.")


@st.fragment
def occlusion_view(served, image: np.ndarray) -> None:
    intro("**What it looks at.** A small patch slides over the digit; the red shows how much "
                "covering each place lowers the probability of the model's answer, from nothing (clear) "
                "to all of it (deep red). Look for red on the strokes that tell this digit from its look-alikes.")
    # The map first: on a narrow screen the controls wrap below it, and the picture stays in view.
    row = st.container(horizontal=True, gap="medium")
    picture, controls = row.container(width="content"), row.container(width=220)
    links.seed(links.PATCH, PATCH_KEY, links.one_of([4, 6, 8]))
    links.seed(links.FILL, FILL_KEY, lambda raw: {"black": list(FILLS)[0], "grey": list(FILLS)[1]}[raw])
    st.session_state.setdefault(PATCH_KEY, 6)
    with controls:
        patch = st.select_slider("Patch size (pixels)", [4, 6, 8], key=PATCH_KEY)
        fill_name = st.radio("Patch colour", list(FILLS), key=FILL_KEY)
    links.keep(links.PATCH, patch)
    links.keep(links.FILL, "black" if FILLS[fill_name] == 0.0 else "grey")
    result = occlusion.occlusion_map(served.probabilities, image, patch=patch, fill=FILLS[fill_name])
    with picture:
        st.plotly_chart(plots.occlusion_figure(image, result), key="experiments_occlusion", config=PLOT_CONFIG,
                        width="content")
    st.caption(f"Answer {served.class_names[result.label]} at {result.base_probability:.1%}. The largest drop, "
               f"the reddest place on the map, is {max(result.drops.max(), 0.0):.1%} of its probability"
               + (f" (covering it leaves {result.base_probability - result.drops.max():.1%})."
                  if result.drops.max() > 0 else ": covering any one place leaves the answer where it was."))


@st.fragment
def seen_view(choice, served, image: np.ndarray, dataset) -> None:
    intro("**What it has seen.** The eight training digits the model finds most alike, by its "
                "last hidden layer, with their labels and cosine similarity. Look at whether they share "
                "the label, or only the shape.")
    folder = choice.folder
    reference, calibration = model_reference(folder, dataset, served), model_json(folder, novelty.NOVELTY_FILE, served)
    if reference is None:
        if not wait_for_analysis(choice, "The nearest training digits"):
            st.info("This model has no neighbours.npz, so its nearest training digits cannot be shown.")
        return
    found = neighbours.nearest(reference.index, served.embeddings(image[None])[0], count=8)
    tile_grid(plots.neighbour_tiles(dataset.train_images[found.indices], found.labels, found.similarities),
              key="experiments_neighbours", size=72)
    verdict = digit_verdict(choice, served, image, dataset)
    if verdict is None:
        if not wait_for_analysis(choice, "The familiarity check"):
            st.caption("This model has no novelty.json, so whether this looks like a digit cannot be said.")
        return
    words = novelty.describe(verdict, calibration["digit_flag_rate"])
    if verdict.looks_like_digit:
        st.success("This looks like a digit.")
    else:
        st.warning("That doesn't look like a digit: the answer is a guess.")
    st.caption(f"{words} Calibrated to flag {calibration['digit_flag_rate']:.1%} of real test digits and "
               f"{calibration['non_digit_flag_rate']:.0%} of generated letters, scribbles and blobs.")


def parse_off(channels: dict[int, int]):
    """A parser for ``off=1.3,1.5,2.10``: {block: [filters]} within the model's blocks."""
    def parse(raw: str) -> dict[int, list[int]]:
        off = {block: [] for block in channels}
        for item in filter(None, raw.split(",")):
            block, _, index = item.partition(".")
            block, index = int(block), int(index)
            if block not in channels or not 0 <= index < channels[block]:
                raise ValueError(f"no filter {item}")
            off[block].append(index)
        return {block: sorted(set(filters)) for block, filters in off.items()}
    return parse


def toggle_filter(block: int, key: str) -> None:
    """A click on a filter's map switches it off, or back on."""
    index = clicked(key)
    if index is None:
        return
    current = list(st.session_state.get(off_key(block), []))
    st.session_state[off_key(block)] = sorted(set(current) ^ {index})


def all_on(channels) -> None:
    for block in channels:
        st.session_state[off_key(block)] = []


@st.fragment
def ablation_view(choice, served, image: np.ndarray, dataset) -> None:
    folder = choice.folder
    intro("**Switch filters off.** Click a filter's map to silence it (click again to bring it "
                f"back); the model runs again on {ablation.ABLATION_IMAGES:,} test digits and on this one. "
                "Look at how little most single filters matter, and at the few that do: the ranking lists them.")
    if served.architecture != "cnn":
        st.info("This model has no convolution filters: pick a CNN.")
        return
    channels = ablation.channel_map(served.channels)
    if links.seed(links.OFF, "experiments_off_seed", parse_off(channels)):
        for block, filters in st.session_state.pop("experiments_off_seed").items():
            st.session_state[off_key(block)] = filters
    for block in channels:
        st.session_state.setdefault(off_key(block), [])
    maps = served.feature_maps(image)
    for block, count in channels.items():
        off_now = st.session_state[off_key(block)]
        tile_grid(tile_stack(maps[f"relu{block}"], [f"#{i}" for i in range(count)], per_tile=True),
                  key=f"experiments_grid{block}",
                  heading=f"conv{block}: its {count} filters' maps of this digit (after ReLU)", clickable=True,
                  off=off_now, size=48, on_click=lambda block=block: toggle_filter(block, f"experiments_grid{block}"))
    off = {block: list(st.session_state[off_key(block)]) for block in channels}
    links.keep(links.OFF, ",".join(f"{block}.{index}" for block, filters in off.items() for index in filters) or None)
    row = st.container(horizontal=True, vertical_alignment="center")
    row.markdown("**Off now:** " + ("; ".join(f"conv{block} " + ", ".join(f"#{i}" for i in filters)
                                              for block, filters in off.items() if filters) or "none"))
    if any(off.values()):
        row.button("Switch all back on", key="experiments_all_on", on_click=all_on, args=(channels,))
    with st.expander("Pick filters by number"):
        columns = st.columns(len(channels))
        for column, (block, count) in zip(columns, channels.items()):
            column.multiselect(f"conv{block} filters off", list(range(count)), key=off_key(block))
    images, labels = test_floats(dataset.name, ablation.ABLATION_IMAGES, dataset)
    masks = ablation.masks_with_off(channels, off)
    version = file_version(folder, "model.tflite")
    base = base_accuracy(str(folder), version, served, images, labels)
    switched_off = tuple((block, tuple(sorted(filters))) for block, filters in off.items())
    now = masked_accuracy(str(folder), version, switched_off, served, images, labels) if any(off.values()) else base
    result = st.container(horizontal=True, gap="medium")
    result.metric("Test accuracy", f"{now:.2%}", width=200,
                  delta=f"{100 * (now - base):+.2f} points" if any(off.values()) else None)
    probabilities = served.probabilities(image[None], masks=masks)[0]
    result.plotly_chart(probability_figure(probabilities, served.class_names, height=200),
                        key="experiments_ablation_bars", config=PLOT_CONFIG, width=340)
    st.caption("Why switching more filters off can raise accuracy: filters work together, and the ranking "
               "below measures each one alone, with all the others on. Silence several and the layer after "
               "them meets a new mix of inputs: some missing signals cancel, others a remaining filter "
               "carries, so the total cost is rarely the sum of the single costs, and can fall when "
               "more are off.")
    ranking = model_json(folder, artifacts.ABLATION_FILE, served)
    if ranking:
        st.markdown(f"Filters by the accuracy lost without each one alone ({ranking['images']:,} test digits):")
        st.plotly_chart(plots.ranking_figure(ranking, top=15), key="experiments_ranking", config=PLOT_CONFIG)
    elif not wait_for_analysis(choice, "The ranking of every filter"):
        st.caption("This model has no filter ranking (ablation.json).")


def main() -> None:
    ensure_app_navigation()
    page_title("Experiments")
    if not in_tour():
        st.markdown("Pick a model and a digit, then test a claim.")
    with settings(in_tour()):
        choice, served = pick_model(widget_key="experiments_model")
        dataset = dataset_or_stop(choice.dataset)
        image, label = current_digit(dataset, "experiments")
    unread = st.empty()  # says, at the end, what of the address could not be read
    prediction = served.predict(image)
    truth = f" (true label {served.class_names[label]})" if label is not None else ""
    if in_tour():  # the views below show the digit; a tour step needs the room
        st.markdown(f"The model says **{prediction.class_name}** with {prediction.confidence:.1%}{truth}.")
    else:
        row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
        row.plotly_chart(digit_figure(image, size=150), key="experiments_digit", config=PLOT_CONFIG, width="content")
        row.markdown(f"The model says **{prediction.class_name}** with {prediction.confidence:.1%}{truth}.")
    tabs, view = links.tabs(VIEWS, TAB, "tolerates")
    with tabs[0]:
        tolerance_view(served, image)
        link_button("tolerates")
    with tabs[1]:
        occlusion_view(served, image)
        link_button("looks")
    with tabs[2]:
        seen_view(choice, served, image, dataset)
        link_button("seen")
    with tabs[3]:
        ablation_view(choice, served, image, dataset)
        link_button("off")

    links.problems(unread)

main()
