"""The saved-runs table and run names: summaries, a dash-ready NaN for missing figures, names people remember."""
from pathlib import Path

import numpy as np

from cnn_core.common.config import PRESETS, ModelConfig, TrainConfig, matched_mlp
from cnn_core.common.runs import RunInfo
from cnn_core.server.catalogue import launch_time, preset_of, run_choice, run_name
from cnn_core.server.run_table import run_table, training_summary
from tests.conftest import needs_data


def run(run_id="20261129-154430-725db0", status="completed", model=None, train=None, metrics=None):
    config = {"model": (model or ModelConfig()).to_dict() if not isinstance(model, dict) else model,
              "train": (train or TrainConfig()).to_dict() if not isinstance(train, dict) else train}
    return RunInfo(run_id, Path("/nonexistent") / run_id, status, config, metrics or {}, {})


def test_run_table_summarises_each_run():
    good = run(train=TrainConfig(iterations=1400, batch_size=128),
               metrics={"test_accuracy": 0.99, "seconds": 61.5, "images_per_second": 1234.0, "device": "/CPU:0"})
    broken = run("20261129-160000-aaaaaa", "failed", model={"kernel_size": -3}, train={})
    table = run_table([good, broken]).set_index("run")
    row = table.loc[good.run_id]
    assert row["model"].startswith("CNN conv3x3 32-64") and row["training"] == "Adam 1e-4 constant, 1,400 steps x 128"
    assert row["accuracy"] == 0.99 and row["device"] == "/CPU:0" and row["dataset"] == "MNIST"
    assert table.loc[broken.run_id, "model"] == "unreadable model config"
    # Missing figures are NaN (the page shows a dash), never the string "None".
    assert np.isnan(table.loc[broken.run_id, "accuracy"]) and np.isnan(table.loc[broken.run_id, "duration_s"])
    assert "None" not in table.astype(str).to_string().replace("NaN", "")
    assert list(run_table([]).columns)[:4] == ["run", "name", "status", "accuracy"]


def test_training_summary_uses_human_names():
    assert training_summary({"train": PRESETS["fast"].to_dict()}) == "Adam 8e-3 warm-up+cosine, β1 0.8, smoothing 0.1, He init, 450 steps x 128"
    assert training_summary({"train": PRESETS["seed"].to_dict()}) == "Adam 1e-4 constant, 2,500 steps x 50"
    assert training_summary({"train": {"iterations": -1}}) == "unreadable training config"
    recipe = TrainConfig(batch_size=256, learning_rate=5e-3, beta_1=0.8, label_smoothing=0.1, init="he")
    assert training_summary({"train": recipe.to_dict()}) == "Adam 5e-3 constant, β1 0.8, smoothing 0.1, He init, 2,500 steps x 256"


def test_runs_are_named_by_preset_network_dataset_accuracy_and_time():
    assert run_name(run(metrics={"test_accuracy": 0.96724})) == "seed CNN · MNIST · 96.7% · 29 Nov 15:44"
    fast_fashion = TrainConfig(**{**PRESETS["fast"].to_dict(), "dataset": "fashion-mnist", "seed": 3})
    assert run_name(run(train=fast_fashion, model=matched_mlp(ModelConfig()), metrics={"test_accuracy": 0.881})) \
        == "fast MLP 420 · Fashion-MNIST · 88.1% · 29 Nov 15:44"
    custom = run(status="failed", model=ModelConfig(conv_channels=(16, 32)), train=TrainConfig(iterations=30))
    assert run_name(custom) == "custom CNN 16-32 · MNIST · failed · 29 Nov 15:44"
    assert run_name(run("my-run", model={"kernel_size": -3})) == "seed ? · MNIST · completed · my-run"
    stopped = run(status="stopped", metrics={"test_accuracy": 0.5})
    assert run_name(stopped) == "seed CNN · MNIST · 50.0% stopped early · 29 Nov 15:44"


def test_a_run_launched_today_is_named_by_its_time_alone():
    import time

    today = time.strftime("%Y%m%d") + "-093000-abcdef"
    assert launch_time(today) == "09:30" and launch_time("20991231-235959-x") == "31 Dec 23:59"


def test_the_table_and_every_model_menu_use_the_same_name():
    named = run(metrics={"test_accuracy": 0.9})
    assert run_choice(named).label == run_name(named) == run_table([named]).loc[0, "name"]


def test_preset_ignores_seed_device_and_dataset():
    assert preset_of(TrainConfig(seed=7, device="cpu")) == "seed"
    assert preset_of(TrainConfig(batch_size=64)) == "custom"


@needs_data
def test_the_train_page_table_shows_dashes_names_and_short_columns(runs_dir):
    """On the page: missing figures as a dash (not "None"), the run's name, and only short columns
    (the long configs are listed under the table), so the table fits a 1024-px page."""
    import json

    from tests.support import app_on
    failed = runs_dir / "20261129-160102-fa11ed"
    failed.mkdir()
    (failed / "config.json").write_text(json.dumps({"model": ModelConfig().to_dict(),
                                                    "train": TrainConfig(iterations=60).to_dict()}))
    (failed / "status.json").write_text(json.dumps({"status": "failed", "updated": 1.0, "reason": "no data"}))
    app = app_on("pages/train.py")
    assert not app.exception, app.exception
    table = app.dataframe[0]
    assert table.proto.placeholder == "—"
    assert list(table.proto.column_order) == ["name", "status", "accuracy", "duration_s", "hardware"]
    config = json.loads(table.proto.columns)
    assert sum(config[name]["width"] for name in table.proto.column_order) <= 530  # 1024 px leaves ~560
    assert table.value.loc[0, "name"] == "custom CNN · MNIST · failed · 29 Nov 16:01"
