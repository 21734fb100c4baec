"""Lessons: three experiments about models as a whole rather than one digit.

Why a CNN and not a fully connected net (two models' accuracy, shifted and rotated), whether two
trainings learn the same filters (conv1 kernels paired by an optimal assignment, against the level
random kernels reach), and a kernel quiz (predict a kernel's output, then see it). Widgets here feed
``cnn_core.experiments``; the robustness numbers are the ``robustness.json`` the worker writes per
model, computed here on 1,000 test digits (and cached) when a model lacks it. Every lesson's text
is written from what it measures, and its settings are in the address (``pages.links``).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from cnn_core.common.kernels import HAND_MADE_KERNELS
from cnn_core.common.runs import RunError, RunStore
from cnn_core.experiments import artifacts, compare, pairing, quiz
from cnn_core.plots import experiments as plots
from cnn_core.plots.filters import image_figure
from cnn_core.plots.predict import digit_figure
from cnn_core.plots.runs import overlay_figure
from cnn_core.server.catalogue import model_choices, training_settings
from cnn_core.server.launcher import LaunchRefused
from pages import links
from pages.components import in_tour, intro, link_button, page_title, tile_grid
from pages.shared import (PLOT_CONFIG, analysis_state, current_digit, dataset_or_stop, ensure_app_navigation, launcher,
                          model_json, model_version, owner_token, pick_model, run_store, test_floats)

FALLBACK_IMAGES = 1000  # test digits for a model without robustness.json
QUIZ_SEED, TAB = "lessons_quiz_seed", "lessons_tab"
VIEWS = {"compare": "CNN or fully connected?", "pairs": "Two runs, two sets of filters", "quiz": "Kernel quiz"}
SECOND_SEED = "seed-mnist-seed1"  # the shipped CNN trained from seed 1, run B's default


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
    intro("**Why a CNN and not a fully connected net?** Two models of about the same size. "
                "Look at the gap on digits moved off-centre: the CNN's shared local kernels and pooling "
                "buy tolerance that the MLP, with one weight per pixel, has to learn pixel by pixel.")
    row = st.container(horizontal=True) if not in_tour() else st.expander("Models")
    with row.container(width=420):
        first, first_served = pick_model("Left model", "lessons_compare_cnn", choices=choices, preferred="default",
                                         param=links.LEFT)
    with row.container(width=420):
        second, second_served = pick_model("Right model", "lessons_compare_mlp", choices=choices,
                                           preferred=compare.DEFAULT_MLP, param=links.RIGHT)
    sides = {first.label: side_numbers(first, first_served, dataset),
             second.label: side_numbers(second, second_served, dataset)}
    # A plain table of short columns, each a number: it fits the page at 1024 px (the models' full
    # names are in the menus above and in the charts' legends), and costs the browser nothing to draw.
    st.table([{"model": "left" if index == 0 else "right", "parameters": f"{side['parameters']:,}",
               "test accuracy": f"{side['test_accuracy']:.2%}", "shifted 3 px": f"{side['shift_accuracy']['3']:.1%}",
               "turned 30°": f"{side['rotation_accuracy']['30']:.1%}"} for index, side in enumerate(sides.values())],
             hide_index=True)
    counted = {side.get("test_images", FALLBACK_IMAGES) for side in sides.values()}
    st.caption(f"Measured on {' and '.join(f'{count:,}' for count in sorted(counted))} test digits.")
    row = st.container(horizontal=True, gap="medium")
    row.plotly_chart(plots.curve_figure(sides, "shift_accuracy"), key="lessons_shift", config=PLOT_CONFIG, width=420)
    row.plotly_chart(plots.curve_figure(sides, "rotation_accuracy"), key="lessons_rotation", config=PLOT_CONFIG,
                     width=420)
    # The loss curves on request: a third chart of 1,600 points is most of what the browser spends
    # drawing this lesson, and the tolerance above is the lesson's point.
    if not st.toggle("Also show the loss while training", key="lessons_show_loss"):
        return
    histories = {choice.key: history(choice) for choice in (first, second)}
    histories = {key: rows for key, rows in histories.items() if rows}
    if histories:
        st.markdown("Loss while training (test loss solid, train loss dotted). The scale is logarithmic, "
                    "so the late gap shows: compare where the two test losses end.")
        st.plotly_chart(overlay_figure(histories, {first.key: first.label, second.key: second.label}),
                        key="lessons_loss", config=PLOT_CONFIG)
    if len(histories) < 2:
        st.caption("Loss curves appear for models whose folder holds their training history (history.jsonl).")


def seed_of(choice) -> int | None:
    _, train = training_settings(choice.folder)
    return train.seed if train is not None else None


def new_seed_run(choice) -> None:
    """Queue a run with run A's settings and a seed no model here has used."""
    model, train = training_settings(choice.folder)
    if model is None or train is None:
        st.session_state["lessons_new_seed_note"] = ("error", "Run A's settings cannot be read, so it cannot be "
                                                     "trained again.")
        return
    used = {seed for seed in (seed_of(other) for other in model_choices(run_store())) if seed is not None}
    seed = next(candidate for candidate in range(train.seed + 1, train.seed + 1000) if candidate not in used)
    try:
        run_id = launcher().submit(model, dataclasses.replace(train, seed=seed), owner=owner_token())
    except LaunchRefused as refusal:
        st.session_state["lessons_new_seed_note"] = ("warning", str(refusal))
        return
    st.session_state["lessons_new_seed_note"] = (
        "info", f"Run {run_id} is queued: run A's settings from seed {seed}. Watch it on the Train page; when it "
                "has finished, pick it here as run B.")


def pairing_words(first, second, pairs, chance, seeds) -> str:
    """What the pairing measured, in words, against the chance level."""
    count, similarity = len(pairs.similarity), pairs.similarity
    close, partly = int((similarity > 0.9).sum()), int((similarity > 0.7).sum())
    measured = (f"Mean similarity **{similarity.mean():.2f}**; {close} of {count} pairs above 0.9 and {partly} "
                "above 0.7. "
                f"Chance level, run A paired with random kernels: mean {chance.mean_similarity:.2f}, "
                f"{chance.above_09:.0f} above 0.9 and {chance.above_07:.0f} above 0.7.")
    if first.key == second.key:
        return measured + (" Run A and run B are the same model, so every kernel pairs with itself: pick two "
                           "different runs.")
    if seeds[0] is not None and seeds[0] == seeds[1]:
        return measured + (f" Both were trained from seed {seeds[0]}: if their settings match too, the same random "
                           "start gives the same filters, which says nothing about what training finds in general.")
    started = "different random starts" if None in seeds else f"seeds {seeds[0]} and {seeds[1]}"
    if similarity.mean() - chance.mean_similarity < 0.05:
        verdict = "filters hardly more alike than random ones: the same job done with different kernels."
    elif close * 2 >= count:
        verdict = "largely the same detectors, found twice."
    else:
        verdict = ("a few shared detectors (the closest pairs, first below) and many only partly alike: the two "
                   "networks agree on the job, not on one set of filters.")
    return measured + f" So two trainings from {started} find {verdict}"


def pairing_view(choices) -> None:
    intro("**Two runs, two sets of filters.** Each conv1 kernel of run A beside its partner in "
                "run B, paired one to one for the largest total |cosine similarity| (B is flipped in "
                "sign where that matches better). An optimal pairing flatters: even random kernels reach a "
                "fair similarity, so the result is compared with that chance level.")
    cnns = [choice for choice in choices if choice.architecture == "cnn"]
    if not cnns:
        st.info("No CNN to pair: train one on the Train page.")
        return
    keys_here = [choice.key for choice in cnns]
    second_default = SECOND_SEED if SECOND_SEED in keys_here else cnns[-1].key
    row = st.container(horizontal=True) if not in_tour() else st.expander("Models")
    with row.container(width=420):
        first, first_served = pick_model("Run A", "lessons_pair_a", choices=cnns, preferred="default",
                                         param=links.PAIR_A)
    with row.container(width=420):
        second, second_served = pick_model("Run B", "lessons_pair_b", choices=cnns, preferred=second_default,
                                           param=links.PAIR_B)
    seeds = (seed_of(first), seed_of(second))
    st.caption(f"Run A trained from seed {seeds[0] if seeds[0] is not None else 'unknown'}, run B from seed "
               f"{seeds[1] if seeds[1] is not None else 'unknown'}.")
    if first_served.architecture != "cnn" or second_served.architecture != "cnn":
        st.info("Pick two CNNs: a fully connected net has no kernels.")
        return
    try:
        pairs = pairing.pair_kernels(first_served.kernels[0], second_served.kernels[0])
    except ValueError as error:
        st.info(f"These two cannot be paired: {error}")
        return
    chance = pairing.chance_level(first_served.kernels[0])
    st.markdown(pairing_words(first, second, pairs, chance, seeds))
    tile_grid(plots.pairing_tiles(first_served.kernels[0], second_served.kernels[0], pairs), key="lessons_pairs",
              heading="pairs, best first: run A's kernel, then run B's")
    st.button("Same settings, new seed", key="lessons_new_seed", icon=":material/replay:", on_click=new_seed_run,
              args=(first,), help="Queue a training run with run A's settings from a seed no model here has "
                                  "used, to see whether this comparison holds for another pair.")
    note = st.session_state.pop("lessons_new_seed_note", None)
    if note:
        getattr(st, note[0])(note[1])


def quiz_view(served, dataset) -> None:
    intro("**Predict, then reveal.** Which picture does this kernel make of the digit? "
                "Red is positive output, blue negative. Think about where the kernel's positive and "
                "negative weights sit, then pick.")
    image, _ = current_digit(dataset, "lessons_quiz")
    bank = dict(HAND_MADE_KERNELS)
    if served.architecture == "cnn" and st.checkbox("Include the model's learned conv1 filters", key="lessons_learned"):
        bank.update(quiz.learned_bank(served.kernels[0]))
    links.seed(links.QUIZ, QUIZ_SEED, links.whole_number(0, 10**6))
    if st.button("New question", key="lessons_new"):
        st.session_state[QUIZ_SEED] = st.session_state.get(QUIZ_SEED, 0) + 1
    number = st.session_state.get(QUIZ_SEED, 0)
    links.keep(links.QUIZ, number)
    question = quiz.make_question(image, np.random.default_rng(number), bank)
    row = st.container(horizontal=True, gap="medium", vertical_alignment="center")
    row.plotly_chart(digit_figure(image, size=150), key="lessons_quiz_digit", config=PLOT_CONFIG, width="content")
    row.plotly_chart(image_figure(question.kernel, title="the kernel", show_values=True, width=150),
                     key="lessons_quiz_kernel", config=PLOT_CONFIG, width=240)
    tile_grid(plots.option_tiles(question), key="lessons_quiz_options", size=120, heading="which of these?")
    picked = st.radio("Your answer", ["A", "B", "C"], index=None, horizontal=True, key=f"lessons_answer_{number}")
    if picked is not None:
        right = "ABC"[question.answer]
        if picked == right:
            st.success(f"Right: {right}. {question.explanation}")
        else:
            st.error(f"Not quite: it is {right} (yours came from {question.option_kernels['ABC'.index(picked)]}). "
                     f"{question.explanation}")


def main() -> None:
    ensure_app_navigation()
    page_title("Lessons")
    choices = model_choices(run_store())
    if not choices:
        st.info("No model yet: the shipped models are missing and no run has finished. Train one on the Train page.")
        st.stop()
    dataset = dataset_or_stop("mnist")
    tabs, view = links.tabs(VIEWS, TAB, "compare")
    unread = st.empty()  # says, at the end, what of the address could not be read
    # Only the tab on show is computed: each lesson measures whole models, and their widgets (the
    # model menus) would otherwise all write their settings into one address.
    if view == "compare":
        with tabs[0]:
            compare_view(choices, dataset)
            link_button("compare")
    elif view == "pairs":
        with tabs[1]:
            pairing_view(choices)
            link_button("pairs")
    else:
        with tabs[2]:
            _, served = pick_model("Model for learned filters", "lessons_quiz_model", choices=choices,
                                   preferred="default", param=links.MODEL)
            quiz_view(served, dataset)
            link_button("quiz")
    links.problems(unread)

main()
