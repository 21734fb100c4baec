"""Hostile files in a listed run folder: links to a secret, hard links, FIFOs, arrays that do not fit
their model, bombs in small files, and a history grown huge. Each is refused with its reason, before
its data is read, and no page breaks."""
import json
import os
import shutil

import numpy as np
import pytest

from cnn_core.common import runs
from cnn_core.common.arrays import ModelFileError
from cnn_core.common.runs import RunError, RunStore, open_regular, read_regular, regular
from cnn_core.common.snapshots import read_filter_history
from cnn_core.experiments import artifacts, neighbours, novelty
from cnn_core.server.serving import ServedModel, ServingError
from tests.conftest import needs_data
from tests.support import app_on, completed_run, texts

SECRET = b"root:$6$not-for-visitors:19000:0:99999:7:::\n"
RUN_FILES = ("model.keras", "model.tflite", "weights.npz", "neighbours.npz", "novelty.json", "ablation.json",
             "robustness.json", "filter_history.npz", "history.jsonl", "predictions.npy", "metrics.json")


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "shadow"
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def run(run_store, tiny_models):
    """A completed run holding the tiny CNN (conv 4-8, dense 8), and its served model."""
    run_id = completed_run(run_store, tiny_models.cnn, accuracy=0.5, owner="alice")
    return run_store.path(run_id), ServedModel(run_store.path(run_id))


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_symlink_to_a_secret_is_refused_for_every_file_a_server_reads(run, secret, name):
    folder, _ = run
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(secret)
    assert not regular(folder / name)
    with pytest.raises(RunError, match=f"{name} is a symbolic link, which CNN Lab does not follow"):
        read_regular(folder / name, 2**20)


def test_no_reader_follows_a_link_to_a_secret(run, run_store, secret):
    folder, served = run
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(secret)
    from pages.run_view import model_bytes

    assert model_bytes(folder / "model.keras") == b""  # The download serves nothing, never the secret.
    with pytest.raises(ServingError, match="symbolic link"):
        ServedModel(folder)
    assert run_store.read_history(folder.name) == [] and run_store.read_predictions(folder.name) is None
    assert SECRET not in run_store.history_csv(folder.name)
    for name in (novelty.NOVELTY_FILE, artifacts.ABLATION_FILE, artifacts.ROBUSTNESS_FILE):
        with pytest.raises(ModelFileError, match="symbolic link"):
            artifacts.read_json(folder, name, served)
    with pytest.raises(ModelFileError, match="symbolic link"):
        artifacts.read_reference(folder, np.zeros((10, 28, 28), np.uint8), 8)
    with pytest.raises(ModelFileError, match="symbolic link"):
        read_filter_history(folder / "filter_history.npz")
    with pytest.raises(RunError, match="metrics.json: unreadable .*symbolic link"):
        run_store.read(folder.name)  # metrics.json is a link: the run is skipped, not served.
    assert folder.name in " ".join(run_store.list_runs()[1]) and "symbolic link" in " ".join(run_store.list_runs()[1])


def test_a_hard_link_a_fifo_and_a_folder_are_refused_too(run, secret, tmp_path):
    folder, _ = run
    (folder / "weights.npz").unlink()
    try:
        os.link(secret, folder / "weights.npz")
    except OSError:
        pytest.skip("no hard links on this file system")
    with pytest.raises(RunError, match="has other names"):
        read_regular(folder / "weights.npz", 2**20)
    (folder / "model.tflite").unlink()
    os.mkfifo(folder / "model.tflite")  # Opening a FIFO for reading would wait for a writer forever.
    with pytest.raises(RunError, match="not a regular file"):
        open_regular(folder / "model.tflite", 2**20)
    (folder / "novelty.json").mkdir()
    with pytest.raises(RunError, match="not a regular file"):
        open_regular(folder / "novelty.json", 2**20)


def test_a_symlinked_model_is_not_offered_for_download_and_its_run_is_not_servable(run, run_store, secret):
    folder, _ = run
    (folder / "model.keras").unlink()
    (folder / "model.keras").symlink_to(secret)
    with pytest.raises(RunError, match="model.keras is missing"):  # A link is no model: the run is skipped.
        run_store.read(folder.name)
    (folder / "model.tflite").unlink()
    (folder / "model.tflite").symlink_to(secret)
    (folder / "model.keras").unlink()
    shutil.copyfile(folder / "weights.npz", folder / "model.keras")
    assert not run_store.read(folder.name).servable


def test_a_small_neighbours_file_of_a_huge_array_is_refused_from_its_header(tmp_path, monkeypatch):
    """Issue 19: 1.2 MB on disk, a (10000, 30000) array of zeros, 3.1 GB of server memory."""
    path = tmp_path / neighbours.NEIGHBOURS_FILE
    with open(path, "wb") as out:
        np.savez_compressed(out, embeddings=np.zeros((10_000, 3_000), np.float16),
                            labels=np.zeros(10_000, np.uint8), indices=np.arange(10_000, dtype=np.int32))
    read = []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *args, **kwargs: read.append(args))
    with pytest.raises(ModelFileError, match=r"embeddings should have shape \(n, 8\), got \(10000, 3000\)"):
        neighbours.load_index(path, hidden=8, train_count=60_000)
    assert read == []  # Refused from the header: not a byte of the array was read.


def test_neighbours_that_point_outside_the_training_set_are_refused(tmp_path):
    path = tmp_path / neighbours.NEIGHBOURS_FILE
    np.savez(path, embeddings=np.ones((3, 8), np.float16), labels=np.zeros(3, np.uint8),
             indices=np.array([0, 1, -5], np.int32))
    with pytest.raises(ModelFileError, match="out of range"):
        neighbours.load_index(path, hidden=8, train_count=100)
    np.savez(path, embeddings=np.ones((3, 8), np.float16), labels=np.zeros(2, np.uint8), indices=np.arange(3))
    with pytest.raises(ModelFileError, match="different lengths"):
        neighbours.load_index(path, hidden=8, train_count=100)


@pytest.mark.parametrize("name, change, reason", [
    (novelty.NOVELTY_FILE, {"mean": [0.0] * 30_000}, "mean should be 4 numbers"),
    (novelty.NOVELTY_FILE, {"threshold": "high"}, "threshold should be a number"),
    (artifacts.ABLATION_FILE, {"filters": [{"block": 1, "filter": 99, "drop": 0.1}]}, "names no filter of this model"),
    (artifacts.ABLATION_FILE, {"filters": [{"block": 1, "filter": 0, "drop": 0.1}] * 13}, "ranks 13 filters; this model has 12"),
    (artifacts.ROBUSTNESS_FILE, {"parameters": 7}, "counts 7 parameters; this model has"),
    (artifacts.ROBUSTNESS_FILE, {"shift_accuracy": {"0": 2.0}}, "shift_accuracy should map"),
], ids=["novelty-long", "novelty-text", "ablation-filter", "ablation-count", "robustness-params", "robustness-range"])
def test_a_json_file_that_does_not_describe_its_model_is_refused(run, name, change, reason):
    folder, served = run
    good = {novelty.NOVELTY_FILE: json.loads((runs_root() / "seed-mnist" / novelty.NOVELTY_FILE).read_text()),
            artifacts.ABLATION_FILE: {"images": 2000, "base_accuracy": 0.9, "filters": []},
            artifacts.ROBUSTNESS_FILE: {**json.loads((runs_root() / "seed-mnist" / artifacts.ROBUSTNESS_FILE).read_text()),
                                        "parameters": served_parameters(served)}}
    (folder / name).write_text(json.dumps(good[name]))
    assert artifacts.read_json(folder, name, served) == good[name]
    (folder / name).write_text(json.dumps({**good[name], **change}))
    with pytest.raises(ModelFileError, match=reason):
        artifacts.read_json(folder, name, served)


def runs_root():
    from cnn_core.server.catalogue import MODELS_DIR

    return MODELS_DIR


def served_parameters(served) -> int:
    from cnn_core.experiments.compare import parameter_count

    return parameter_count(served.weights)


def test_snapshots_of_another_network_are_refused(tmp_path):
    path = tmp_path / "filter_history.npz"
    np.savez(path, steps=np.arange(1, 4, dtype=np.int32), kernels=np.zeros((3, 3, 3, 5), np.float32),
             maps=np.zeros((3, 28, 28, 5), np.float16), digit=np.zeros((28, 28), np.float32), digit_index=np.int32(0))
    assert read_filter_history(path, (3, 3, 5))["kernels"].shape == (3, 3, 3, 5)
    with pytest.raises(ModelFileError, match=r"kernels should have shape \(1-64, 3, 3, 4\)"):
        read_filter_history(path, (3, 3, 4))


def test_a_huge_history_is_read_by_its_tail_only(run_store, tmp_path):
    run_id = run_store.create({"model": {}, "train": {}})
    line = json.dumps({"step": 1, "train_loss": 2.0}) + "\n"
    with open(run_store.path(run_id) / "history.jsonl", "w") as out:
        for step in range(1, 400_001):  # ~12 MB, as a month-long run (or a hostile folder) would leave
            out.write(line.replace('"step": 1', f'"step": {step}'))
    assert (run_store.path(run_id) / "history.jsonl").stat().st_size > 3 * runs.MAX_HISTORY_BYTES
    records = run_store.read_history(run_id)
    assert records[-1]["step"] == 400_000 and 0 < len(records) * len(line) <= runs.MAX_HISTORY_BYTES + len(line) * 20
    assert records[0]["step"] > 200_000 and all(b["step"] == a["step"] + 1 for a, b in zip(records, records[1:]))


def test_predictions_of_the_wrong_length_are_refused(run_store):
    run_id = run_store.create({"model": {}, "train": {}})
    run_store.write_predictions(run_id, np.zeros(9_999))
    assert run_store.read_predictions(run_id, count=10_000) is None
    assert len(run_store.read_predictions(run_id)) == 9_999


@needs_data
def test_the_experiments_page_says_a_refused_neighbours_file_was_ignored(runs_dir, tiny_models, monkeypatch):
    store = RunStore(runs_dir)
    run_id = completed_run(store, tiny_models.cnn, accuracy=0.5)
    np.savez(runs_dir / run_id / neighbours.NEIGHBOURS_FILE, embeddings=np.zeros((100, 30), np.float16),
             labels=np.zeros(100, np.uint8), indices=np.arange(100, dtype=np.int32))
    app = app_on("pages/experiments.py", session={"model_key": run_id})
    assert not app.exception, app.exception
    shown = texts(app)  # Escaped for Markdown: the text shows as written.
    assert "A file of this model was ignored" in shown and r"should have shape \(n, 8\)" in shown, shown
