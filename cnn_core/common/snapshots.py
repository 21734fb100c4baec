"""Snapshots of conv1 during training, so the Filters page can replay noise turning into detectors.

The worker records conv1's kernels, and the ReLU feature maps they make of one fixed test digit, at
steps 1, 2, 4, 8... (early steps change the kernels most) and at every test measurement, then saves
them as ``filter_history.npz`` in the run folder:

    steps   (snapshots,)                  int32
    kernels (snapshots, kh, kw, 32)       float32   conv1's kernels (one input channel)
    maps    (snapshots, 28, 28, 32)       float16   ReLU(conv1(digit) + bias)
    digit   (28, 28)                      float32   the digit, in [0, 1]
    digit_index ()                        int32     its index in the test set
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cnn_core.common.arrays import ModelFileError, Spec, read_npz_or_none
from cnn_core.common.kernels import convolve2d

DIGIT_INDEX = 0     # test digit 0 (a 7 in MNIST, an ankle boot in Fashion-MNIST)
MAX_SNAPSHOTS = 64
MAX_HISTORY_BYTES = 32 * 2**20  # the file; 64 snapshots of 256 channels unpack to ~25 MB


def conv1_maps(image: np.ndarray, kernels: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """ReLU(conv1 + bias) of one (28, 28) image with (kh, kw, count) kernels: (28, 28, count)."""
    maps = np.stack([convolve2d(image, kernels[:, :, index]) for index in range(kernels.shape[-1])], axis=-1)
    return np.maximum(maps + biases, 0.0)


class FilterHistory:
    """Collects conv1 snapshots in the training process (the job hands it conv1's weights)."""

    def __init__(self, digit_index: int = DIGIT_INDEX):
        self.digit_index = digit_index
        self.steps, self.kernels, self.maps = [], [], []
        self.digit = None

    def wants(self, step: int) -> bool:
        return step & (step - 1) == 0 and len(self.steps) < MAX_SNAPSHOTS // 2

    def record(self, step: int, kernel: np.ndarray, bias: np.ndarray, test_images: np.ndarray) -> None:
        """Keep conv1 at ``step``: its kernel (kh, kw, 1, count), its bias (count,), and their maps of the digit."""
        if self.steps and self.steps[-1] == step or len(self.steps) >= MAX_SNAPSHOTS:
            return
        if self.digit is None:
            self.digit = test_images[self.digit_index].astype(np.float32) / 255.0
        kernel, bias = np.asarray(kernel, np.float32), np.asarray(bias, np.float32)
        self.steps.append(step)
        self.kernels.append(kernel[:, :, 0, :])
        self.maps.append(conv1_maps(self.digit, kernel[:, :, 0, :], bias).astype(np.float16))

    def save(self, store, run_id: str) -> None:
        if not self.steps:
            return
        buffer = io.BytesIO()
        np.savez_compressed(buffer, steps=np.asarray(self.steps, np.int32), kernels=np.stack(self.kernels),
                            maps=np.stack(self.maps), digit=self.digit, digit_index=np.int32(self.digit_index))
        store.write_file(run_id, "filter_history.npz", buffer.getvalue())


def read_filter_history(path, kernel_shape: tuple[int, int, int] | None = None) -> dict[str, np.ndarray] | None:
    """The saved snapshots (see the module docstring), None when there is no file; ModelFileError when
    it is a link, too big, unreadable, or does not fit conv1's ``kernel_shape`` (kh, kw, count), each
    array's shape checked from its header before its data is read (``cnn_core.common.arrays``)."""
    height, width, count = kernel_shape or (range(1, 8), range(1, 8), range(1, 257))
    snapshots = range(1, MAX_SNAPSHOTS + 1)
    specs = {"steps": Spec("iu", (snapshots,)), "kernels": Spec("f", (snapshots, height, width, count), itemsize=4),
             "maps": Spec("f", (snapshots, 28, 28, count), itemsize=4), "digit": Spec("f", (28, 28)),
             "digit_index": Spec("iu", ())}
    history = read_npz_or_none(Path(path), specs, MAX_HISTORY_BYTES)
    if history is None:
        return None
    steps, kernels, maps = history["steps"], history["kernels"], history["maps"]
    if not len(steps) == len(kernels) == len(maps) or kernels.shape[-1] != maps.shape[-1]:
        raise ModelFileError(f"{Path(path).name}: steps, kernels and maps disagree in length or filters")
    return history
