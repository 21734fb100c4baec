"""Figures and the run table: pure functions, checked on small inputs."""
import numpy as np
import plotly.graph_objects as go
import pytest

from cnn_core.common.config import ProgressRecord
from cnn_core.common.kernels import HAND_MADE_KERNELS, convolution_matrix
from cnn_core.plots import filters
from cnn_core.plots.confusion import confusion_figure, confusion_matrix
from cnn_core.plots.runs import accuracy_figure, loss_figure, overlay_figure, thin


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


def test_overlay_has_a_test_and_a_train_line_per_run_named_as_people_remember_it():
    labels = {"run-a": "seed CNN · MNIST · 97.1% · 15:44", "run-b": "fast MLP 420 · MNIST · 97.9% · 16:02"}
    figure = overlay_figure({"run-a": history(), "run-b": history(500)}, labels)
    assert [trace.name for trace in figure.data] == [
        "seed CNN · MNIST · 97.1% · 15:44, test", "seed CNN · MNIST · 97.1% · 15:44, train",
        "fast MLP 420 · MNIST · 97.9% · 16:02, test", "fast MLP 420 · MNIST · 97.9% · 16:02, train"]
    assert figure.data[0].line.color == figure.data[1].line.color != figure.data[2].line.color
    assert figure.layout.yaxis.type == "log"  # late differences between runs stay visible
    # Two runs with the same name still get a line each (the figure is keyed by run id).
    same = overlay_figure({"run-a": history(), "run-b": history()}, {"run-a": "x", "run-b": "x"})
    assert len(same.data) == 4 and same.data[0].legendgroup != same.data[2].legendgroup


def test_the_accuracy_chart_names_its_slice_and_marks_the_full_test_accuracy():
    figure = accuracy_figure(history(), eval_images=500, final_accuracy=0.9672)
    live, final = figure.data
    assert live.name == "live, on a 500-image test slice"
    assert list(final.y) == [0.9672, 0.9672] and list(final.x) == [1, 1000] and final.line.dash == "dash"
    assert final.name == "final, all 10,000 test images: 96.72%"
    live_only = accuracy_figure(history(), eval_images=200)
    assert len(live_only.data) == 1 and live_only.layout.showlegend  # the label shows with one line too
    assert live_only.data[0].name == "live, on a 200-image test slice"


def test_a_single_point_gets_whole_number_iteration_ticks():
    one = [{"step": 250, "train_loss": 0.5, "test_loss": 0.4, "test_accuracy": 0.9}]
    for figure in (loss_figure(one), accuracy_figure(one)):
        axis = figure.layout.xaxis
        assert axis.dtick == 1 and list(axis.range) == [249, 251], axis
    assert loss_figure(history()).layout.xaxis.dtick is None  # long runs keep Plotly's own ticks


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels, predicted = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0])
    matrix = confusion_matrix(labels, predicted, classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert matrix.sum() == 6 and np.trace(matrix) == 4
    figure = confusion_figure(matrix, ("zero", "one", "two"))
    assert figure.data[0].text.tolist() == matrix.tolist()
    with pytest.raises(ValueError, match="as many predictions"):
        confusion_matrix(labels, predicted[:3])


def test_sparsity_figure_is_one_small_png():
    figure = filters.sparsity_figure(convolution_matrix(HAND_MADE_KERNELS["sobel x"], 28, 28))
    source = figure.data[0].source
    assert source.startswith("data:image/png;base64,") and len(source) < 100_000
