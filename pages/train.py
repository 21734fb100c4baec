"""Train: configure a network and its training, launch it, watch it live, stop it, compare runs.

A launched run goes into the server's queue (``pages.shared.launcher``) and trains in a worker
process of its own, which writes everything into the run folder; this page only reads that folder
(the live view is in ``pages.run_view``). Every visitor sees every run; only the visitor who
launched one, or the presenter, may stop or delete it.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.data import locate
from cnn_core.common.limits import estimate
from cnn_core.common.runs import RunError
from cnn_core.common.vocabulary import choices, menu_name
from cnn_core.plots.runs import overlay_figure
from cnn_core.plots.tiles import digit_tiles
from cnn_core.server.launcher import LaunchRefused
from cnn_core.server.run_table import run_table
from cnn_core.server.train_form import LABELS, error_list, form_defaults, parse_form
from pages.components import tile_grid
from pages.confusion_view import confusion_drilldown
from pages.keys import train as key
from pages.run_view import (IDLE_POLL_SECONDS, RUN_PARAM, is_active, live_view, notice_new_run, run_actions,
                            table_key, watched_run)
from pages.shared import (as_text, dataset_or_stop, device_report, ensure_app_navigation, fetch_dataset, launcher,
                          owner_token, presenter_login, run_store)

RUN_COLUMNS = ("name", "status", "accuracy", "duration_s", "hardware")
FIELD_WIDTH = 190  # pixels per form field: room for "Warm-up then cosine" and a number's +/- buttons


def choose(field: str, options=None, width: int = FIELD_WIDTH) -> None:
    """A menu for one config field that shows human names; its value stays the config's string."""
    st.selectbox(LABELS[field], options or choices(field), key=key(field), width=width,
                 format_func=lambda value: menu_name(field, value))


def apply_preset() -> None:
    """Reset every form field to the chosen preset (the network stays the seed's)."""
    for field, value in form_defaults(st.session_state[key("preset")]).items():
        st.session_state[key(field)] = value


def config_form() -> None:
    """The model and training form; a valid submit puts a job in the process-wide queue.

    Fields sit in rows that wrap (a fixed width each), so every label, menu and +/- button stays
    whole from a 1024-px projector to a wide monitor; problems show together in one box below.
    """
    st.selectbox("Preset", choices("preset"), key=key("preset"), on_change=apply_preset, width=FIELD_WIDTH + 120,
                 format_func=lambda name: menu_name("preset", name),
                 help="Seed: the tutorial's settings. Fast: the seed's network, trained on fewer images "
                      "(batches of 128, under one epoch) with He initialisation, Adam warmed up to a "
                      "high rate then cosine-decayed, and smoothed labels, to pass 99% sooner "
                      "(benchmarks/RESULTS.md has the measured times).")
    for field, value in form_defaults(st.session_state[key("preset")]).items():
        st.session_state.setdefault(key(field), value)
    with st.form("train_form", border=True):
        st.markdown("**Data and network**")
        with st.container(horizontal=True, gap="small"):
            choose("dataset", width=FIELD_WIDTH + 20)
            st.number_input(f"{LABELS['train_images']} (0: all)", step=1000, key=key("train_images"),
                            width=FIELD_WIDTH, help="0 uses all 60,000; fewer makes a quick run.")
            st.number_input(LABELS["seed"], step=1, key=key("seed"), width=FIELD_WIDTH)
            st.radio(LABELS["network"], choices("network"), format_func=lambda value: menu_name("network", value),
                     key=key("network"),
                     help="The fully connected net is sized to the CNN below, to compare them at equal size.")
        st.markdown("**CNN**")
        with st.container(horizontal=True, gap="small"):
            st.text_input(LABELS["conv_channels"], key=key("conv_channels"), width=FIELD_WIDTH,
                          help="One conv block per number, e.g. 32, 64.")
            for field in ("kernel_size", "pool_size", "hidden_units"):
                st.number_input(LABELS[field], step=1, key=key(field), width=FIELD_WIDTH)
            st.number_input(LABELS["init_stddev"], step=0.01, format="%.3f", key=key("init_stddev"), width=FIELD_WIDTH)
        st.markdown("**Training**")
        with st.container(horizontal=True, gap="small"):
            for field in ("iterations", "batch_size"):
                st.number_input(LABELS[field], step=1, key=key(field), width=FIELD_WIDTH)
            st.text_input(LABELS["learning_rate"], key=key("learning_rate"), width=FIELD_WIDTH)
            choose("optimizer")
            choose("schedule")
            st.number_input(LABELS["warmup_fraction"], step=0.05, format="%.2f", key=key("warmup_fraction"),
                            width=FIELD_WIDTH, help="Share of the iterations spent warming up (warm-up schedule only).")
            st.number_input(LABELS["beta_1"], step=0.05, format="%.2f", key=key("beta_1"), width=FIELD_WIDTH,
                            help="Adam's momentum (SGD's too): how much of the last steps' direction each step keeps.")
            st.number_input(LABELS["label_smoothing"], step=0.05, format="%.2f", key=key("label_smoothing"),
                            width=FIELD_WIDTH, help="0 trains on hard labels; 0.1 asks for 90% on the right class.")
            choose("init")
            for field in ("eval_every", "eval_images"):
                st.number_input(LABELS[field], step=1, key=key(field), width=FIELD_WIDTH)
            choose("device")
            choose("precision")
            report = device_report()
            gpus = list(report.gpus) if report else []
            if len(gpus) > 1:
                choose("strategy", ("default", "mirrored"))
        problems = st.empty()
        submitted = st.form_submit_button("Launch training", type="primary", key=key("launch"))
        needs = st.empty()
    values = {field: st.session_state[key(field)] for field in form_defaults()}
    limits = launcher().limits
    model, train, errors = parse_form(values, gpu_count=len(gpus), limits=limits)
    needs.caption(run_needs(values, gpus, limits))
    if not submitted:
        return
    if errors:
        problems.error("Fix these, then launch again:\n" + error_list(errors))
        return
    if not data_ready(train.dataset, problems):
        return
    try:
        run_id = launcher().submit(model, train, owner=owner_token())
    except LaunchRefused as refusal:
        problems.warning(str(refusal))
        return
    try:
        status = run_store().read(run_id).status
    except RunError:  # Deleted by another tab already.
        status = "queued"
    st.session_state[key("launched")] = f"Run {as_text(run_id)} {'started' if status == 'running' else 'queued'}."
    # The run id goes in the address so that a reload finds it; a full rerun then draws the page
    # for the new run (its live view, its row in the table) from that address alone.
    st.query_params[RUN_PARAM] = run_id
    st.rerun()


def run_needs(values: dict, gpus: list, limits) -> str:
    """What the run in the form needs (parameters, memory, time), beside this server's bounds."""
    model, train, _ = parse_form(values, gpu_count=len(gpus))
    needs = f"This run: {estimate(model, train).describe()}. " if model is not None else ""
    return needs + f"This server trains {limits.describe()}."


def data_ready(name: str, slot) -> bool:
    """Whether the run's data is on this machine (downloading it first if it can be); else says why in ``slot``."""
    if locate(name)[0] != "download":
        return True
    with st.spinner(f"{name} is not on this machine yet: downloading it..."):
        problem = fetch_dataset(name)
    if problem:
        slot.error(f"No run was queued: the {name} data is not on this machine and could not be downloaded "
                   f"({problem}). Put the four IDX files in a folder and set CNN_DATA_DIR to it, "
                   "as the README explains, then launch again.")
        return False
    return True


def waiting_for_devices() -> None:
    if device_report() is not None:
        st.rerun(scope="app")
    st.caption("Asking a worker process which devices TensorFlow sees...")


def devices_panel() -> None:
    """What TensorFlow sees (asked of a worker process once) and what the next run will use."""
    report = device_report()
    if report is None:  # The first probe of a fresh server takes a few seconds: look again soon.
        st.fragment(run_every=2)(waiting_for_devices)()
        return
    if report.error:
        st.caption(f"Devices unknown: {report.error}. Runs use the GPU when TensorFlow sees one, else the CPU.")
        return
    devices = ", ".join(f"{name} ({description})" if description else name for name, _, description in report.devices)
    try:
        chosen = report.resolve(st.session_state.get(key("device"), "auto"))
    except ValueError as error:
        chosen = f"none ({error})"
    auto = menu_name("precision", report.auto_precision)
    st.caption(f"{report.summary} TensorFlow sees: {devices}. The next run will use **{chosen}**; "
               f"precision Auto means **{auto}** on this hardware.")


def results(run_id: str) -> None:
    """After a run: full test accuracy, the confusion matrix and the digits it got wrong."""
    store = run_store()
    try:
        info = store.read(run_id)
    except RunError:
        return
    accuracy, predictions = info.metrics.get("test_accuracy"), store.read_predictions(run_id)
    if accuracy is None or predictions is None:
        return
    dataset = dataset_or_stop(info.config.get("train", {}).get("dataset", "mnist"))
    if len(predictions) != len(dataset.test_labels):
        st.warning("The saved predictions do not match the test set; the confusion matrix is not shown.")
        return
    slice_size = info.config.get("train", {}).get("eval_images", 500)
    st.metric(f"Full test accuracy (all {len(predictions):,} test images)", f"{accuracy:.2%}",
              help=f"After {info.metrics.get('steps', 0):,} steps. The live chart above measures accuracy on "
                   f"a rotating {slice_size:,}-image slice of the test set, so it can differ by a point or so; "
                   "the dashed line there marks this figure.")
    # Fixed-width confusion matrix (its cells must stay square enough to click); the mistakes take
    # the rest, and wrap below it on a narrow screen.
    row = st.container(horizontal=True, gap="medium")
    left, right = row.container(width=430), row.container(width="stretch")
    with left:
        confusion_drilldown(run_id, dataset, predictions)
    with right:
        wrong = np.flatnonzero(predictions != dataset.test_labels)[:30]
        names = dataset.class_names
        if not len(wrong):
            st.markdown("**Misclassified test images**: none, every test image was read correctly.")
            return
        tile_grid(digit_tiles(dataset.test_images[wrong], [f"{names[predictions[i]]} / {names[dataset.test_labels[i]]}"
                                                           for i in wrong],
                              [f"test image #{i}: read as {names[predictions[i]]}, truly {names[dataset.test_labels[i]]}"
                               for i in wrong]),
                  key=key("mistakes"), heading="Misclassified test images (read as / truly)")


def saved_runs() -> None:
    """Every saved run as a table; selected rows are overlaid and can be downloaded or deleted."""
    st.subheader("Saved runs")
    runs, problems = run_store().list_runs()
    for problem in problems:
        st.caption(f"Skipped a folder: {as_text(problem)}")
    if not runs:
        st.info("No saved runs yet: launch one above.")
        return
    table = run_table(runs)
    # Device and precision in one short column, so every column fits the page at 1024 px.
    table["hardware"] = [" ".join(part for part in (device.strip("/").split(":")[0], precision or "") if part)
                         for device, precision in zip(table["device"], table["precision"])]
    # Only short columns, so the table fits the page at 1024 px without a clipped column: the name
    # already says preset, network, dataset and accuracy; the full configs of the selected runs are
    # listed under the table. Missing figures show as a dash, not "None".
    event = st.dataframe(
        table, key=table_key(), on_select="rerun", selection_mode="multi-row", hide_index=True,
        placeholder="—", column_order=RUN_COLUMNS,
        column_config={"name": st.column_config.TextColumn("run", width=210, help="Preset and network, "
                                                           "dataset, accuracy, launch time"),
                       "status": st.column_config.TextColumn(width=70),
                       "accuracy": st.column_config.NumberColumn(format="percent", width=65),
                       "duration_s": st.column_config.NumberColumn("time (s)", format="%.0f", width=55),
                       "hardware": st.column_config.TextColumn(width=100, help="Where the run trained and in "
                                                               "what precision; every saved model is float32")})
    chosen = [table["run"].iloc[row] for row in event.selection.rows if 0 <= row < len(table)]
    if not chosen:
        st.caption("Select runs in the table to overlay their loss curves, download or delete them.")
        return
    names = dict(zip(table["run"], table["name"]))
    details = table.set_index("run")
    st.markdown("\n".join(f"- **{as_text(names[run_id])}**: {as_text(details.loc[run_id, 'model'])}; "
                          f"{as_text(details.loc[run_id, 'training'])}" for run_id in chosen))
    st.plotly_chart(overlay_figure({run_id: run_store().read_history(run_id) for run_id in chosen}, names),
                    key=key("overlay"))
    run_actions(st.selectbox("Act on", chosen, key=key("act_on"), format_func=names.get)
                if len(chosen) > 1 else chosen[0])


ensure_app_navigation()
presenter_login()
st.title("Train")
st.caption("The seed tutorial's CNN on MNIST, or your variation of it. One job trains at a time; "
           "others wait in the queue. Runs are saved and can be compared below.")
devices_panel()
if key("launched") in st.session_state:
    st.toast(st.session_state.pop(key("launched")))
config_form()
watched = watched_run()
if watched is None:
    st.info("No run is training. Launch one with the form above, or pick a saved run below.")
    st.fragment(run_every=IDLE_POLL_SECONDS)(notice_new_run)()
else:
    live_view(watched)
    if not is_active(watched):
        results(watched)
saved_runs()
