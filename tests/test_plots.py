"""Figures, the run table and the Train form's parsing: pure functions, checked on small inputs."""
import numpy as np
import plotly.graph_objects as go
import pytest

from cnn_core.model import ModelConfig, matched_mlp
from cnn_core.plots import (accuracy_figure, confusion_figure, confusion_matrix, loss_figure,
                            misclassified_figure, overlay_figure, thin)
from cnn_core.run_table import run_table
from cnn_core.train_form import field_of, form_defaults, parse_form
from cnn_core.training import PRESETS, ProgressRecord, TrainConfig


def history(steps=1000, every=250):
    """Dicts as RunStore.read_history returns them: test fields only at measurements."""
    return [{"step": step, "train_loss": 2.3 / step ** 0.3,
             "test_loss": 2.0 / step ** 0.3 if step == 1 or step % every == 0 else None,
             "test_accuracy": 1 - 1 / step ** 0.3 if step == 1 or step % every == 0 else None}
            for step in range(1, steps + 1)]


def test_loss_figure_has_thinned_train_and_every_test_point_from_zero():
    figure = loss_figure(history())
    train, test = figure.data
    assert len(train.x) <= 400 and train.x[0] == 1 and train.x[-1] == 1000
    assert list(test.x) == [1, 250, 500, 750, 1000]
    assert figure.layout.yaxis.range[0] == 0 and figure.layout.yaxis.range[1] >= 2.3


def test_figures_accept_live_progress_records_and_empty_histories():
    record = ProgressRecord(step=5, epoch=0.1, train_loss=1.0, test_loss=0.9, test_accuracy=0.7,
                            learning_rate=1e-3, images_per_second=100.0, elapsed=1.0, eta=2.0)
    assert list(loss_figure([record]).data[1].y) == [0.9]
    assert list(accuracy_figure([record]).data[0].y) == [0.7]
    assert isinstance(loss_figure([]), go.Figure) and len(loss_figure([]).data[0].x) == 0


def test_thin_keeps_the_ends_and_the_order():
    rows = [{"step": i} for i in range(5000)]
    kept = [row["step"] for row in thin(rows, 100)]
    assert len(kept) == 100 and kept[0] == 0 and kept[-1] == 4999 and kept == sorted(kept)


def test_overlay_has_a_test_and_a_train_line_per_run():
    figure = overlay_figure({"a": history(), "b": history(500)})
    assert [trace.name for trace in figure.data] == ["a test", "a train", "b test", "b train"]
    assert figure.data[0].line.color == figure.data[1].line.color != figure.data[2].line.color


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels, predicted = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0])
    matrix = confusion_matrix(labels, predicted, classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert matrix.sum() == 6 and np.trace(matrix) == 4
    figure = confusion_figure(matrix, ("zero", "one", "two"))
    assert figure.data[0].text.tolist() == matrix.tolist()
    with pytest.raises(ValueError, match="as many predictions"):
        confusion_matrix(labels, predicted[:3])


def test_misclassified_grid_shows_only_the_mistakes_with_their_titles():
    images = np.stack([np.full((28, 28), i, np.uint8) for i in range(12)])
    labels, predicted = np.arange(12) % 10, np.arange(12) % 10
    predicted[[3, 7]] = [5, 1]
    figure = misclassified_figure(images, labels, predicted, tuple(str(d) for d in range(10)))
    assert [a.text for a in figure.layout.annotations] == ["<b>5</b> / 3", "<b>1</b> / 7"]
    tiles = set(np.unique(figure.data[0].z[~np.isnan(figure.data[0].z)]))
    assert tiles == {3, 7}  # The pixels of images 3 and 7, nothing else.


def test_run_table_summarises_each_run(run_store):
    good = run_store.create({"model": ModelConfig().to_dict(), "train": TrainConfig(iterations=1400, batch_size=128).to_dict()})
    run_store.write_metrics(good, {"test_accuracy": 0.99, "seconds": 61.5, "images_per_second": 1234.0,
                                   "device": "/CPU:0"})
    broken = run_store.create({"model": {"kernel_size": -3}, "train": {}})
    runs, _ = run_store.list_runs()
    table = run_table(runs).set_index("run")
    assert table.loc[good, "model"].startswith("CNN conv3x3 32-64") and "1,400 steps x 128" in table.loc[good, "training"]
    assert table.loc[good, "accuracy"] == 0.99 and table.loc[good, "device"] == "/CPU:0"
    assert table.loc[broken, "model"] == "unreadable model config" and np.isnan(table.loc[broken, "accuracy"])
    assert list(run_table([]).columns)[:3] == ["run", "status", "accuracy"]
    assert run_table(runs, live_status={broken: "running"}).set_index("run").loc[broken, "status"] == "running"


def test_form_defaults_parse_back_to_the_presets():
    for name, preset in PRESETS.items():
        model, train, errors = parse_form(form_defaults(name))
        assert errors == {} and train == preset and model == ModelConfig()


def test_form_errors_land_on_the_field_they_are_about():
    values = {**form_defaults(), "iterations": -1, "learning_rate": "fast", "conv_channels": "8, 8, 8", "pool_size": 4}
    model, train, errors = parse_form(values)
    assert model is None and train is None
    assert set(errors) == {"iterations", "pool_size"} or set(errors) == {"learning_rate", "pool_size"}
    assert "shrink the 28x28 image" in errors["pool_size"]
    assert "device" in parse_form({**form_defaults(), "device": "gpu"}, gpu_count=0)[2]
    assert field_of("train_images (10) must be at least batch_size (50)") == "train_images"
    assert field_of("channels must be an integer from 1 to 256, got 0") == "conv_channels"


def test_the_mlp_choice_builds_the_matched_fully_connected_net():
    model, _, errors = parse_form({**form_defaults(), "network": "mlp"})
    assert errors == {} and model == matched_mlp(ModelConfig())
    _, _, errors = parse_form({**form_defaults(), "network": "mlp", "conv_channels": "256, 256", "pool_size": 1})
    assert "no fully connected net matches" in errors["network"]
