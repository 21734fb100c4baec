"""Switching filters off: checked against zeroing the filter's weights in Keras, and chance when all are off.

The shipped model is served through LiteRT, as the server serves it."""
import numpy as np
import pytest

from cnn_core.experiments import ablation
from tests.support import as_floats


def test_masks_with_off_sets_only_the_listed_filters():
    masks = ablation.masks_with_off({1: 4, 2: 3}, {1: [0, 2]})
    assert masks[1].tolist() == [0, 1, 0, 1] and masks[2].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="filters 0 to 2"):
        ablation.masks_with_off({1: 4, 2: 3}, {2: [3]})


def test_every_conv1_filter_off_leaves_chance(shipped, mnist):
    images, labels = as_floats(mnist.test_images[:2000]), mnist.test_labels[:2000]
    masks = ablation.masks_with_off(shipped.channels, {1: range(32)})
    predicted = shipped.probabilities(images, masks=masks).argmax(axis=1)
    assert len(set(predicted)) == 1  # the network sees a constant and gives one answer
    value = ablation.accuracy_with_masks(shipped.probabilities, images, labels, masks)
    assert value == pytest.approx(np.mean(labels == predicted[0])) and 0.05 < value < 0.15


def test_a_mask_equals_zeroing_that_filter_in_keras(shipped, shipped_folder, mnist):
    from cnn_core.worker.saving import load_model_file

    images = as_floats(mnist.test_images[:200])
    model = load_model_file(shipped_folder.folder / "model.keras")
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[..., 5], bias[5] = 0.0, 0.0  # ReLU(0) = 0: the same as masking its output
    model.get_layer("conv2").set_weights([kernel, bias])
    expected = np.asarray(model(images[..., None]))
    masks = ablation.masks_with_off(shipped.channels, {2: [5]})
    logits = np.log(shipped.probabilities(images, masks=masks))
    assert np.allclose(logits - logits.mean(1, keepdims=True), expected - expected.mean(1, keepdims=True), atol=1e-3)


def test_ranking_puts_the_filter_that_matters_first():
    labels = np.zeros(10, int)

    def fake(images, masks=None):  # right only while conv1 filter 1 is on
        on = masks is None or masks[1][1] == 1
        return np.tile(np.eye(3)[0 if on else 2], (len(images), 1))

    ranking = ablation.rank_filters(fake, np.zeros((10, 28, 28)), labels, {1: 3})
    assert ranking["base_accuracy"] == 1.0 and ranking["images"] == 10
    assert ranking["filters"][0] == {"block": 1, "filter": 1, "accuracy": 0.0, "drop": 1.0}
    assert [row["drop"] for row in ranking["filters"][1:]] == [0.0, 0.0]
