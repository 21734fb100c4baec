"""MNIST and Fashion-MNIST as uint8 arrays, found on disk (``cnn_core.worker.download`` fetches them).

Where data is looked for, in order (the first place that has the dataset wins):

1. ``$CNN_DATA_DIR/<name>/``
2. ``./data/<name>/``
3. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` installs there)
4. Keras' cache, ``~/.keras/datasets/`` (``mnist.npz`` or the Fashion-MNIST IDX files)
5. Keras' own download, by a worker process (needs internet)

A place "has" a dataset when any of its files are there. From then on it must be complete and
valid: a broken file raises ``DataError`` naming the file and the problem; it never falls through
silently to the next source. Datasets are loaded once per process.

Run ``python -m cnn_core.common.data`` to print what is found, and plainly which datasets cannot be had
(not on disk and no internet); ``available()`` gives the same sentences to the Home page.
"""
from __future__ import annotations

import functools
import gzip
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATASETS = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
FILE_STEMS = {
    ("train", "images"): "train-images", ("train", "labels"): "train-labels",
    ("test", "images"): "t10k-images", ("test", "labels"): "t10k-labels",
}


class DataError(RuntimeError):
    """A dataset is missing or broken; the message says which file, what is wrong, where we looked."""


@dataclass(frozen=True)
class Dataset:
    """One dataset held in memory as uint8: images (n, 28, 28), labels (n,)."""

    name: str
    train_images: np.ndarray = field(repr=False)  # (60000, 28, 28) uint8
    train_labels: np.ndarray = field(repr=False)  # (60000,) uint8
    test_images: np.ndarray = field(repr=False)   # (10000, 28, 28) uint8
    test_labels: np.ndarray = field(repr=False)   # (10000,) uint8
    class_names: tuple[str, ...]
    source: str  # the folder or file the arrays came from


def search_dirs(name: str) -> list[Path]:
    """The folders looked in for dataset ``name``, in order."""
    dirs = []
    if os.environ.get("CNN_DATA_DIR"):
        dirs.append(Path(os.environ["CNN_DATA_DIR"]).expanduser() / name)
    dirs += [Path("data") / name, Path("/usr/share/datasets") / name, keras_cache_dir()]
    return dirs


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def idx_candidates(folder: Path, split: str, kind: str) -> list[Path]:
    """The file names one IDX file may have: both spellings, gzipped or raw."""
    stem = FILE_STEMS[(split, kind)]
    suffix = "idx3-ubyte" if kind == "images" else "idx1-ubyte"
    names = [f"{stem}-{suffix}", f"{stem}.{suffix}"]
    return [folder / (n + ext) for n in names for ext in (".gz", "")]


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file (gzipped or raw) into a uint8 array, checking its header and length."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    if len(raw) < 8:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes)")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != expected_magic:
        raise DataError(f"{path}: bad magic number {magic}, expected {expected_magic}")
    dims = [count]
    if expected_magic == IMAGE_MAGIC:
        if len(raw) < 16:
            raise DataError(f"{path}: truncated header ({len(raw)} bytes)")
        dims += list(struct.unpack(">II", raw[8:16]))
        if dims[1:] != [28, 28]:
            raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    offset = 8 + 4 * (len(dims) - 1)
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DataError(f"{path}: {len(raw) - offset} data bytes, expected {expected} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def find_idx(folder: Path, split: str, kind: str) -> Path | None:
    """The first existing IDX file for one split and kind in ``folder``."""
    return next((p for p in idx_candidates(folder, split, kind) if p.is_file()), None)


def folder_has_idx(folder: Path) -> bool:
    """Whether any IDX file of a dataset is in ``folder``."""
    return any(find_idx(folder, split, kind) for split, kind in FILE_STEMS)


def load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """Read the four IDX files of a folder; all four must be there."""
    arrays = {}
    for split, kind in FILE_STEMS:
        path = find_idx(folder, split, kind)
        if path is None:
            wanted = idx_candidates(folder, split, kind)[0].name
            raise DataError(f"{folder}: has some dataset files but not {wanted} (or .gz / raw)")
        arrays[f"{split}_{kind}"] = read_idx(path, IMAGE_MAGIC if kind == "images" else LABEL_MAGIC)
    return arrays


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read Keras' ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = {"x_train": "train_images", "y_train": "train_labels",
                    "x_test": "test_images", "y_test": "test_labels"}
            return {ours: np.asarray(archive[theirs], dtype=np.uint8) for theirs, ours in keys.items()}
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path}: not a valid mnist.npz ({error})") from None


def validate(arrays: dict[str, np.ndarray], source: str) -> None:
    """Check image/label counts agree, shapes are 28x28, labels are 0-9."""
    for split in SPLIT_SIZES:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{source}: {split} images have shape {images.shape}, expected (n, 28, 28)")
        if len(images) != len(labels):
            raise DataError(f"{source}: {len(images)} {split} images but {len(labels)} labels")
        if len(labels) and labels.max() > 9:
            raise DataError(f"{source}: {split} label {int(labels.max())} out of range 0-9")


def locate(name: str) -> tuple[str, Path | None]:
    """Where dataset ``name`` would be read from: ("idx", folder), ("npz", file) or ("download", None)."""
    for folder in search_dirs(name):
        if folder == keras_cache_dir():
            if name == "mnist" and (folder / "mnist.npz").is_file():
                return "npz", folder / "mnist.npz"
            # Keras caches Fashion-MNIST as IDX files in datasets/fashion-mnist/.
            folder = folder / name
        if folder.is_dir() and folder_has_idx(folder):
            return "idx", folder
    return "download", None


@functools.lru_cache(maxsize=None)
def load_dataset(name: str = "mnist") -> Dataset:
    """Load a dataset from disk once per process; DataError with where we looked if it is not there.

    Never downloads: Keras' download imports TensorFlow, which the web server never does. A worker
    process downloads instead (``cnn_core.worker.download``, asked by ``cnn_core.server.fetch``).
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    kind, path = locate(name)
    if kind == "idx":
        arrays = load_idx_folder(path)
    elif kind == "npz":
        arrays = load_npz(path)
    else:
        raise DataError(f"{name} is not on this machine (looked in: {looked_in(name)}); it needs a download first")
    validate(arrays, str(path))
    return Dataset(name=name, class_names=DATASETS[name], source=str(path), **arrays)


def looked_in(name: str) -> str:
    return ", ".join(str(folder) for folder in search_dirs(name))


DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where keras.datasets fetches MNIST and Fashion-MNIST
DOWNLOAD_MB = {"mnist": 11, "fashion-mnist": 30}
REACHABLE_TTL = 300.0  # seconds a reachability answer is trusted (Home asks on every visit)
_reachable_cache: dict[str, tuple[float, bool]] = {}


def download_reachable(timeout: float = 2.0) -> bool:
    """Whether Keras' download server answers, asked at most every few minutes.

    Asked in a thread so that a resolver that hangs (some offline networks) costs ``timeout`` at
    most, not the system's DNS timeout.
    """
    cached = _reachable_cache.get("host")
    if cached and time.monotonic() - cached[0] < REACHABLE_TTL:
        return cached[1]
    answer = []

    def probe():
        try:
            socket.create_connection(DOWNLOAD_HOST, timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    reachable = bool(answer and answer[0])
    _reachable_cache["host"] = (time.monotonic(), reachable)
    return reachable


def missing_data_dir() -> str | None:
    """A sentence when $CNN_DATA_DIR is set to a folder that does not exist, else None."""
    value = os.environ.get("CNN_DATA_DIR")
    if value and not Path(value).expanduser().is_dir():
        return f"CNN_DATA_DIR is set to {value}, which does not exist"
    return None


def how_to_get(name: str) -> str:
    """What a person can do to make dataset ``name`` available offline."""
    return f"put its four IDX files in $CNN_DATA_DIR/{name}/ (see the README)"


def obtainable(name: str) -> tuple[bool, str]:
    """(whether dataset ``name`` can be had now, a plain sentence saying where from or why not)."""
    kind, path = locate(name)
    if path is not None:
        return True, f"on disk: {path}"
    unset = missing_data_dir()
    prefix = f"{unset}. " if unset else ""
    if download_reachable():
        return True, f"{prefix}Not on disk yet: Keras will download it ({DOWNLOAD_MB[name]} MB) when first needed"
    return False, f"{prefix}Cannot be had: not on disk, and no internet to download it. To use it, {how_to_get(name)}"


def available() -> dict[str, str]:
    """For each dataset, where it would load from, or plainly why it cannot be had (without loading it)."""
    return {name: obtainable(name)[1] for name in DATASETS}


def main() -> int:
    """``python -m cnn_core.common.data``: one line per dataset; exit status 1 when one cannot be had."""
    unset = missing_data_dir()
    if unset:
        print(f"warning: {unset}; looking in the other places instead", file=sys.stderr)
    status = 0
    for name in DATASETS:
        ok, where = obtainable(name)
        print(f"{name}: {where}")
        status |= not ok
    return status


if __name__ == "__main__":
    sys.exit(main())
