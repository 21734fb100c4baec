"""cnn_core.experiments.transforms against exact moves, NumPy's rot90 and Pillow's rotate."""
import numpy as np
import pytest
from PIL import Image

from cnn_core.experiments import transforms


def random_images(count=3, seed=0):
    return np.random.default_rng(seed).random((count, 28, 28)).astype(np.float32)


def test_shift_moves_every_pixel_and_fills_with_blank():
    image = random_images(1)[0]
    moved = transforms.shift(image, rows=2, columns=-3)
    assert np.array_equal(moved[2:, :-3], image[:-2, 3:])
    assert not moved[:2].any() and not moved[:, -3:].any()
    assert not transforms.shift(image, 0, 28).any()


def test_quarter_turns_match_numpy_rot90_and_zero_is_identity():
    images = random_images()
    assert np.allclose(transforms.rotate(images, 0), images, atol=1e-6)
    assert np.allclose(transforms.rotate(images, 90), np.rot90(images, 1, axes=(1, 2)), atol=1e-5)
    assert np.allclose(transforms.rotate(images, -90), np.rot90(images, -1, axes=(1, 2)), atol=1e-5)


def test_rotation_matches_pillow_inside_the_frame():
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0  # a bar well inside, so the corners (where the two differ) stay blank
    ours = transforms.rotate(image, 20)
    theirs = np.asarray(Image.fromarray(image, mode="F").rotate(20, resample=Image.Resampling.BILINEAR))
    assert np.abs(ours - theirs).max() < 0.05


def test_scale_one_is_identity_and_shrinking_keeps_ink_inside():
    images = random_images()
    assert np.allclose(transforms.scale(images, 1.0), images, atol=1e-6)
    small = transforms.scale(np.ones((28, 28), np.float32), 0.5)
    assert small[14, 14] == pytest.approx(1.0) and small[0, 0] == 0.0


def test_thicken_and_thin_bound_the_original():
    image = np.zeros((28, 28), np.float32)
    image[10:18, 13:15] = 1.0
    thick, thin = transforms.thicken(image, 1), transforms.thicken(image, -1)
    assert (thick >= image).all() and (thin <= image).all()
    assert thick.sum() > image.sum() > thin.sum()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="28x28"):
        transforms.rotate(np.zeros((32, 32)), 10)
