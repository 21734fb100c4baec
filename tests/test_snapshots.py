"""conv1 snapshots during training (cnn_core.common.snapshots): recorded when asked, saved and read back."""
import numpy as np
import pytest

from cnn_core.common.arrays import ModelFileError
from cnn_core.common.snapshots import MAX_SNAPSHOTS, FilterHistory, conv1_maps, read_filter_history


def conv1(channels: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A conv1 kernel (3, 3, 1, channels) and bias, as a job hands them over."""
    generator = np.random.default_rng(seed)
    return generator.normal(0, 0.1, (3, 3, 1, channels)).astype(np.float32), generator.normal(0, 0.1, channels)


def test_conv1_maps_match_tf_nn():
    import tensorflow as tf

    generator = np.random.default_rng(0)
    image = generator.random((28, 28), dtype=np.float32)
    kernels, biases = generator.normal(size=(3, 3, 4)).astype(np.float32), generator.normal(size=4).astype(np.float32)
    reference = tf.nn.relu(tf.nn.conv2d(image[None, :, :, None], kernels[:, :, None, :], 1, "SAME") + biases)
    np.testing.assert_allclose(conv1_maps(image, kernels, biases), reference.numpy()[0], rtol=1e-5, atol=1e-5)


def test_steps_wanted_are_powers_of_two():
    history = FilterHistory()
    assert [step for step in range(1, 100) if history.wants(step)] == [1, 2, 4, 8, 16, 32, 64]


def test_record_save_and_read_back(run_store):
    kernel, bias = conv1()
    test_images = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    history = FilterHistory(digit_index=2)
    for step in (1, 2, 2, 4):  # A step recorded twice is kept once.
        history.record(step, kernel, bias, test_images)
    run_id = run_store.create({"model": {}, "train": {}})
    history.save(run_store, run_id)

    saved = read_filter_history(run_store.path(run_id) / "filter_history.npz")
    assert saved["steps"].tolist() == [1, 2, 4] and int(saved["digit_index"]) == 2
    assert saved["kernels"].shape == (3, 3, 3, 4) and saved["maps"].shape == (3, 28, 28, 4)
    assert saved["maps"].dtype == np.float16
    np.testing.assert_array_equal(saved["digit"], test_images[2] / np.float32(255))
    np.testing.assert_allclose(saved["maps"][0], conv1_maps(saved["digit"], kernel[:, :, 0, :], bias), rtol=1e-3, atol=1e-3)


def test_nothing_recorded_saves_nothing(run_store):
    history = FilterHistory()  # A job training an MLP records nothing: it has no conv1.
    run_id = run_store.create({})
    history.save(run_store, run_id)
    assert history.steps == [] and not (run_store.path(run_id) / "filter_history.npz").exists()


def test_snapshots_are_capped():
    kernel, bias = conv1(2)
    history = FilterHistory()
    for step in range(1, MAX_SNAPSHOTS + 10):
        history.record(step, kernel, bias, np.zeros((1, 28, 28), np.uint8))
    assert len(history.steps) == MAX_SNAPSHOTS


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04 a broken zip"], ids=["empty", "garbage", "broken-zip"])
def test_an_unreadable_file_is_refused_with_its_reason_and_a_missing_one_reads_as_none(tmp_path, content):
    # The Filters page says the file was ignored, and why, rather than showing an error box.
    path = tmp_path / "filter_history.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="filter_history.npz is not a readable archive"):
        read_filter_history(path)
    assert read_filter_history(tmp_path / "missing.npz") is None
