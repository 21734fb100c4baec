"""The worker's hook: write_artifacts writes the four files, and the readers give them back."""
import json
from dataclasses import replace

import numpy as np
import pytest

from cnn_core.common.arrays import ModelFileError

from cnn_core.experiments import artifacts, neighbours, novelty


def test_write_artifacts_writes_files_the_pages_can_read(tmp_path, mnist, tiny_models):
    from cnn_core.server.serving import ServedModel

    small = replace(mnist, train_images=mnist.train_images[:600], train_labels=mnist.train_labels[:600],
                    test_images=mnist.test_images[:400], test_labels=mnist.test_labels[:400])
    served = ServedModel(tiny_models.cnn.folder)
    summary = artifacts.write_artifacts(served, small, tmp_path)
    assert {path.name for path in tmp_path.iterdir()} == {
        neighbours.NEIGHBOURS_FILE, novelty.NOVELTY_FILE, artifacts.ABLATION_FILE, artifacts.ROBUSTNESS_FILE}
    ranking = json.loads((tmp_path / artifacts.ABLATION_FILE).read_text())
    assert len(ranking["filters"]) == 4 + 8 and ranking["images"] == 400 and ranking == summary["ablation"]
    assert set(artifacts.read_json(tmp_path, artifacts.ROBUSTNESS_FILE)["shift_accuracy"]) == {str(k) for k in range(7)}
    reference = artifacts.read_reference(tmp_path, small.train_images)
    assert len(reference.index.labels) == 600 and reference.pixels.shape == (600, 784)
    verdict = artifacts.looks_like_digit(served, small.test_images[0] / np.float32(255), tmp_path, small.train_images)
    assert verdict in (True, False)


def test_a_folder_without_files_gives_none(tmp_path):
    assert artifacts.read_json(tmp_path, novelty.NOVELTY_FILE) is None
    assert artifacts.read_reference(tmp_path, np.zeros((1, 28, 28), np.uint8)) is None
    (tmp_path / novelty.NOVELTY_FILE).write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="novelty.json: expected a JSON object"):
        artifacts.read_json(tmp_path, novelty.NOVELTY_FILE)
