"""The saved runs as one pandas table, for the Train page.

    runs, problems = RunStore().list_runs()
    run_table(runs)   # one row per run: name, status, accuracy, config summaries, duration, device...

Each row's name is ``catalogue.run_name``, the name the model menus give the run too. A run whose
config no longer parses (written by an older version, or edited by hand) still gets a row; its
summary says the config is unreadable instead of failing the whole table. Missing figures are NaN
in the frame; the page shows them as a dash, never as "None".
"""
from __future__ import annotations

import time

import pandas as pd

from cnn_core.common.runs import RunInfo
from cnn_core.common.vocabulary import display_name, short_name
from cnn_core.server.catalogue import read_configs, run_name

# The columns people scan first come first: the config summaries are long and go last. ``run``
# is the id (what the page acts on); ``name`` is how a person tells runs apart.
COLUMNS = ("run", "name", "status", "accuracy", "dataset", "model", "training", "duration_s", "images_per_s",
           "device", "precision", "updated")


def model_summary(config: dict) -> str:
    """'CNN conv3x3 32-64, dense 100 (333,526 params)' from a run's saved config."""
    model, _ = read_configs(config)
    return model.describe() if model else "unreadable model config"


def training_summary(config: dict) -> str:
    """'Adam 1e-4 constant, 2,500 steps x 50' from a run's saved config."""
    _, train = read_configs(config)
    if train is None:
        return "unreadable training config"
    images = f", {train.train_images:,} images" if train.train_images else ""
    # Two significant figures, so 2.5e-3 does not read as 3e-3: '2.5e-3', '1e-4'.
    mantissa, exponent = f"{train.learning_rate:.1e}".split("e")
    rate = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    extras = "".join([f", β1 {train.beta_1:g}" if train.beta_1 != 0.9 else "",
                      f", smoothing {train.label_smoothing:g}" if train.label_smoothing else "",
                      f", {short_name('init', train.init)} init" if train.init != "seed" else ""])
    return (f"{short_name('optimizer', train.optimizer)} {rate} {short_name('schedule', train.schedule)}{extras}, "
            f"{train.iterations:,} steps x {train.batch_size}{images}")


def precision_name(precision) -> str | None:
    """'bf16 mixed' for 'mixed_bfloat16'; None (a dash) when the run predates the setting."""
    return short_name("precision", precision) if isinstance(precision, str) else None


def run_row(run: RunInfo) -> dict:
    """One table row for one saved run."""
    _, train = read_configs(run.config)
    metrics, status_info = run.metrics, run.status_info
    updated = status_info.get("updated")
    return {
        "run": run.run_id,
        "name": run_name(run),
        "status": run.status,
        "dataset": display_name(train.dataset) if train else "?",
        "model": model_summary(run.config),
        "training": training_summary(run.config),
        "accuracy": metrics.get("test_accuracy"),
        "duration_s": metrics.get("seconds"),
        "images_per_s": metrics.get("images_per_second"),
        "device": metrics.get("device") or status_info.get("device") or "",
        "precision": precision_name(metrics.get("precision") or (train.precision if train else None)),
        "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)) if isinstance(updated, (int, float)) else "",
    }


def run_table(runs: list[RunInfo]) -> pd.DataFrame:
    """A DataFrame with one row per run, in the order given (list_runs gives newest first)."""
    frame = pd.DataFrame([run_row(run) for run in runs], columns=list(COLUMNS))
    for column in ("accuracy", "duration_s", "images_per_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame
