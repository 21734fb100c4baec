"""Lessons: three experiments about models as a whole rather than one digit.

Why a CNN and not a fully connected net (two models' accuracy, shifted and rotated), whether two
trainings learn the same filters (conv1 kernels paired by an optimal assignment), and a kernel quiz
(predict a kernel's output, then see it). Widgets here feed ``cnn_core.experiments``; the
robustness numbers are the ``robustness.json`` the worker writes per model, computed here on 1,000
test digits (and cached) when a model lacks it.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.kernels import HAND_MADE_KERNELS
from cnn_core.common.runs import RunError, RunStore
from cnn_core.experiments import artifacts, compare, pairing, quiz
from cnn_core.plots import experiments as plots
from cnn_core.plots.filters import image_figure
from cnn_core.plots.predict import digit_figure
from cnn_core.plots.runs import overlay_figure
from cnn_core.server.catalogue import model_choices
from pages.shared import (PLOT_CONFIG, analysis_state, current_digit, dataset_or_stop, ensure_app_navigation,
                          model_json, model_version, pick_model, run_store, test_floats)

FALLBACK_IMAGES = 1000  # test digits for a model without robustness.json
QUIZ_SEED = "lessons_quiz_seed"


@st.cache_data(max_entries=8, show_spinner="Measuring shifted and rotated accuracy on 1,000 test digits...")
def robustness_of(key: str, version: float, _served, _images, _labels) -> dict:
    return compare.compare_side(_served.probabilities, compare.parameter_count(_served.weights), _images, _labels)


def side_numbers(choice, served, dataset) -> dict:
    """The model's robustness.json, or the same numbers measured now on fewer digits (while a run's are
    still being prepared, or for a model without them)."""
    stored = model_json(choice.folder, artifacts.ROBUSTNESS_FILE, served)
    if stored:
        return stored
    if analysis_state(choice) in ("queued", "running"):
        st.caption(f"{choice.label}: measured here on {FALLBACK_IMAGES:,} test digits until its own experiment "
                   "files are ready.")
    images, labels = test_floats(dataset.name, FALLBACK_IMAGES, dataset)
    return robustness_of(choice.key, model_version(choice), served, images, labels)


def history(choice) -> list[dict]:
    """The model folder's progress records (a run's, or a shipped model's copy), [] when it has none."""
    if choice.folder is None:
        return []
    try:
        return RunStore(choice.folder.parent).read_history(choice.folder.name)
    except RunError:
        return []


def compare_view(choices, dataset) -> None:
    st.markdown("**Why a CNN and not a fully connected net?** Two models of about the same size. "
                "Look at the gap on digits moved off-centre: the CNN's shared local kernels and pooling "
                "buy tolerance that the MLP, with one weight per pixel, has to learn pixel by pixel.")
    left, right = st.columns(2)
    with left:
        first, first_served = pick_model("Left model", "lessons_compare_cnn", choices=choices, preferred="default")
    with right:
        second, second_served = pick_model("Right model", "lessons_compare_mlp", choices=choices,
                                           preferred=compare.DEFAULT_MLP)
    sides = {first.label: side_numbers(first, first_served, dataset),
             second.label: side_numbers(second, second_served, dataset)}
    st.dataframe([{"model": name, "parameters": f"{side['parameters']:,}", "test accuracy": f"{side['test_accuracy']:.2%}",
                   "shifted 3 px": f"{side['shift_accuracy']['3']:.1%}", "turned 30°": f"{side['rotation_accuracy']['30']:.1%}",
                   "test digits": f"{side.get('test_images', FALLBACK_IMAGES):,}"} for name, side in sides.items()],
                 hide_index=True)
    left, right = st.columns(2)
    left.plotly_chart(plots.curve_figure(sides, "shift_accuracy"), key="lessons_shift", config=PLOT_CONFIG)
    right.plotly_chart(plots.curve_figure(sides, "rotation_accuracy"), key="lessons_rotation", config=PLOT_CONFIG)
    histories = {choice.key: history(choice) for choice in (first, second)}
    histories = {key: rows for key, rows in histories.items() if rows}
    if histories:
        st.markdown("Loss while training (test loss solid, train loss dotted). The scale is logarithmic, "
                    "so the late gap shows: compare where the two test losses end.")
        st.plotly_chart(overlay_figure(histories, {first.key: first.label, second.key: second.label}),
                        key="lessons_loss", config=PLOT_CONFIG)
    if len(histories) < 2:
        st.caption("Loss curves appear for models whose folder holds their training history (history.jsonl).")


def pairing_view(choices) -> None:
    st.markdown("**Two runs, two sets of filters.** Each conv1 kernel of run A beside its partner in "
                "run B, paired one to one for the largest total |cosine similarity| (B is flipped in "
                "sign where that matches better). Look at how many pairs score above 0.9: the same "
                "edge detectors, found twice from different random starts.")
    cnns = [choice for choice in choices if choice.architecture == "cnn"]
    if not cnns:
        st.info("No CNN to pair: train one on the Train page.")
        return
    left, right = st.columns(2)
    with left:
        first, first_served = pick_model("Run A", "lessons_pair_a", choices=cnns, preferred="default")
    with right:
        second, second_served = pick_model("Run B", "lessons_pair_b", choices=cnns, preferred=cnns[-1].key)
    if first_served.architecture != "cnn" or second_served.architecture != "cnn":
        st.info("Pick two CNNs: a fully connected net has no kernels.")
        return
    try:
        pairs = pairing.pair_kernels(first_served.kernels[0], second_served.kernels[0])
    except ValueError as error:
        st.info(f"These two cannot be paired: {error}")
        return
    st.markdown(f"Mean similarity **{pairs.similarity.mean():.2f}**; "
                f"{int((pairs.similarity > 0.9).sum())} of {len(pairs.similarity)} pairs above 0.9.")
    st.plotly_chart(plots.pairing_figure(first_served.kernels[0], second_served.kernels[0], pairs),
                    key="lessons_pairs", config=PLOT_CONFIG)


def quiz_view(served, dataset) -> None:
    st.markdown("**Predict, then reveal.** Which picture does this kernel make of the digit? "
                "Red is positive output, blue negative. Think about where the kernel's positive and "
                "negative weights sit, then pick.")
    image, _ = current_digit(dataset, "lessons_quiz")
    bank = dict(HAND_MADE_KERNELS)
    if served.architecture == "cnn" and st.checkbox("Include the model's learned conv1 filters", key="lessons_learned"):
        bank.update(quiz.learned_bank(served.kernels[0]))
    if st.button("New question", key="lessons_new"):
        st.session_state[QUIZ_SEED] = st.session_state.get(QUIZ_SEED, 0) + 1
    question = quiz.make_question(image, np.random.default_rng(st.session_state.get(QUIZ_SEED, 0)), bank)
    left, middle = st.columns([1, 1])
    left.plotly_chart(digit_figure(image, size=180), key="lessons_quiz_digit", config=PLOT_CONFIG, width="content")
    middle.plotly_chart(image_figure(question.kernel, title="the kernel", show_values=True, width=200),
                        key="lessons_quiz_kernel", config=PLOT_CONFIG, width="content")
    st.plotly_chart(plots.options_figure(question), key="lessons_quiz_options", config=PLOT_CONFIG)
    picked = st.radio("Your answer", ["A", "B", "C"], index=None, horizontal=True,
                      key=f"lessons_answer_{st.session_state.get(QUIZ_SEED, 0)}")
    if picked is not None:
        right = "ABC"[question.answer]
        if picked == right:
            st.success(f"Right: {right}. {question.explanation}")
        else:
            st.error(f"Not quite: it is {right} (yours came from {question.option_kernels['ABC'.index(picked)]}). "
                     f"{question.explanation}")


def main() -> None:
    ensure_app_navigation()
    st.title("Lessons")
    choices = model_choices(run_store())
    if not choices:
        st.info("No model yet: the shipped models are missing and no run has finished. Train one on the Train page.")
        st.stop()
    dataset = dataset_or_stop("mnist")
    tabs = st.tabs(["CNN or fully connected?", "Two runs, two sets of filters", "Kernel quiz"])
    with tabs[0]:
        compare_view(choices, dataset)
    with tabs[1]:
        pairing_view(choices)
    with tabs[2]:
        _, served = pick_model("Model for learned filters", "lessons_quiz_model", choices=choices, preferred="default")
        quiz_view(served, dataset)


main()
