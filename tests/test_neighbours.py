"""Nearest training digits: one matrix product agrees with a plain loop; a digit is its own nearest."""
import numpy as np
import pytest

from cnn_core.experiments import neighbours
from tests.support import as_floats


def small_index(seed=0, count=50, width=7):
    vectors = np.random.default_rng(seed).random((count, width))
    images = np.zeros((count, 28, 28), np.float32)
    index = neighbours.build_index(lambda _: vectors, images, np.arange(count) % 10, count)
    return vectors, index


def test_nearest_agrees_with_a_loop_over_cosines():
    vectors, index = small_index()
    query = np.random.default_rng(1).random(7)
    cosines = [float(query @ row / np.linalg.norm(query) / np.linalg.norm(row)) for row in vectors]
    expected = sorted(range(len(cosines)), key=lambda i: -cosines[i])[:8]
    found = neighbours.nearest(index, query, 8)
    assert found.indices.tolist() == expected
    assert np.allclose(found.similarities, [cosines[i] for i in expected], atol=2e-3)  # float16 storage
    assert index.embeddings.dtype == np.float16 and np.allclose(np.linalg.norm(index.embeddings.astype(float), axis=1), 1, atol=1e-3)


def test_save_and_load_round_trip_and_bad_files(tmp_path):
    _, index = small_index()
    neighbours.save_index(tmp_path / "neighbours.npz", index)
    loaded = neighbours.load_index(tmp_path / "neighbours.npz")
    assert np.array_equal(loaded.embeddings, index.embeddings) and np.array_equal(loaded.labels, index.labels)
    np.savez(tmp_path / "bad.npz", embeddings=index.embeddings)
    with pytest.raises(ValueError, match="bad.npz lacks indices, labels"):
        neighbours.load_index(tmp_path / "bad.npz")


def test_a_training_digit_finds_itself_first(shipped, mnist):
    index = neighbours.build_index(shipped.embeddings, mnist.train_images, mnist.train_labels, 2000)
    query = shipped.embeddings(as_floats(mnist.train_images[123:124]))[0]
    found = neighbours.nearest(index, query, 8)
    assert found.indices[0] == 123 and found.similarities[0] == pytest.approx(1.0, abs=1e-3)
    assert np.mean(found.labels == mnist.train_labels[123]) >= 0.75
