"""The Train page's view of one run: status, progress, Stop, live charts, downloads and delete.

Everything is read from the run folder the worker writes (``cnn_core.common.runs``), so a run launched
from the command line into the same folder shows the same way, and a reloaded tab finds its run
again from ``?run=<id>``. The live parts are fragments that poll the folder: progress every
second, the charts (which cost the browser far more to draw) every few seconds.
"""
from __future__ import annotations

import math

import streamlit as st

from cnn_core.common.runs import ACTIVE, MAX_MODEL_BYTES, RunError, RunInfo, check_run_id, read_regular, regular
from cnn_core.plots.runs import accuracy_figure, loss_figure
from pages import links
from pages.keys import train as key
from pages.shared import PLOT_CONFIG, as_text, is_presenter, launcher, owner_token, run_store

RUN_PARAM = links.RUN   # query-string key holding the watched run's id
IDLE_POLL_SECONDS = 3   # how often an idle Train page looks for a run another visitor launched
CHART_SECONDS = 3       # seconds between redraws of the live charts


def may_manage(run_id: str) -> bool:
    return launcher().may_manage(run_id, owner_token(), is_presenter())


def watched_run() -> str | None:
    """The run in ?run=..., if it exists; else the one this visitor last watched here (back from another
    page); else the run training now; else None. The run goes (back) into the address."""
    requested = st.query_params.get(RUN_PARAM)
    if requested:
        try:
            run_store().read(check_run_id(requested))
            st.session_state[key("watched")] = requested
            return requested
        except RunError:
            # Said once, in the visitor's words, without the server's paths, and without echoing the
            # address's text (which would be read as Markdown).
            st.warning("There is no run with the id in this address on this server (it may have been "
                       "deleted). Showing the run training now, if any.")
    else:
        remembered = st.session_state.get(key("watched"))
        if remembered and read_run(remembered) is not None:
            st.query_params[RUN_PARAM] = remembered
            return remembered
    running = launcher().running()
    return running[0].run_id if running else None


def read_run(run_id: str) -> RunInfo | None:
    try:
        return run_store().read(run_id)
    except RunError:
        return None


def is_active(run_id: str) -> bool:
    info = read_run(run_id)
    return info is not None and info.status in ACTIVE


def status_line(record: dict | None, total: int, status: str) -> str:
    if record is None:
        return "starting..."
    step, speed = int(record["step"]), record.get("images_per_second") or 0.0
    if status not in ACTIVE:
        return f"{status} at step {step:,} / {total:,} · {speed:,.0f} images/s"
    eta = record.get("eta")
    left = f"{eta:,.0f} s left" if isinstance(eta, float) and math.isfinite(eta) else "time left unknown"
    return f"step {step:,} / {total:,} · {speed:,.0f} images/s · {left}"


def stopping(run_id: str) -> bool:
    return run_store().stop_requested(run_id)


def stop(run_id: str) -> None:
    try:
        launcher().stop(run_id, owner_token(), is_presenter())
    except (PermissionError, RunError, OSError) as error:
        st.session_state[key("action_error")] = str(error)


def live_status(run_id: str, polling: bool) -> None:
    """A run's status, progress bar and, while it is active, a Stop button for those allowed."""
    info = read_run(run_id)
    if info is None:
        st.warning(f"Run {as_text(run_id)} can no longer be read: it was deleted or its folder is broken.")
        return
    if polling and info.status not in ACTIVE:
        st.rerun(scope="app")  # Finished: redraw the whole page once, with the results and no polling.
    history = run_store().read_history(run_id)
    total = int(info.train.get("iterations", 0))
    device = info.metrics.get("device") or info.status_info.get("device") or ""
    st.markdown(f"#### Run `{run_id}`: {info.status}" + (f" on {as_text(device, 80)}" if device else ""))
    if info.status == "queued":
        ahead = launcher().ahead_of(run_id)
        st.info(f"Waiting in the queue: {ahead} run(s) ahead of it, plus the one training now. "
                "It starts by itself." if ahead else "Next in the queue: it starts when the run training now ends.")
    elif info.status in ("failed", "interrupted"):
        st.error(f"This run {info.status}: {as_text(info.reason or 'no reason recorded', 400)}. "
                 "Check the settings and launch again.")
    elif info.status == "running" and stopping(run_id):
        st.info("Stopping: the worker is saving what the network has learned so far.")
    elif info.reason and info.status == "running":
        st.caption(as_text(info.reason, 400))
    record = history[-1] if history else None
    if record is not None or info.status == "running":
        step = int(record["step"]) if record else 0
        st.progress(min(step / max(total, 1), 1.0), text=status_line(record, total, info.status))
    if info.status in ACTIVE:
        if may_manage(run_id):
            st.button("Stop", key=key("stop"), type="primary", on_click=stop, args=(run_id,),
                      disabled=stopping(run_id))
        else:
            st.caption("Only the visitor who launched this run, or the presenter, can stop it.")
    if key("action_error") in st.session_state:
        st.error(as_text(st.session_state.pop(key("action_error"))))


def live_charts(run_id: str, live: bool) -> None:
    """Loss and accuracy curves. Live ones are static images of the plot (no hover or zoom layers),
    which halves what the visitor's browser spends redrawing them."""
    history = run_store().read_history(run_id) if read_run(run_id) else []
    if not history:
        return
    info = read_run(run_id)
    final = info.metrics.get("test_accuracy") if info else None
    slice_size = info.train.get("eval_images") if info else None
    config = {**PLOT_CONFIG, "staticPlot": live}
    left, right = st.columns([3, 2])
    left.plotly_chart(loss_figure(history), key=key("loss_chart"), config=config)
    right.plotly_chart(accuracy_figure(history, slice_size, final), key=key("accuracy_chart"), config=config)


def notice_new_run() -> None:
    """With nothing to watch, look every few seconds for a run someone else launched, and show it."""
    if launcher().running():
        st.rerun(scope="app")


def live_view(run_id: str) -> None:
    """Progress every second; the charts every few seconds, while the run is active."""
    if is_active(run_id):
        st.fragment(run_every=1)(live_status)(run_id, polling=True)
        st.fragment(run_every=CHART_SECONDS)(live_charts)(run_id, live=True)
    else:
        live_status(run_id, polling=False)
        live_charts(run_id, live=False)


def delete(run_id: str) -> None:
    try:
        launcher().delete(run_id, owner_token(), is_presenter())
    except (PermissionError, RunError, OSError) as error:
        st.session_state[key("action_error")] = str(error)
        return
    st.session_state.pop(key("confirm_delete"), None)
    # A new table key drops the old selection: the rows below the deleted one move up, and the
    # selection (by row number) would tick a run nobody chose.
    st.session_state[key("table_generation")] = st.session_state.get(key("table_generation"), 0) + 1
    if st.query_params.get(RUN_PARAM) == run_id:
        del st.query_params[RUN_PARAM]
    if st.session_state.get(key("watched")) == run_id:
        del st.session_state[key("watched")]


def run_actions(run_id: str) -> None:
    """Watch, download or delete one saved run (never one that is queued or training)."""
    store = run_store()
    path = store.path(run_id)
    row = st.container(horizontal=True, vertical_alignment="center")  # wraps at 1024 px instead of clipping
    watch, model, history, remove = (row.container(width="content") for _ in range(4))
    if watch.button("Show this run", key=key("watch")):
        st.query_params[RUN_PARAM] = run_id
        st.rerun()
    # Only a regular file of the run's own folder is served (never through a symbolic link).
    model.download_button("Download model (.keras)", data=lambda: model_bytes(path / "model.keras"),
                          file_name=f"{run_id}.keras", key=key("download_model"), on_click="ignore",
                          disabled=not regular(path / "model.keras"))
    history.download_button("Download history (.csv)", data=lambda: store.history_csv(run_id),
                            file_name=f"{run_id}-history.csv", key=key("download_history"), on_click="ignore",
                            disabled=not regular(path / "history.jsonl"))
    active = is_active(run_id)
    if active:
        remove.caption("Stop it before deleting it.")
    elif not may_manage(run_id):
        remove.caption("Only the visitor who launched it, or the presenter, can delete it.")
    elif remove.button("Delete...", key=key("delete")):
        st.session_state[key("confirm_delete")] = run_id
    if st.session_state.get(key("confirm_delete")) == run_id and not active:
        st.warning(f"Delete run {as_text(run_id)} and its model for good?")
        buttons = st.container(horizontal=True)  # buttons sized to their labels: never "Yes, d…"
        buttons.button("Yes, delete", key=key("delete_yes"), type="primary", on_click=delete, args=(run_id,))
        if buttons.button("Cancel", key=key("delete_no")):
            st.session_state.pop(key("confirm_delete"))
            st.rerun()
    if key("action_error") in st.session_state:
        st.error(as_text(st.session_state.pop(key("action_error"))))


def model_bytes(path) -> bytes:
    """A run's model.keras for download: a regular file of its folder, within the size bound, else nothing."""
    try:
        return read_regular(path, MAX_MODEL_BYTES)
    except RunError:
        return b""


def table_key() -> str:
    """The saved-runs table's widget key; it changes after a delete so the selection starts empty."""
    return key(f"runs_table_{st.session_state.get(key('table_generation'), 0)}")
