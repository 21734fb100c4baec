"""Experiments: test what the seed tutorial claims on one digit, with the model you pick.

Four views, each a question: what does the model tolerate (the invariance strip), what does it
look at (occlusion), what has it seen (nearest training digits, and whether the digit looks like
one at all), and what happens when filters are switched off. Each is widgets, one
``cnn_core.experiments`` call and a figure from ``cnn_core.plots.experiments``; the per-model
files the worker writes (neighbours, novelty calibration, filter ranking) come through
``pages.shared``.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.experiments import ablation, artifacts, neighbours, novelty, occlusion, robustness
from cnn_core.plots import experiments as plots
from cnn_core.plots.predict import digit_figure, probability_figure
from pages.shared import (PLOT_CONFIG, current_digit, dataset_or_stop, digit_verdict, ensure_app_navigation,
                          file_version, model_json, model_reference, pick_model, test_floats, wait_for_analysis)
FILLS = {"Black (erase the ink)": 0.0, "Grey (the classic patch)": 0.5}


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
    st.markdown("**What it tolerates.** The same digit moved, turned, resized and thickened. "
                "Look for the first variant whose answer changes: a CNN shrugs off a pixel or two "
                "of shift, but not a turn of 30 degrees or a digit that fills the frame.")
    answers = robustness.strip_answers(served.probabilities, robustness.invariance_strip(image))
    st.plotly_chart(plots.strip_figure(answers), key="experiments_strip", config=PLOT_CONFIG)
    changed = [answer.name for answer in answers[1:] if answer.label != answers[0].label]
    st.caption(f"The answer changes for: {', '.join(changed)}." if changed else
               "The answer never changes across these variants.")


@st.fragment
def occlusion_view(served, image: np.ndarray) -> None:
    st.markdown("**What it looks at.** A small patch slides over the digit; red marks where covering "
                "it lowers the probability of the model's answer, blue where covering it raises it. "
                "Look for red on the strokes that tell this digit from its look-alikes.")
    left, right = st.columns([1, 2])
    with left:
        patch = st.select_slider("Patch size (pixels)", [4, 6, 8], value=6, key="experiments_patch")
        fill = FILLS[st.radio("Patch colour", list(FILLS), key="experiments_fill")]
    result = occlusion.occlusion_map(served.probabilities, image, patch=patch, fill=fill)
    with right:
        st.plotly_chart(plots.occlusion_figure(image, result), key="experiments_occlusion", config=PLOT_CONFIG,
                        width="content")
        st.caption(f"Answer {served.class_names[result.label]} at {result.base_probability:.1%}; "
                   f"the largest drop is {result.drops.max():.1%}.")


@st.fragment
def seen_view(choice, served, image: np.ndarray, dataset) -> None:
    st.markdown("**What it has seen.** The eight training digits the model finds most alike, by its "
                "last hidden layer, with their labels and cosine similarity. Look at whether they share "
                "the label, or only the shape.")
    folder = choice.folder
    reference, calibration = model_reference(folder, dataset, served), model_json(folder, novelty.NOVELTY_FILE, served)
    if reference is None:
        if not wait_for_analysis(choice, "The nearest training digits"):
            st.info("This model has no neighbours.npz, so its nearest training digits cannot be shown.")
        return
    found = neighbours.nearest(reference.index, served.embeddings(image[None])[0], count=8)
    st.plotly_chart(plots.neighbours_figure(dataset.train_images[found.indices], found.labels, found.similarities),
                    key="experiments_neighbours", config=PLOT_CONFIG)
    verdict = digit_verdict(choice, served, image, dataset)
    if verdict is not None:
        if verdict.looks_like_digit:
            st.success(f"This looks like a digit (familiarity {verdict.score:.2f}, threshold {verdict.threshold:.2f}).")
        else:
            st.warning(f"That doesn't look like a digit (familiarity {verdict.score:.2f}, below "
                       f"{verdict.threshold:.2f}): the answer is a guess.")
        st.caption(f"Calibrated to flag {calibration['digit_flag_rate']:.1%} of real test digits and "
                   f"{calibration['non_digit_flag_rate']:.0%} of generated letters, scribbles and blobs.")


@st.fragment
def ablation_view(choice, served, image: np.ndarray, dataset) -> None:
    folder = choice.folder
    st.markdown("**Switch filters off.** Pick filters to silence; the model runs again on "
                f"{ablation.ABLATION_IMAGES:,} test digits and on this one. Look at how little most single "
                "filters matter, and at the few that do: the ranking below lists them.")
    if served.architecture != "cnn":
        st.info("This model has no convolution filters: pick a CNN.")
        return
    channels = ablation.channel_map(served.channels)
    columns = st.columns(len(channels))
    off = {block: column.multiselect(f"conv{block} filters off", list(range(count)), key=f"experiments_off{block}")
           for column, (block, count) in zip(columns, channels.items())}
    images, labels = test_floats(dataset.name, ablation.ABLATION_IMAGES, dataset)
    masks = ablation.masks_with_off(channels, off)
    version = file_version(folder, "model.tflite")
    base = base_accuracy(str(folder), version, served, images, labels)
    switched_off = tuple((block, tuple(sorted(filters))) for block, filters in off.items())
    now = masked_accuracy(str(folder), version, switched_off, served, images, labels) if any(off.values()) else base
    left, right = st.columns(2)
    left.metric("Test accuracy", f"{now:.2%}", delta=f"{100 * (now - base):+.2f} points" if any(off.values()) else None)
    with right:
        probabilities = served.probabilities(image[None], masks=masks)[0]
        st.plotly_chart(probability_figure(probabilities, served.class_names, height=220),
                        key="experiments_ablation_bars", config=PLOT_CONFIG)
    ranking = model_json(folder, artifacts.ABLATION_FILE, served)
    if ranking:
        st.markdown(f"Filters by the accuracy lost without each one alone ({ranking['images']:,} test digits):")
        st.plotly_chart(plots.ranking_figure(ranking, top=15), key="experiments_ranking", config=PLOT_CONFIG)
    elif not wait_for_analysis(choice, "The ranking of every filter"):
        st.caption("This model has no filter ranking (ablation.json).")


def main() -> None:
    ensure_app_navigation()
    st.title("Experiments")
    st.markdown("Pick a model and a digit, then test a claim.")
    choice, served = pick_model(widget_key="experiments_model")
    dataset = dataset_or_stop(choice.dataset)
    image, label = current_digit(dataset, "experiments")
    left, right = st.columns([1, 3])
    with left:
        st.plotly_chart(digit_figure(image, size=160), key="experiments_digit", config=PLOT_CONFIG, width="content")
    with right:
        prediction = served.predict(image)
        truth = f" (true label {served.class_names[label]})" if label is not None else ""
        st.markdown(f"The model says **{prediction.class_name}** with {prediction.confidence:.1%}{truth}.")
    tabs = st.tabs(["What it tolerates", "What it looks at", "What it has seen", "Switch filters off"])
    with tabs[0]:
        tolerance_view(served, image)
    with tabs[1]:
        occlusion_view(served, image)
    with tabs[2]:
        seen_view(choice, served, image, dataset)
    with tabs[3]:
        ablation_view(choice, served, image, dataset)


main()
