"""The saved runs as one pandas table, for the Train page and the CLI, and a name for each run.

    runs, problems = RunStore().list_runs()
    run_table(runs)   # one row per run: name, status, accuracy, config summaries, duration, device...
    run_label(run)    # 'fast CNN · MNIST · 99.1% · 15:44', how a person remembers a run

A run whose config no longer parses (written by an older version, or edited by hand) still gets a
row; its summary says the config is unreadable instead of failing the whole table. Missing
figures are NaN in the frame; the page shows them as a dash, never as "None".
"""
from __future__ import annotations

import re
import time

import pandas as pd

from cnn_core.data import display_name
from cnn_core.model import ModelConfig
from cnn_core.runs import RunInfo
from cnn_core.training import PRESETS, TrainConfig

# The columns people scan first come first: the config summaries are long and go last. ``run``
# is the id (what the page acts on); ``name`` is how a person tells runs apart.
COLUMNS = ("run", "name", "status", "accuracy", "dataset", "model", "training", "duration_s", "images_per_s",
           "device", "precision", "updated")
# How a run's number format reads in the table: what it trained in (its saved model is float32).
PRECISION_NAMES = {"float32": "fp32", "mixed_bfloat16": "bf16 mixed", "mixed_float16": "fp16 mixed", "auto": "auto"}
SCHEDULE_NAMES = {"constant": "constant", "warmup_cosine": "warm-up+cosine"}
OPTIMIZER_NAMES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
# Settings that do not change what a preset is: a seed-preset run on the GPU is still "seed".
NOT_PRESET = ("seed", "device", "strategy", "precision", "dataset")


def read_configs(config: dict) -> tuple[ModelConfig | None, TrainConfig | None]:
    """A run's saved configs, or None for one that does not parse."""
    configs = []
    for kind, cls in (("model", ModelConfig), ("train", TrainConfig)):
        try:
            configs.append(cls.from_dict(config.get(kind, {})))
        except (TypeError, ValueError, AttributeError):
            configs.append(None)
    return configs[0], configs[1]


def model_summary(config: dict) -> str:
    """'CNN conv3x3 32-64, dense 100 (335,110 params)' from a run's saved config."""
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
    return (f"{OPTIMIZER_NAMES.get(train.optimizer, train.optimizer)} {rate} "
            f"{SCHEDULE_NAMES.get(train.schedule, train.schedule)}, {train.iterations:,} steps x {train.batch_size}{images}")


def preset_of(train: TrainConfig) -> str:
    """'seed' or 'fast' when the training is that preset's (whatever the seed or device), else 'custom'."""
    for name, preset in PRESETS.items():
        if all(getattr(train, f) == getattr(preset, f) for f in train.to_dict() if f not in NOT_PRESET):
            return name
    return "custom"


def network_name(model: ModelConfig) -> str:
    """'CNN' for the seed network, 'CNN 16-32' for another, 'MLP 420' for a fully connected one."""
    if model.architecture == "mlp":
        return f"MLP {model.hidden_units}"
    if model == ModelConfig():
        return "CNN"
    return "CNN " + "-".join(str(c) for c in model.conv_channels)


def run_label(run: RunInfo) -> str:
    """How a person remembers a run: preset and network, dataset, accuracy, and the time it started."""
    model, train = read_configs(run.config)
    what = f"{preset_of(train) if train else '?'} {network_name(model) if model else '?'}"
    dataset = display_name(train.dataset) if train else "?"
    accuracy = run.metrics.get("test_accuracy")
    score = f"{accuracy:.1%}" if isinstance(accuracy, (int, float)) else run.status
    started = re.match(r"^\d{8}-(\d\d)(\d\d)\d\d-", run.run_id)  # ids begin with the launch time
    when = f" · {started.group(1)}:{started.group(2)}" if started else f" · {run.run_id}"
    return f"{what} · {dataset} · {score}{when}"


def precision_name(precision) -> str | None:
    """'bf16 mixed' for 'mixed_bfloat16'; None (a dash) when the run predates the setting."""
    return PRECISION_NAMES.get(precision, precision) if isinstance(precision, str) else None


def run_row(run: RunInfo) -> dict:
    """One table row for one saved run."""
    _, train = read_configs(run.config)
    metrics, status_info = run.metrics, run.status_info
    updated = status_info.get("updated")
    return {
        "run": run.run_id,
        "name": run_label(run),
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
