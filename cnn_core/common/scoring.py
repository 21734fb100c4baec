"""Scores from logits, in NumPy: what the worker's Keras model and the served LiteRT model both report.

    softmax(logits)                                 # (n, 10) probabilities, rows sum to 1
    loss, accuracy, predicted = score_logits(logits, labels)
"""
from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log(softmax) in float64, stable for large logits."""
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def score_logits(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Mean softmax cross-entropy, accuracy and the predicted class of each row."""
    labels = np.asarray(labels, np.int64)
    predicted = np.argmax(logits, axis=1)
    losses = -log_softmax(logits)[np.arange(len(labels)), labels]
    return float(losses.mean()), float((predicted == labels).mean()), predicted
