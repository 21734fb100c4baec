"""Fixtures shared by the experiment tests: the MNIST data and the shipped CNN behind KerasServed.

Import the fixtures you use into a test module: ``from tests.experiments_support import mnist, shipped``.
Tests that need the shipped model skip when ``models/seed-mnist/model.keras`` is missing.
"""
import numpy as np
import pytest

from tests.conftest import ROOT, real_data_available

SHIPPED = ROOT / "models" / "seed-mnist" / "model.keras"


@pytest.fixture(scope="session")
def mnist():
    if not real_data_available():
        pytest.skip("CNN_DATA_DIR has no mnist/")
    from cnn_core.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def shipped():
    """The shipped seed CNN with the served model's methods (TensorFlow underneath)."""
    if not SHIPPED.is_file():
        pytest.skip("the shipped model models/seed-mnist/model.keras is missing")
    from cnn_core.experiments.keras_served import KerasServed
    from cnn_core.runs import load_model_file

    return KerasServed(load_model_file(SHIPPED))


def as_floats(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255
