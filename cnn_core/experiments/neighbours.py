"""What the model has seen: the training digits nearest to a digit, in the model's own terms.

"Near" is measured on the penultimate layer's activations (the dense ReLU layer before the
logits), by cosine similarity: two digits are near when the network describes them alike, not when
their pixels match. The worker embeds the first ``INDEX_IMAGES`` training digits once per saved
model and stores them L2-normalised as float16 in ``neighbours.npz``; a query is one matrix product.

    index = build_index(served.embeddings, train_images, train_labels)   # worker
    save_index(folder / NEIGHBOURS_FILE, index)
    nearest(load_index(path), served.embeddings(image28[None])[0], count=8)   # server
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from cnn_core.common.arrays import ModelFileError, Spec, read_npz
from cnn_core.common.runs import RunError

INDEX_IMAGES = 10_000
NEIGHBOURS_FILE = "neighbours.npz"
MAX_INDEX_BYTES = 32 * 2**20  # 10,000 float16 embeddings of the widest dense layer (1,024) are 20 MB


@dataclass(frozen=True)
class NeighbourIndex:
    """Training digits' embeddings, ready for cosine search."""

    embeddings: np.ndarray  # (n, hidden) float16, each row of length 1 (or 0 for an all-zero embedding)
    labels: np.ndarray      # (n,) uint8
    indices: np.ndarray     # (n,) int32: positions in the training set

    @cached_property
    def transposed(self) -> np.ndarray:
        """(hidden, n) float32, made once per index: every query multiplies by it."""
        return np.ascontiguousarray(self.embeddings.astype(np.float32).T)


@dataclass(frozen=True)
class Neighbours:
    """The training digits nearest one query, nearest first."""

    indices: np.ndarray       # (count,) positions in the training set
    labels: np.ndarray        # (count,)
    similarities: np.ndarray  # (count,) cosine similarity, 1 = same direction


def normalise(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32); an all-zero row stays zero."""
    embeddings = np.asarray(embeddings, np.float32)
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return embeddings / np.where(norms > 0, norms, 1.0)


def build_index(embed, train_images: np.ndarray, train_labels: np.ndarray, count: int = INDEX_IMAGES) -> NeighbourIndex:
    """Embed the first ``count`` training images (uint8 or floats in [0, 1]) with ``embed``."""
    images = np.asarray(train_images[:count])
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255
    vectors = normalise(embed(images)).astype(np.float16)
    return NeighbourIndex(vectors, np.asarray(train_labels[:count], np.uint8), np.arange(len(vectors), dtype=np.int32))


def save_index(path: Path, index: NeighbourIndex) -> bytes:
    """The index as .npz bytes (arrays "embeddings", "labels", "indices"); written to ``path`` if given."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, embeddings=index.embeddings, labels=index.labels, indices=index.indices)
    if path is not None:
        Path(path).write_bytes(buffer.getvalue())
    return buffer.getvalue()


def load_index(path: Path, hidden: int | None = None, train_count: int | None = None) -> NeighbourIndex:
    """Read ``neighbours.npz`` for a model whose penultimate layer has ``hidden`` units, over a training
    set of ``train_count`` digits; ValueError (``ModelFileError``) for anything else, found from the
    arrays' headers before their data is read (``cnn_core.common.arrays``)."""
    arrays = read_npz(Path(path), {"embeddings": Spec("f", (None, hidden), longest=INDEX_IMAGES),
                                   "labels": Spec("iu", (None,), longest=INDEX_IMAGES),
                                   "indices": Spec("iu", (None,), longest=INDEX_IMAGES)}, MAX_INDEX_BYTES)
    index = NeighbourIndex(arrays["embeddings"], arrays["labels"], arrays["indices"])
    name = Path(path).name
    if not len(index.embeddings) == len(index.labels) == len(index.indices) or not len(index.labels):
        raise ModelFileError(f"{name}: embeddings, labels and indices have different lengths")
    if index.labels.max() > 9 or (train_count is not None and not 0 <= index.indices.min() <= index.indices.max() < train_count):
        raise ModelFileError(f"{name}: labels or training-digit indices out of range")
    if not np.isfinite(index.embeddings).all():
        raise ModelFileError(f"{name}: embeddings hold NaN or infinity")
    return index


def load_index_or_none(path: Path, hidden: int | None = None, train_count: int | None = None) -> NeighbourIndex | None:
    """``load_index``, None when the file is missing; a link or an oversized file is a ModelFileError."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return load_index(path, hidden, train_count)
    except RunError as error:
        raise ModelFileError(str(error)) from None


def similarities(index: NeighbourIndex, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of the query embedding(s) to every indexed digit: (n,) or (queries, n)."""
    return normalise(query) @ index.transposed


def nearest(index: NeighbourIndex, query: np.ndarray, count: int = 8) -> Neighbours:
    """The ``count`` indexed digits most similar to one query embedding, nearest first."""
    scores = similarities(index, np.asarray(query).reshape(-1))
    count = min(count, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    top = top[np.argsort(-scores[top], kind="stable")]
    return Neighbours(index.indices[top], index.labels[top], scores[top])
