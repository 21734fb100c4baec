"""Occlusion maps: a patch that changes nothing drops nothing; drops match a direct computation."""
import numpy as np
import pytest

from cnn_core.experiments import occlusion
from tests.support import as_floats


def ink_model(images):
    """A fake model: class 0's probability is the share of ink left in the top-left quarter."""
    quarter = images[:, :14, :14].sum(axis=(1, 2)) / 50.0
    return np.stack([np.clip(quarter, 0, 1), 1 - np.clip(quarter, 0, 1)] + [np.zeros(len(images))] * 8, axis=1)


def test_a_blank_patch_on_blank_paper_drops_nothing():
    image = np.zeros((28, 28), np.float32)
    image[2:8, 2:8] = 1.0
    result = occlusion.occlusion_map(ink_model, image)
    for row, top in enumerate(result.starts):
        for column, left in enumerate(result.starts):
            if not image[top:top + result.patch, left:left + result.patch].any():
                assert result.drops[row, column] == 0.0


def test_drops_match_asking_the_model_directly():
    image = np.zeros((28, 28), np.float32)
    image[2:8, 2:8] = 1.0
    result = occlusion.occlusion_map(ink_model, image, label=0)
    covered = image.copy()
    covered[2:8, 2:8] = 0.0  # the patch starting at (2, 2) covers the whole square
    expected = ink_model(image[None])[0, 0] - ink_model(covered[None])[0, 0]
    assert result.drops[1, 1] == pytest.approx(expected) and result.base_probability == pytest.approx(36 / 50)
    assert result.pixel_map().shape == (28, 28)


def test_grey_patch_changes_blank_paper_and_the_starts_reach_the_edge():
    assert occlusion.patch_starts(6, 2)[-1] == 22
    result = occlusion.occlusion_map(ink_model, np.zeros((28, 28), np.float32), fill=0.5, label=0)
    assert result.drops[0, 0] < 0  # grey ink added in the top-left quarter raises class 0


def test_the_shipped_cnn_depends_on_the_ink(shipped, mnist):
    image = as_floats(mnist.test_images[0])
    result = occlusion.occlusion_map(shipped.probabilities, image)
    pixels = result.pixel_map()
    assert result.label == mnist.test_labels[0]
    assert pixels[image > 0.5].mean() > pixels[image == 0].mean()


def test_the_peak_map_tops_out_at_the_largest_drop_and_covers_each_pixel_by_its_worst_patch():
    image = np.zeros((28, 28), np.float32)
    image[10:18, 12:16] = 1.0
    result = occlusion.occlusion_map(ink_model, image)
    peak, mean = result.pixel_peak(), result.pixel_map()
    assert np.isclose(peak.max(), result.drops.max())
    assert (peak >= mean - 1e-6).all()  # the worst patch over a pixel costs at least the average one
