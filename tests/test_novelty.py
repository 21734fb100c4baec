"""'Looks like a digit': the generator, the signals, and the calibrated rates the issue asks for."""
import numpy as np
import pytest

from cnn_core.experiments import neighbours, novelty
from tests.support import as_floats


def test_generated_drawings_are_preprocessed_like_canvas_digits_and_repeatable():
    first, again = novelty.non_digit_drawings(5, seed=4), novelty.non_digit_drawings(5, seed=4)
    assert set(first) == {"letter", "strokes", "blob"}
    for kind, images in first.items():
        assert images.shape == (5, 28, 28) and images.dtype == np.float32
        assert np.isclose(images.max(axis=(1, 2)), 1.0).all() and images.min() >= 0
        assert np.array_equal(images, again[kind])


def test_solid_fraction_tells_a_blob_from_a_stroke():
    blob, stroke = np.zeros((28, 28), np.float32), np.zeros((28, 28), np.float32)
    blob[6:22, 6:22], stroke[4:24, 13:15] = 1.0, 1.0
    assert novelty.solid_fractions(np.stack([blob, stroke])).tolist() == [pytest.approx(14 * 14 / 256), 0.0]


def test_pixel_distance_is_zero_for_a_reference_digit_repeated():
    images = np.random.default_rng(0).random((novelty.PIXEL_NEIGHBOURS, 28, 28)).astype(np.float32)
    images[:] = images[0]
    index = neighbours.build_index(lambda x: np.ones((len(x), 3)), images, np.zeros(len(images)), len(images))
    reference = novelty.NoveltyReference.from_index(index, images)
    assert novelty.pixel_distances(reference, images[:1])[0] == pytest.approx(0.0, abs=1e-3)


def test_fit_weights_separates_separable_signals():
    rng = np.random.default_rng(0)
    digits, others = rng.normal(0, 1, (200, 4)), rng.normal(4, 1, (60, 4))
    calibration = {**novelty.fit_weights(digits, others), "threshold": 0.0}
    assert np.mean(novelty.scores(digits, calibration) > 0) > 0.95
    assert np.mean(novelty.scores(others, calibration) < 0) > 0.95


@pytest.mark.slow
def test_calibrated_signal_meets_the_bars_on_unseen_data(shipped, mnist):
    """At most 2% of real test digits flagged, at least 80% of generated non-digits (a seed never fitted on)."""
    index = neighbours.build_index(shipped.embeddings, mnist.train_images, mnist.train_labels)
    reference = novelty.NoveltyReference.from_index(index, mnist.train_images)
    calibration = novelty.calibrate(shipped.embeddings, reference, mnist.test_images,
                                    measure_drawings=novelty.non_digit_drawings(150, seed=7))
    assert calibration["digit_flag_rate"] <= 0.02
    assert calibration["non_digit_flag_rate"] >= 0.80
    digit = as_floats(mnist.test_images[1:2])
    verdict = novelty.judge(shipped.embeddings(digit), digit, reference, calibration)[0]
    assert verdict.looks_like_digit and set(verdict.signals) == set(novelty.SIGNALS)


def test_predict_command_says_whether_it_looks_like_a_digit(tmp_path, mnist):
    """``predict --json`` adds looks_like_digit from the shipped model's novelty files."""
    import json
    import subprocess
    import sys

    from PIL import Image

    from tests.conftest import ROOT

    if not (ROOT / "models" / "seed-mnist" / novelty.NOVELTY_FILE).is_file():
        pytest.skip("the shipped model has no novelty.json")
    Image.fromarray(mnist.test_images[0]).resize((280, 280)).save(tmp_path / "digit.png")
    blob = np.asarray(novelty.draw_blob(np.random.default_rng(5)))
    Image.fromarray(blob).save(tmp_path / "blob.png")
    verdicts = []
    for name in ("digit.png", "blob.png"):
        done = subprocess.run([sys.executable, "-m", "cnn_core", "predict", str(tmp_path / name), "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        verdicts.append(json.loads(done.stdout.strip().splitlines()[-1])["looks_like_digit"])
    assert verdicts == [True, False]


def test_the_familiarity_score_is_explained_in_words():
    from cnn_core.experiments.novelty import Verdict, describe

    words = describe(Verdict(True, 7.52, -2.38, {}), digit_flag_rate=0.0144)
    assert "Familiarity 7.52" in words and "1,845 to 1 for it being a digit" in words
    assert "-2.38" in words and "98.6% of real test digits score above it" in words
    against = describe(Verdict(False, -4.0, -2.38, {}))
    assert "54.6 to 1 against" in against
