"""The saved runs as one pandas table, for the Train page and the CLI.

    runs, problems = RunStore().list_runs()
    run_table(runs)   # one row per run: config summary, status, accuracy, duration, device...

A run whose config no longer parses (written by an older version, or edited by hand) still gets a
row; its summary says the config is unreadable instead of failing the whole table.
"""
from __future__ import annotations

import time

import pandas as pd

from cnn_core.model import ModelConfig
from cnn_core.runs import RunInfo
from cnn_core.training import TrainConfig

# The columns people scan first come first: the config summaries are long and go last.
COLUMNS = ("run", "status", "accuracy", "duration_s", "images_per_s", "device", "dataset", "model",
           "training", "updated")


def model_summary(config: dict) -> str:
    """'CNN conv3x3 32-64, dense 100 (335,110 params)' from a run's saved config."""
    try:
        return ModelConfig.from_dict(config.get("model", {})).describe()
    except (TypeError, ValueError, AttributeError):
        return "unreadable model config"


def training_summary(config: dict) -> str:
    """'adam 1e-04 constant, 2,500 steps x 50' from a run's saved config."""
    try:
        train = TrainConfig.from_dict(config.get("train", {}))
    except (TypeError, ValueError, AttributeError):
        return "unreadable training config"
    images = f", {train.train_images:,} images" if train.train_images else ""
    return (f"{train.optimizer} {train.learning_rate:.0e} {train.schedule}, "
            f"{train.iterations:,} steps x {train.batch_size}{images}")


def run_row(run: RunInfo) -> dict:
    """One table row for one saved run."""
    train = run.config.get("train", {}) if isinstance(run.config.get("train"), dict) else {}
    metrics, status_info = run.metrics, run.status_info
    updated = status_info.get("updated")
    return {
        "run": run.run_id,
        "status": run.status,
        "dataset": train.get("dataset", "?"),
        "model": model_summary(run.config),
        "training": training_summary(run.config),
        "accuracy": metrics.get("test_accuracy"),
        "duration_s": metrics.get("seconds"),
        "images_per_s": metrics.get("images_per_second"),
        "device": metrics.get("device") or status_info.get("device") or "",
        "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)) if isinstance(updated, (int, float)) else "",
    }


def run_table(runs: list[RunInfo], live_status: dict[str, str] | None = None) -> pd.DataFrame:
    """A DataFrame with one row per run, in the order given (list_runs gives newest first).

    ``live_status`` (run id -> status) overrides the saved status for jobs this process runs: the
    saved one says 'queued' until the job's thread has loaded its data.
    """
    rows = [{**run_row(run), **({"status": live_status[run.run_id]} if run.run_id in (live_status or {}) else {})}
            for run in runs]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("accuracy", "duration_s", "images_per_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame
