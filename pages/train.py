"""Train: configure a network and its training, launch it, watch it live, stop it, compare runs.

Jobs belong to the server process (``pages.shared.job_manager``), not to a visitor: anyone who
opens the page sees the running job, and a reloaded tab finds its run again from ``?run=<id>`` in
the address. The live view is a fragment that polls the job once a second, so the rest of the
page (and every other page) stays responsive while it trains.
"""
from __future__ import annotations

import streamlit as st

from cnn_core.data import DATASETS
from cnn_core.devices import describe_hardware, gpu_names, list_devices, resolve_device
from cnn_core.model import ModelConfig
from cnn_core.plots import (accuracy_figure, confusion_figure, confusion_matrix, loss_figure,
                            misclassified_figure, overlay_figure)
from cnn_core.run_table import run_table
from cnn_core.runs import RunError, check_run_id
from cnn_core.train_form import LABELS, NETWORKS, choice_name, error_list, form_defaults, parse_form
from cnn_core.training import OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig
from pages.shared import dataset_or_stop, ensure_app_navigation, job_manager, run_store

RUN_PARAM = "run"  # query-string key holding the watched run's id
ACTIVE = ("queued", "running")
IDLE_POLL_SECONDS = 3  # how often an idle Train page looks for a job another visitor launched
CHART_SECONDS = 3  # seconds between redraws of the live charts (see live_view)
RUN_COLUMNS = ("name", "status", "accuracy", "dataset", "duration_s", "device", "model", "training")
FIELD_WIDTH = 190  # pixels per form field: room for "Warm-up then cosine" and a number's +/- buttons


def key(field: str) -> str:
    return f"train_{field}"


def choose(field: str, options, width: int = FIELD_WIDTH) -> None:
    """A menu for one config field that shows human names; its value stays the config's string."""
    st.selectbox(LABELS[field], options, key=key(field), width=width,
                 format_func=lambda value: choice_name(field, value))


def apply_preset() -> None:
    """Reset every form field to the chosen preset (the network stays the seed's)."""
    for field, value in form_defaults(st.session_state[key("preset")]).items():
        st.session_state[key(field)] = value


def config_form() -> None:
    """The model and training form; a valid submit puts a job in the process-wide queue.

    Fields sit in rows that wrap (a fixed width each), so every label, menu and +/- button stays
    whole from a 1024-px projector to a wide monitor; problems show together in one box below.
    """
    st.selectbox("Preset", list(PRESETS), key=key("preset"), on_change=apply_preset, width=FIELD_WIDTH + 120,
                 format_func=lambda name: choice_name("preset", name),
                 help="Seed: the tutorial's settings. Fast: bigger batches and a warmed-up cosine schedule.")
    for field, value in form_defaults(st.session_state[key("preset")]).items():
        st.session_state.setdefault(key(field), value)
    with st.form("train_form", border=True):
        st.markdown("**Data and network**")
        with st.container(horizontal=True, gap="small"):
            choose("dataset", list(DATASETS), width=FIELD_WIDTH + 20)
            st.number_input(LABELS["train_images"], step=1000, key=key("train_images"), width=FIELD_WIDTH,
                            help="0 uses all 60,000; fewer makes a quick run.")
            st.number_input(LABELS["seed"], step=1, key=key("seed"), width=FIELD_WIDTH)
            st.radio(LABELS["network"], list(NETWORKS), format_func=NETWORKS.get, key=key("network"),
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
            choose("optimizer", OPTIMIZERS)
            choose("schedule", SCHEDULES)
            st.number_input(LABELS["warmup_fraction"], step=0.05, format="%.2f", key=key("warmup_fraction"),
                            width=FIELD_WIDTH, help="Share of the iterations spent warming up (warm-up schedule only).")
            for field in ("eval_every", "eval_images"):
                st.number_input(LABELS[field], step=1, key=key(field), width=FIELD_WIDTH)
            choose("device", ("auto", "cpu", "gpu"))
            gpus = gpu_names()
            if len(gpus) > 1:
                choose("strategy", ("default", "mirrored"))
        problems = st.empty()
        submitted = st.form_submit_button("Launch training", type="primary", key=key("launch"))
    if not submitted:
        return
    values = {field: st.session_state[key(field)] for field in form_defaults()}
    model, train, errors = parse_form(values, gpu_count=len(gpus))
    if errors:
        problems.error("Fix these, then launch again:\n" + error_list(errors))
        return
    job = job_manager().submit(model, train)
    st.session_state[key("launched")] = f"Run {job.run_id} {'started' if job.status == 'running' else 'queued'}."
    # The run id goes in the address so that a reload finds it; a full rerun then draws the page
    # for the new run (its live view, its row in the table) from that address alone.
    st.query_params[RUN_PARAM] = job.run_id
    st.rerun()


def devices_panel() -> None:
    """What TensorFlow sees and what the next run will use, in plain words."""
    devices = ", ".join(f"{d.name} ({d.description})" if d.description else d.name for d in list_devices())
    try:
        chosen = resolve_device(st.session_state.get(key("device"), "auto"))
    except ValueError as error:
        chosen = f"none ({error})"
    st.caption(f"{describe_hardware()} TensorFlow sees: {devices}. The next run will use **{chosen}**.")


def watched_run() -> str | None:
    """The run in ?run=..., if valid; else the job training now; else None."""
    requested = st.query_params.get(RUN_PARAM)
    if requested:
        try:
            return check_run_id(requested)
        except RunError:
            st.error(f"The address asks for run {requested[:80]!r}, which is not a valid run id "
                     "(letters, digits, '-', '_' and '.' only). Showing the job training now instead.")
    running = job_manager().running()
    return running[0].run_id if running else None


def is_active(run_id: str) -> bool:
    """Whether a run is queued or training, here or in another live process (the CLI)."""
    job = job_manager().get(run_id)
    if job is not None:
        return not job.finished
    try:
        return run_store().read(run_id).status in ACTIVE
    except RunError:
        return False


def status_line(step: int, total: int, record, status: str) -> str:
    if record is None:
        return "starting..."
    if status not in ACTIVE:
        return f"{status} at step {step:,} / {total:,} · {record.images_per_second:,.0f} images/s"
    eta = f"{record.eta:,.0f} s left" if record.eta == record.eta else "ETA unknown"  # NaN != NaN
    return f"step {step:,} / {total:,} · {record.images_per_second:,.0f} images/s · {eta}"


def run_state(run_id: str):
    """(status, history, iterations, reason, device, latest record) of a run here or on disk; None if unreadable."""
    job = job_manager().get(run_id)
    if job is not None:
        return job.status, job.records_since(0), job.train_config.iterations, job.reason, job.device, job.latest()
    try:  # Not started by this server process: read what was saved.
        info = run_store().read(run_id)
    except RunError as error:
        st.warning(f"Run {run_id} cannot be shown: {error}")
        return None
    total = info.config.get("train", {}).get("iterations", 0)
    return (info.status, run_store().read_history(run_id), total, info.status_info.get("reason", ""),
            info.status_info.get("device", ""), None)


def live_status(run_id: str, polling: bool) -> None:
    """A run's status, progress bar and, while it is active, a Stop button."""
    state = run_state(run_id)
    if state is None:
        return
    status, history, total, reason, device, latest = state
    if polling and status not in ACTIVE:
        st.rerun(scope="app")  # Finished: redraw the whole page once, with the results and no polling.
    st.markdown(f"#### Run `{run_id}`: {status}" + (f" on {device}" if device else "") + (f" ({reason})" if reason else ""))
    if status == "queued":
        ahead = [j.run_id for j in job_manager().running()]
        st.info(f"Waiting in the queue behind {', '.join(ahead) or 'the job before it'}; it starts when that ends.")
    elif status == "failed":
        st.error(f"This run failed: {reason or 'no reason recorded'}. Check the settings and launch again.")
    step = int(latest.step if latest else history[-1]["step"] if history else 0)
    if latest is not None or status == "running":
        st.progress(min(step / max(total, 1), 1.0), text=status_line(step, total, latest, status))
    if status in ACTIVE:
        st.button("Stop", key=key("stop"), type="primary", on_click=job_manager().stop, args=(run_id,))


def live_charts(run_id: str, live: bool) -> None:
    """Loss and accuracy curves. Live ones are static images of the plot (no hover or zoom layers),
    which halves what the visitor's browser spends redrawing them."""
    state = run_state(run_id)
    if state is None or not state[1]:
        return
    config = {"displayModeBar": False, "staticPlot": live}
    left, right = st.columns([3, 2])
    left.plotly_chart(loss_figure(state[1]), key=key("loss_chart"), config=config)
    right.plotly_chart(accuracy_figure(state[1]), key=key("accuracy_chart"), config=config)


def notice_new_job() -> None:
    """With nothing to watch, look every few seconds for a job someone else launched, and show it."""
    if job_manager().running():
        st.rerun(scope="app")


def live_view(run_id: str) -> None:
    """Progress every second; the charts, which cost the browser far more to draw, every few seconds.

    Measured on the 2-core dev host (seed CNN, 600-800 steps, page open vs closed, interleaved):
    with the server and the browser on separate cores, as for a visitor on their own machine,
    training keeps 0.99x its speed; with Chromium drawing on the same two cores, 0.85x.
    """
    if is_active(run_id):
        st.fragment(run_every=1)(live_status)(run_id, polling=True)
        st.fragment(run_every=CHART_SECONDS)(live_charts)(run_id, live=True)
    else:
        live_status(run_id, polling=False)
        live_charts(run_id, live=False)


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
    left, right = st.columns([2, 3])
    left.plotly_chart(confusion_figure(confusion_matrix(dataset.test_labels, predictions), dataset.class_names),
                      key=key("confusion"))
    with right:
        st.markdown("**Misclassified test images** (bold: predicted / true)")
        st.plotly_chart(misclassified_figure(dataset.test_images, dataset.test_labels, predictions,
                                             dataset.class_names), key=key("mistakes"))


def run_actions(run_id: str) -> None:
    """Watch, download or delete one saved run (never one that is queued or training)."""
    store = run_store()
    path = store.path(run_id)
    watch, model, history, delete = st.columns(4)
    if watch.button("Show this run", key=key("watch")):
        st.query_params[RUN_PARAM] = run_id
        st.rerun()
    model.download_button("Download model (.keras)", data=lambda: (path / "model.keras").read_bytes(),
                          file_name=f"{run_id}.keras", key=key("download_model"), on_click="ignore",
                          disabled=not (path / "model.keras").is_file())
    history.download_button("Download history (.csv)", data=lambda: (path / "history.csv").read_bytes(),
                            file_name=f"{run_id}-history.csv", key=key("download_history"), on_click="ignore",
                            disabled=not (path / "history.csv").is_file())
    active = is_active(run_id)
    if active:
        delete.caption("Stop it before deleting it.")
    elif delete.button("Delete...", key=key("delete")):
        st.session_state[key("confirm_delete")] = run_id
    if st.session_state.get(key("confirm_delete")) == run_id and not active:
        st.warning(f"Delete run {run_id} and its model for good?")
        yes, no = st.columns([1, 6])
        if yes.button("Yes, delete", key=key("delete_yes"), type="primary"):
            store.delete(run_id)
            st.session_state.pop(key("confirm_delete"))
            if st.query_params.get(RUN_PARAM) == run_id:
                del st.query_params[RUN_PARAM]
            st.rerun()
        if no.button("Cancel", key=key("delete_no")):
            st.session_state.pop(key("confirm_delete"))
            st.rerun()


def saved_runs() -> None:
    """Every saved run as a table; selected rows are overlaid and can be downloaded or deleted."""
    st.subheader("Saved runs")
    runs, problems = run_store().list_runs()
    for problem in problems:
        st.caption(f"Skipped a folder: {problem}")
    if not runs:
        st.info("No saved runs yet: launch one above.")
        return
    table = run_table(runs, {job.run_id: job.status for job in job_manager().jobs()})
    # The name says what each run was; the long summaries come last and get the room that is left,
    # so that the table fits the page at 1024 px. Missing figures show as a dash, not "None".
    event = st.dataframe(
        table, key=key("runs_table"), on_select="rerun", selection_mode="multi-row", hide_index=True,
        placeholder="—", column_order=RUN_COLUMNS,
        column_config={"name": st.column_config.TextColumn("run", width="medium", help="Preset and network, "
                                                           "dataset, accuracy, launch time"),
                       "status": st.column_config.TextColumn(width="small"),
                       "accuracy": st.column_config.NumberColumn(format="percent", width="small"),
                       "dataset": st.column_config.TextColumn(width="small"),
                       "duration_s": st.column_config.NumberColumn("time (s)", format="%.0f", width="small"),
                       "device": st.column_config.TextColumn(width="small"),
                       "model": st.column_config.TextColumn("network", width="medium"),
                       "training": st.column_config.TextColumn(width="medium")})
    chosen = [table["run"].iloc[row] for row in event.selection.rows]
    if not chosen:
        st.caption("Select runs in the table to overlay their loss curves, download or delete them.")
        return
    names = dict(zip(table["run"], table["name"]))
    st.plotly_chart(overlay_figure({run_id: run_store().read_history(run_id) for run_id in chosen}, names),
                    key=key("overlay"))
    run_actions(st.selectbox("Act on", chosen, key=key("act_on")) if len(chosen) > 1 else chosen[0])


ensure_app_navigation()
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
    st.fragment(run_every=IDLE_POLL_SECONDS)(notice_new_job)()
else:
    live_view(watched)
    if not is_active(watched):
        results(watched)
saved_runs()
