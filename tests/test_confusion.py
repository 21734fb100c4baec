"""The confusion drill-down: which digits sit in a cell, the clickable figure, and opening one elsewhere."""
import numpy as np
import pytest

from cnn_core.plots.confusion import cell_indices, clickable_confusion_figure, confusion_matrix, selected_cell
from tests.support import app_on, completed_run
from tests.conftest import needs_data


def test_cell_indices_match_a_plain_loop_and_stop_at_the_limit():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 10, 3000), rng.integers(0, 10, 3000)
    for true_class, predicted_class in ((4, 9), (3, 3), (0, 7)):
        expected = [i for i in range(3000) if labels[i] == true_class and predicted[i] == predicted_class]
        assert cell_indices(labels, predicted, true_class, predicted_class, limit=10_000).tolist() == expected
        assert cell_indices(labels, predicted, true_class, predicted_class).tolist() == expected[:50]
    with pytest.raises(ValueError, match="differ in shape"):
        cell_indices(labels, predicted[:10], 1, 1)


def test_every_cell_has_one_clickable_marker_that_names_it():
    labels = np.array([0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 2, 2, 2, 0])
    matrix = confusion_matrix(labels, predicted, classes=3)
    figure = clickable_confusion_figure(matrix, ("a", "b", "c"))
    markers = figure.data[1]
    assert len(markers.x) == 9
    for (true, guess), x, y, count in zip(markers.customdata, markers.x, markers.y, markers.text):
        assert (x, y) == ("abc"[guess], "abc"[true]) and count == matrix[true, guess]
    assert selected_cell([{"customdata": [2, 0], "x": "a", "y": "c"}]) == (2, 0)
    assert selected_cell([]) is None and selected_cell([{"x": "a"}]) is None
    # The pairs go to the browser as lists: a NumPy array would arrive as a typed array, whose rows
    # reach Streamlit as objects; those are read too.
    assert isinstance(markers.customdata[0], (list, tuple))
    assert "bdata" not in str(figure.to_plotly_json()["data"][1]["customdata"])
    assert selected_cell([{"customdata": {"0": 4, "1": 9}}]) == (4, 9)
    assert selected_cell([{"customdata": {"0": "x"}}]) is None


@needs_data
def test_a_clicked_cell_lists_its_digits_and_opens_one_in_predict_and_in_filters(runs_dir, tiny_models, mnist):
    from cnn_core.common.runs import RunStore

    labels = mnist.test_labels
    predictions = (labels + 1) % 10  # every 4 read as 5
    run_id = completed_run(RunStore(runs_dir), tiny_models.cnn, accuracy=0.1, predictions=predictions)
    app = app_on("pages/train.py", {"run": run_id})
    assert not app.exception
    app.session_state["train_confusion"] = {"selection": {"points": [{"customdata": [4, 5]}], "point_indices": [45],
                                                          "box": [], "lasso": []}}
    app.run()
    fours = np.flatnonzero(labels == 4)[:50].tolist()
    assert any("**4 read as 5**: 50 test images" in m.value for m in app.markdown)
    assert app.selectbox(key="train_cell_pick").options == [f"#{i}" for i in fours]
    app.selectbox(key="train_cell_pick").set_value(fours[3]).run()
    app.button(key="train_open_filters").click().run()
    assert not app.exception
    assert app.number_input(key="filters_index").value == fours[3]
    assert any(f"test image {fours[3]}" in m.value for m in [*app.markdown, *app.caption])
