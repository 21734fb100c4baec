"""Predict, then reveal: a kernel quiz.

The learner sees a digit and a 3x3 kernel and picks which of three pictures the kernel makes of the
digit. One is the true output (``kernels.convolve2d``, as tf.nn.conv2d computes it); the others are
what other kernels of the bank make of the same digit, chosen to look clearly different. The bank
is the hand-made kernels, plus a run's learned conv1 kernels once the learner has seen them.

    question = make_question(image28, np.random.default_rng(0))
    question.options[question.answer]   # the right picture; question.explanation says why
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cnn_core.common.kernels import HAND_MADE_KERNELS, KERNEL_NOTES, convolve2d

OPTIONS = 3
MAX_SIMILARITY = 0.9  # a wrong option must correlate less than this with the right one


@dataclass(frozen=True)
class Question:
    """One quiz question: the image, the kernel, three candidate outputs, and which one is right."""

    image: np.ndarray               # (28, 28) the input digit
    kernel_name: str
    kernel: np.ndarray              # (3, 3)
    options: tuple[np.ndarray, ...]  # OPTIONS candidate outputs, (28, 28) each
    option_kernels: tuple[str, ...]  # the kernel that made each option
    answer: int                     # index of the right option
    explanation: str                # one line, shown after the learner picks


def learned_bank(kernels: np.ndarray, prefix: str = "learned filter") -> dict[str, np.ndarray]:
    """A run's conv1 kernels (h, w, 1, count) or (h, w, count) as named bank entries."""
    kernels = np.asarray(kernels, np.float32)
    kernels = kernels[:, :, 0, :] if kernels.ndim == 4 else kernels
    return {f"{prefix} #{index}": kernels[:, :, index] for index in range(kernels.shape[-1])}


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    """|Pearson correlation| of two pictures' pixels (1 for a constant picture, to exclude it)."""
    first, second = first.ravel() - first.mean(), second.ravel() - second.mean()
    scale = np.linalg.norm(first) * np.linalg.norm(second)
    return float(abs(first @ second) / scale) if scale > 0 else 1.0


def explain(name: str) -> str:
    """The one-line explanation shown with the answer."""
    note = KERNEL_NOTES.get(name)
    if note:
        return f"The {name} kernel {note[0].lower()}{note[1:]}"
    return (f"{name[0].upper()}{name[1:]}: bright where the image under the 3x3 window matches the "
            "kernel's pattern of positive weights, dark where it matches the negative ones.")


def make_question(image28, rng: np.random.Generator, bank: Mapping[str, np.ndarray] = HAND_MADE_KERNELS) -> Question:
    """A question about a random kernel of ``bank``; ValueError if the bank cannot give two distractors."""
    image = np.asarray(image28, np.float32)
    if image.shape != (28, 28):
        raise ValueError(f"expected a 28x28 image, got shape {image.shape}")
    names = list(bank)
    outputs = {name: convolve2d(image, bank[name]) for name in names}
    for name in rng.permutation(names):
        others = [other for other in rng.permutation(names)
                  if other != name and correlation(outputs[other], outputs[name]) < MAX_SIMILARITY]
        distractors = []
        for other in others:  # the two wrong options must differ from each other too
            if all(correlation(outputs[other], outputs[chosen]) < MAX_SIMILARITY for chosen in distractors):
                distractors.append(other)
            if len(distractors) == OPTIONS - 1:
                break
        if len(distractors) == OPTIONS - 1:
            order = [str(name), *map(str, distractors)]
            rng.shuffle(order)
            return Question(image, str(name), np.asarray(bank[name], np.float32),
                            tuple(outputs[choice] for choice in order), tuple(order), order.index(str(name)),
                            explain(str(name)))
    raise ValueError("the kernel bank has no kernel with two clearly different alternatives")
