"""Robustness: shift and rotation accuracy curves and the invariance strip."""
import numpy as np
import pytest

from cnn_core.experiments import robustness, transforms
from tests.support import as_floats


def test_shifted_copies_move_each_image_by_exactly_k_pixels():
    image = np.zeros((28, 28), np.float32)
    image[13, 13] = 1.0
    moved = robustness.shifted_copies(np.stack([image] * 8), 4, seed=1)
    for copy in moved:
        row, column = np.argwhere(copy == 1.0)[0]
        assert abs(row - 13) + abs(column - 13) == 4


def test_keys_are_pixels_and_degrees_as_strings():
    images = np.zeros((4, 28, 28), np.float32)
    labels = np.zeros(4, int)
    constant = lambda batch: np.tile(np.eye(10)[0], (len(batch), 1))
    assert robustness.shift_accuracy(constant, images, labels) == {str(k): 1.0 for k in range(7)}
    assert list(robustness.rotation_accuracy(constant, images, labels)) == ["-30", "-20", "-10", "0", "10", "20", "30"]


def test_shipped_cnn_is_accurate_unshifted_and_worse_far_off_centre(shipped, mnist):
    images, labels = as_floats(mnist.test_images[:1000]), mnist.test_labels[:1000]
    curve = robustness.shift_accuracy(shipped.probabilities, images, labels)
    assert curve["0"] == pytest.approx(robustness.accuracy(shipped.probabilities, images, labels))
    assert curve["0"] > 0.97 and curve["6"] < curve["2"] < curve["0"] + 1e-9
    turned = robustness.rotation_accuracy(shipped.probabilities, images, labels)
    assert turned["0"] == curve["0"] and turned["30"] < turned["10"]


def test_invariance_strip_has_the_original_first_and_a_dozen_variants(shipped, mnist):
    image = as_floats(mnist.test_images[0])
    strip = robustness.invariance_strip(image)
    assert 12 <= len(strip) <= 14 and np.array_equal(strip[0].image, image)
    assert np.array_equal(strip[1].image, transforms.shift(image, 0, 3))
    answers = robustness.strip_answers(shipped.probabilities, strip)
    assert answers[0].label == shipped.predict(image).label
    assert answers[0].original_probability == pytest.approx(answers[0].confidence)
    assert all(0 <= answer.confidence <= 1 for answer in answers)
