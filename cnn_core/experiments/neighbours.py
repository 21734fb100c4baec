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
from pathlib import Path

import numpy as np

INDEX_IMAGES = 10_000
NEIGHBOURS_FILE = "neighbours.npz"


@dataclass(frozen=True)
class NeighbourIndex:
    """Training digits' embeddings, ready for cosine search."""

    embeddings: np.ndarray  # (n, hidden) float16, each row of length 1 (or 0 for an all-zero embedding)
    labels: np.ndarray      # (n,) uint8
    indices: np.ndarray     # (n,) int32: positions in the training set


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


def load_index(path: Path) -> NeighbourIndex:
    """Read ``neighbours.npz``; ValueError if an array is missing or the shapes disagree."""
    with np.load(path, allow_pickle=False) as archive:
        missing = {"embeddings", "labels", "indices"} - set(archive.files)
        if missing:
            raise ValueError(f"{path}: expected arrays embeddings, labels, indices; missing {sorted(missing)}")
        index = NeighbourIndex(archive["embeddings"], archive["labels"], archive["indices"])
    if not len(index.embeddings) == len(index.labels) == len(index.indices):
        raise ValueError(f"{path}: embeddings, labels and indices have different lengths")
    return index


def similarities(index: NeighbourIndex, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of the query embedding(s) to every indexed digit: (n,) or (queries, n)."""
    return normalise(query) @ index.embeddings.astype(np.float32).T


def nearest(index: NeighbourIndex, query: np.ndarray, count: int = 8) -> Neighbours:
    """The ``count`` indexed digits most similar to one query embedding, nearest first."""
    scores = similarities(index, np.asarray(query).reshape(-1))
    count = min(count, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    top = top[np.argsort(-scores[top], kind="stable")]
    return Neighbours(index.indices[top], index.labels[top], scores[top])
