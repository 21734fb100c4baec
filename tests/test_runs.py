"""Saved runs: atomic writes, broken folders skipped, safe model loading, no path traversal."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from cnn_core.model import ModelConfig, build_model
from cnn_core.runs import RunError, check_run_id, load_model_file


def tiny_model():
    return build_model(ModelConfig(conv_channels=(2,), hidden_units=4))


def test_round_trip(run_store):
    run_id = run_store.create({"model": {"a": 1}})
    model = tiny_model()
    run_store.write_history(run_id, [{"step": 1, "train_loss": 2.0, "test_loss": None}])
    run_store.write_metrics(run_id, {"test_accuracy": 0.5})
    run_store.write_predictions(run_id, np.arange(10) % 10)
    run_store.save_model(run_id, model)
    run_store.write_status(run_id, "completed")
    info = run_store.read(run_id)
    assert info.status == "completed" and info.metrics["test_accuracy"] == 0.5 and info.has_model
    assert run_store.read_history(run_id) == [
        {key: value for key, value in zip(
            ("step", "epoch", "train_loss", "test_loss", "test_accuracy", "learning_rate",
             "images_per_second", "elapsed", "eta"), (1.0, None, 2.0, None, None, None, None, None, None))}]
    assert run_store.read_predictions(run_id).tolist() == list(range(10))
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(run_store.load_model(run_id)(images).numpy(), model(images).numpy(), atol=1e-6)
    assert not [p for p in run_store.path(run_id).iterdir() if p.name.startswith(".")]  # No temp files left.


@pytest.mark.parametrize("bad", ["../etc", "..", "a/b", "", "x" * 80, "/abs", ".hidden", "a\x00b", None])
def test_run_ids_are_checked(bad):
    with pytest.raises(RunError, match="invalid run id"):
        check_run_id(bad)


def test_broken_and_foreign_folders_are_reported_and_skipped(run_store):
    good = run_store.create({})
    run_store.root.joinpath("notes").mkdir()
    run_store.root.joinpath("stray.txt").write_text("hello")
    half = run_store.create({})
    (run_store.path(half) / "status.json").write_text('{"status": "compl')  # Cut off mid-write.
    lying = run_store.create({})
    run_store.write_status(lying, "completed")  # Claims completion without a model.
    runs, problems = run_store.list_runs()
    assert [r.run_id for r in runs] == [good]
    assert len(problems) == 4 and any("model.keras is missing" in p for p in problems)
    assert any("status.json: unreadable" in p for p in problems)


def test_stale_running_status_reads_as_failed(run_store):
    run_id = run_store.create({})
    run_store.write_status(run_id, "running")
    status_path = run_store.path(run_id) / "status.json"
    status = json.loads(status_path.read_text())
    status["pid"] = 2**22 + 12345  # No such process.
    status_path.write_text(json.dumps(status))
    assert run_store.read(run_id).status == "failed"


def test_truncated_model_gives_a_clear_error(run_store):
    run_id = run_store.create({})
    run_store.save_model(run_id, tiny_model())
    path = run_store.path(run_id) / "model.keras"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(RunError, match="cannot load model"):
        run_store.load_model(run_id)


def test_safe_mode_refuses_code_in_a_model(tmp_path):
    import keras

    marker = tmp_path / "pwned"
    inputs = keras.Input((2,))
    # The lambda writes a file when it runs: loading the model must not run it.
    payload = eval(f"lambda x: x * 2 + 0 * len(open({str(marker)!r}, 'w').name)")
    outputs = keras.layers.Lambda(payload)(inputs)
    path = tmp_path / "evil.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)
    with pytest.raises(RunError, match="cannot load model"):
        load_model_file(path)
    assert not marker.exists()


def test_killed_mid_save_never_leaves_a_half_written_run(run_store):
    run_id = run_store.create({"model": {}})
    run_store.save_model(run_id, tiny_model())
    run_store.write_status(run_id, "completed")
    child = textwrap.dedent(f"""
        import sys
        from cnn_core.runs import RunStore
        from cnn_core.model import ModelConfig, build_model
        store = RunStore({str(run_store.root)!r})
        model = build_model(ModelConfig(conv_channels=(2,), hidden_units=4))
        print("ready", flush=True)
        while True:
            store.save_model({run_id!r}, model)
            store.write_history({run_id!r}, [{{"step": i, "train_loss": 1.0}} for i in range(2000)])
            store.write_status({run_id!r}, "completed")
    """)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for delay in (0.05, 0.2, 0.37):
        process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=env)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        runs, problems = run_store.list_runs()
        assert [r.run_id for r in runs] == [run_id] and not problems
        run_store.load_model(run_id)
        assert len(run_store.read_history(run_id)) in (0, 2000)
