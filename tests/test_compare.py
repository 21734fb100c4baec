"""CNN against MLP: the numbers for one side, and ``python -m cnn_core compare --json`` end to end."""
import json
import subprocess
import sys

import numpy as np
import pytest

from cnn_core.experiments import compare
from tests.conftest import ROOT, needs_data


def test_one_side_has_every_key_the_issue_names():
    images, labels = np.zeros((20, 28, 28), np.uint8), np.zeros(20, int)
    constant = lambda batch: np.tile(np.eye(10)[0], (len(batch), 1))
    side = compare.compare_side(constant, 1234, images, labels)
    assert side["parameters"] == 1234 and side["test_accuracy"] == 1.0
    assert list(side["shift_accuracy"]) == [str(k) for k in range(7)]
    assert "-30" in side["rotation_accuracy"] and "30" in side["rotation_accuracy"]


def test_parameter_count_agrees_with_the_model_config(tiny_models):
    from cnn_core.server.serving import ServedModel

    for tiny in (tiny_models.cnn, tiny_models.mlp):
        assert compare.parameter_count(ServedModel(tiny.folder).weights) == tiny.config.parameter_count()


@needs_data
@pytest.mark.slow
def test_compare_command_prints_both_sides_as_its_last_line(tmp_path, tiny_models):
    """Model folders are served from their LiteRT files; a bare .keras file is exported first."""
    import shutil

    shutil.copyfile(tiny_models.mlp.folder / "model.keras", tmp_path / "mlp.keras")
    command = [sys.executable, "-m", "cnn_core", "compare", "--cnn", str(tiny_models.cnn.folder),
               "--mlp", str(tmp_path / "mlp.keras"), "--images", "300", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"cnn", "mlp"}
    assert result["cnn"]["parameters"] == tiny_models.cnn.config.parameter_count()
    assert result["mlp"]["parameters"] == tiny_models.mlp.config.parameter_count()
    for side in result.values():
        assert 0 <= side["test_accuracy"] <= 1 and set(side["shift_accuracy"]) == {str(k) for k in range(7)}


def test_compare_command_refuses_a_missing_model(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cnn_core", "compare", "--cnn", str(tmp_path), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "Traceback" not in done.stderr
