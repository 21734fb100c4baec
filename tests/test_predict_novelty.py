"""Predict says when a drawing does not look like a digit (the shipped model's calibration)."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnn_core.server.catalogue import DEFAULT_FOLDER
from tests.conftest import needs_data

pytestmark = [needs_data, pytest.mark.skipif(not (DEFAULT_FOLDER / "novelty.json").is_file(),
                                             reason="the shipped model has no novelty calibration")]


def png(draw) -> bytes:
    image = Image.new("L", (280, 280), 0)
    draw(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_filled_blob_is_flagged_and_a_drawn_one_is_not(runs_dir):
    from cnn_core.common.data import load_dataset
    from cnn_core.common.preprocess import read_upload
    from cnn_core.server.catalogue import shipped_choices
    from cnn_core.server.serving import ServedModel
    from pages.shared import digit_verdict

    choice = shipped_choices()[0]
    served, dataset = ServedModel(choice.folder), load_dataset("mnist")

    blob = read_upload(png(lambda d: d.ellipse((40, 40, 240, 240), fill=255))).digit
    one = read_upload(png(lambda d: d.line([(140, 30), (140, 250)], fill=255, width=26))).digit
    assert not digit_verdict(choice, served, blob, dataset).looks_like_digit
    assert digit_verdict(choice, served, one, dataset).looks_like_digit
    assert digit_verdict(choice, served, dataset.test_images[0] / 255.0, dataset).looks_like_digit


def test_the_predict_page_warns_beside_the_answer_for_a_blob_and_not_for_a_digit(monkeypatch, tmp_path):
    from cnn_core.common.data import load_dataset
    from cnn_core.common.runs import RunStore
    from tests.test_predict_page import canvas_rgba, draw, open_predict

    app = open_predict(monkeypatch, RunStore(tmp_path / "runs"), "default")
    digit = load_dataset("mnist").test_images[0]
    draw(app, canvas_rgba(digit))
    assert not app.exception and not [w for w in app.warning if "doesn't look like a digit" in w.value]
    assert any("looks like a digit to this model" in c.value for c in app.caption)
    blob = np.zeros((28, 28), np.uint8)
    blob[4:24, 4:24] = 255  # a filled square: nothing like a digit
    draw(app, canvas_rgba(blob))
    assert any("doesn't look like a digit" in w.value for w in app.warning)
