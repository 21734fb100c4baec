"""IDX parsing on files the tests write, broken ones included, and the real data."""
import gzip
import os
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from cnn_core.common import data
from cnn_core.common.data import DataError, load_dataset, read_idx
from tests.conftest import ROOT, needs_data

read_dataset = load_dataset.__wrapped__  # The uncached loader, so each test sees its own files.


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">II", magic, array.shape[0]) + b"".join(struct.pack(">I", d) for d in array.shape[1:])
    return header + array.astype(np.uint8).tobytes()


def write_dataset(folder, train=12, test=5, gz=True, dotted=False, labels_max=9):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, count in (("train", train), ("t10k", test)):
        for kind, magic, shape in (("images", 2051, (count, 28, 28)), ("labels", 2049, (count,))):
            values = rng.integers(0, 256 if kind == "images" else labels_max + 1, shape)
            name = f"{stem}-{kind}{'.' if dotted else '-'}idx{3 if kind == 'images' else 1}-ubyte"
            raw = idx_bytes(values, magic)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Point every search place at empty temp folders."""
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "search_dirs", lambda name: [tmp_path / "env" / name, tmp_path / "data" / name,
                                                           data.keras_cache_dir()])
    return tmp_path


@pytest.mark.parametrize("gz,dotted", [(True, False), (False, False), (True, True), (False, True)])
def test_reads_both_spellings_gzipped_or_raw(isolated, gz, dotted):
    write_dataset(isolated / "env" / "mnist", gz=gz, dotted=dotted)
    dataset = read_dataset("mnist")
    assert dataset.train_images.shape == (12, 28, 28) and dataset.test_labels.shape == (5,)
    assert dataset.train_images.dtype == np.uint8 and dataset.class_names[3] == "3"


def test_reads_keras_npz(isolated):
    cache = isolated / "keras" / "datasets"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(cache / "mnist.npz", x_train=rng.integers(0, 255, (4, 28, 28), dtype=np.uint8),
             y_train=np.arange(4, dtype=np.uint8), x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.ones(2, np.uint8))
    dataset = read_dataset("mnist")
    assert dataset.source.endswith("mnist.npz") and list(dataset.train_labels) == [0, 1, 2, 3]


def test_reads_fashion_mnist_from_the_keras_cache(isolated):
    write_dataset(isolated / "keras" / "datasets" / "fashion-mnist")
    dataset = read_dataset("fashion-mnist")
    assert dataset.source.endswith("datasets/fashion-mnist") and dataset.class_names[0] == "T-shirt/top"


@pytest.mark.parametrize("damage,message", [
    (lambda raw: raw[:len(raw) - 10], "truncated"),
    (lambda raw: struct.pack(">I", 1234) + raw[4:], "bad magic number 1234"),
    (lambda raw: raw[:8] + struct.pack(">II", 32, 32) + raw[16:], "32x32, expected 28x28"),
    (lambda raw: raw[:5], "truncated header"),
])
def test_broken_image_file_names_file_and_problem(isolated, damage, message):
    folder = write_dataset(isolated / "env" / "mnist", gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message) as caught:
        read_dataset("mnist")
    assert "train-images-idx3-ubyte" in str(caught.value)


def test_corrupt_gzip_is_reported(isolated):
    folder = write_dataset(isolated / "env" / "mnist")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: cannot read"):
        read_dataset("mnist")


def test_count_mismatch_and_label_range(isolated):
    folder = write_dataset(isolated / "env" / "mnist", labels_max=12)
    with pytest.raises(DataError, match="label 1[0-2] out of range"):
        read_dataset("mnist")
    write_dataset(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3), 2049)))
    with pytest.raises(DataError, match="5 test images but 3 labels"):
        read_dataset("mnist")


def test_partial_folder_does_not_fall_through(isolated):
    folder = write_dataset(isolated / "env" / "mnist")
    write_dataset(isolated / "data" / "mnist")  # A complete copy further down the search order.
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="not t10k-images-idx3-ubyte"):
        read_dataset("mnist")


def test_missing_everywhere_lists_places_and_never_downloads_by_itself(isolated):
    with pytest.raises(DataError) as caught:
        read_dataset("mnist")
    text = str(caught.value)
    assert "not on this machine" in text and "needs a download first" in text and str(isolated / "env" / "mnist") in text


def test_offline_the_worker_download_fails_with_the_places_and_what_to_do(isolated, monkeypatch):
    import keras

    from cnn_core.worker.download import ensure_dataset

    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError) as caught:
        ensure_dataset("mnist")
    text = str(caught.value)
    assert "download failed" in text and "no network" in text and str(isolated / "env" / "mnist") in text
    assert "CNN_DATA_DIR" in text


def test_a_downloaded_dataset_is_read_from_keras_cache(isolated, monkeypatch):
    """What Keras' download leaves in its cache is what the next load reads."""
    import keras

    from cnn_core.worker import download as worker_download
    from cnn_core.worker.download import ensure_dataset

    def download():
        write_dataset(data.keras_cache_dir() / "fashion-mnist")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", download)
    monkeypatch.setattr(worker_download, "load_dataset", read_dataset)  # not the process's cached copy
    assert ensure_dataset("fashion-mnist").source == str(data.keras_cache_dir() / "fashion-mnist")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        read_dataset("cifar")


def test_read_idx_rejects_wrong_kind(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(3), 2049))
    with pytest.raises(DataError, match="expected 2051"):
        read_idx(path, 2051)


@needs_data
def test_real_mnist_and_fashion():
    mnist = load_dataset("mnist")
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_images.shape == (10000, 28, 28)
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert load_dataset("mnist") is mnist  # Loaded once per process.
    fashion = load_dataset("fashion-mnist")
    assert np.bincount(fashion.train_labels).tolist() == [6000] * 10
    assert fashion.class_names[9] == "Ankle boot"


def test_home_says_plainly_when_a_dataset_cannot_be_had(isolated, monkeypatch):
    monkeypatch.setattr(data, "download_reachable", lambda: False)
    found = data.available()
    assert found["mnist"].startswith("CNN_DATA_DIR is set to") and "does not exist" in found["mnist"]
    assert "Cannot be had: not on disk, and no internet to download it" in found["mnist"]
    assert "$CNN_DATA_DIR/mnist/" in found["mnist"] and "$CNN_DATA_DIR/fashion-mnist/" in found["fashion-mnist"]
    write_dataset(isolated / "env" / "mnist")
    assert data.available()["mnist"] == f"on disk: {isolated / 'env' / 'mnist'}"
    monkeypatch.setattr(data, "download_reachable", lambda: True)
    assert "Keras will download it (30 MB) when first needed" in data.available()["fashion-mnist"]


def test_tests_skip_with_the_reason_when_the_data_cannot_be_had(isolated, monkeypatch):
    from tests.conftest import data_missing_reason

    monkeypatch.setattr(data, "download_reachable", lambda: False)
    assert data_missing_reason("mnist").startswith("mnist: CNN_DATA_DIR is set to")
    write_dataset(isolated / "env" / "mnist")
    assert data_missing_reason("mnist") is None


def test_the_reachability_probe_is_bounded_and_cached(monkeypatch):
    """A resolver that hangs (some offline networks) costs the probe's timeout, not the hang."""
    monkeypatch.setattr(data, "_reachable_cache", {})
    released = threading.Event()

    def hanging_connection(*args, **kwargs):
        released.wait(30)  # answers "connected", but only long after the probe gave up
        return open(os.devnull)

    monkeypatch.setattr(data.socket, "create_connection", hanging_connection)
    try:
        assert data.download_reachable(timeout=0.2) is False  # unbounded, it would wait and say True
    finally:
        released.set()
    monkeypatch.undo()
    monkeypatch.setattr(data, "_reachable_cache", {})
    monkeypatch.setattr(data, "DOWNLOAD_HOST", ("127.0.0.1", 9))
    assert data.download_reachable() is False and data._reachable_cache["host"][1] is False


@pytest.mark.slow
def test_python_m_cnn_core_data_says_when_cnn_data_dir_does_not_exist(tmp_path):
    env = {**os.environ, "CNN_DATA_DIR": str(tmp_path / "no-such-folder"), "KERAS_HOME": str(tmp_path / "keras"),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cnn_core.common.data"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert f"CNN_DATA_DIR is set to {tmp_path / 'no-such-folder'}, which does not exist" in done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["mnist", "fashion-mnist"]
    offline = not data.download_reachable()
    assert done.returncode == (1 if offline else 0), done
    if offline:
        assert all("Cannot be had" in line for line in lines), lines
