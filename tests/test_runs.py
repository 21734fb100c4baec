"""The run folder contract (cnn_core.common.runs): round trips, hostile folders skipped, safe loading."""
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from cnn_core.common import runs
from cnn_core.common.config import HISTORY_COLUMNS, ModelConfig, TrainConfig
from cnn_core.common.runs import STALE_SECONDS, RunError, RunStore, check_run_id, owner_hash
from cnn_core.worker.network import build_model
from cnn_core.worker.saving import load_model_file, save_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = {"model": ModelConfig(conv_channels=(2,), hidden_units=4).to_dict(),
          "train": TrainConfig(iterations=10, train_images=100).to_dict()}


def tiny_model():
    return build_model(ModelConfig(conv_channels=(2,), hidden_units=4))


def load_model(store: RunStore, run_id: str):
    """A run's Keras model, as the worker and the command line load it (safe mode, size-checked)."""
    return load_model_file(store.path(run_id) / "model.keras")


def record(step: int, **values) -> dict:
    return {key: values.get(key) for key in HISTORY_COLUMNS} | {"step": step}


def skipped(store: RunStore) -> dict[str, str]:
    """Folder name -> problem, for every folder list_runs skipped (it must never raise)."""
    found, problems = store.list_runs()
    assert all(isinstance(line, str) for line in problems)
    return {line.split(":", 1)[0]: line.split(":", 1)[1] for line in problems}


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_round_trip(run_store):
    run_id = run_store.create(CONFIG)
    model = tiny_model()
    for step in (1, 2, 3):
        run_store.append_history(run_id, record(step, train_loss=2.0 / step, test_accuracy=0.1 * step))
    run_store.write_metrics(run_id, {"test_accuracy": 0.5, "device": "/CPU:0"})
    run_store.write_predictions(run_id, np.arange(10) % 10)
    save_model(run_store, run_id, model)
    run_store.write_status(run_id, "completed", device="/CPU:0")

    info = run_store.read(run_id)
    assert info.status == "completed" and info.has_model and not info.servable
    assert info.config["model"] == CONFIG["model"] and info.train == CONFIG["train"]
    assert info.metrics["test_accuracy"] == 0.5 and info.status_info["device"] == "/CPU:0"
    history = run_store.read_history(run_id)
    assert [r["step"] for r in history] == [1, 2, 3] and history[1]["train_loss"] == 1.0
    assert history[2]["test_loss"] is None and list(history[0]) == list(HISTORY_COLUMNS)
    assert run_store.read_predictions(run_id).tolist() == list(range(10))
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(load_model(run_store, run_id)(images).numpy(), model(images).numpy(), atol=1e-6)

    csv = run_store.history_csv(run_id).decode().splitlines()
    assert csv[0] == ",".join(HISTORY_COLUMNS) and len(csv) == 4
    assert csv[2].split(",")[:5] == ["2", "", "1.0", "", "0.2"]


def test_a_torn_last_history_line_is_ignored(run_store):
    run_id = run_store.create(CONFIG)
    run_store.append_history(run_id, record(1, train_loss=2.0))
    run_store.append_history(run_id, record(2, train_loss=1.5))
    with open(run_store.path(run_id) / "history.jsonl", "a") as out:
        out.write('{"step": 3, "train_lo')  # The worker was killed mid-line.
    assert [r["step"] for r in run_store.read_history(run_id)] == [1, 2]
    assert len(run_store.history_csv(run_id).decode().splitlines()) == 3


def test_history_values_of_the_wrong_type_read_as_missing(run_store):
    run_id = run_store.create(CONFIG)
    path = run_store.path(run_id) / "history.jsonl"
    path.write_text('{"step": 1, "train_loss": "high", "eta": NaN}\n[1, 2]\n{"step": "2"}\n{"step": 3, "test_loss": 0.5}\n')
    history = run_store.read_history(run_id)
    assert [r["step"] for r in history] == [1, 3]
    assert history[0]["train_loss"] is None and history[0]["eta"] is None and history[1]["test_loss"] == 0.5


HOSTILE = {
    "train-a-list": ({"config.json": {"train": []}}, "expected 'model' and 'train'"),
    "train-not-an-object": ({"config.json": {"model": CONFIG["model"], "train": "fast"}}, "expected 'model' and 'train'"),
    "model-missing": ({"config.json": {"train": CONFIG["train"]}}, "expected 'model' and 'train'"),
    "bad-model-value": ({"config.json": {**CONFIG, "model": {"conv_channels": "many"}}}, "config.json"),
    "bad-train-value": ({"config.json": {**CONFIG, "train": {"iterations": "ten"}}}, "iterations"),
    "pid-text": ({"status.json": {"status": "completed", "pid": "x"}}, "pid should be a number"),
    "reason-number": ({"status.json": {"status": "failed", "reason": 7}}, "reason should be text"),
    "accuracy-text": ({"metrics.json": {"test_accuracy": "high"}}, "test_accuracy should be a number"),
    "accuracy-true": ({"metrics.json": {"test_accuracy": True}}, "test_accuracy should be a number"),
    "unknown-status": ({"status.json": {"status": "exploded"}}, "unknown status"),
    "status-a-list": ({"status.json": ["running"]}, "expected a JSON object"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_malformed_folder_is_skipped_with_its_problem(run_store, name):
    good = run_store.create(CONFIG, run_id="good")
    run_store.create(CONFIG, run_id=name)
    files, problem = HOSTILE[name]
    if "metrics.json" in files:
        save_model(run_store, name, tiny_model())
        run_store.write_status(name, "completed")
    for file, value in files.items():
        (run_store.path(name) / file).write_text(json.dumps(value))
    runs_found, _ = run_store.list_runs()
    assert [run.run_id for run in runs_found] == [good]
    assert problem in skipped(run_store)[name]
    with pytest.raises(RunError):
        run_store.read(name)


@pytest.mark.parametrize("text", ['{"status": "compl', "", "\x00\xff", "[" * 100_000 + "]" * 100_000])
def test_broken_json_is_skipped(run_store, text):
    run_store.create(CONFIG, run_id="broken")
    (run_store.path("broken") / "status.json").write_text(text, errors="surrogateescape")
    assert "status.json: unreadable" in skipped(run_store)["broken"]


def test_numbers_json_cannot_hold_in_a_config_are_skipped(run_store):
    # JSON's 1e999 parses as infinity, which int() refuses with OverflowError, not ValueError.
    run_store.create(CONFIG, run_id="infinite")
    path = run_store.path("infinite") / "config.json"
    path.write_text(json.dumps(CONFIG).replace('"conv_channels": [2]', '"conv_channels": [1e999]'))
    assert "config.json" in skipped(run_store)["infinite"]


def test_a_deeply_nested_heartbeat_or_history_line_breaks_nothing(run_store):
    run_id = run_store.create(CONFIG)
    run_store.write_status(run_id, "running")
    nested = "[" * 100_000 + "]" * 100_000
    (run_store.path(run_id) / "heartbeat").write_text(nested)
    (run_store.path(run_id) / "history.jsonl").write_text(json.dumps(record(1)) + "\n" + nested + "\n")
    assert run_store.read(run_id).status == "running"
    assert [r["step"] for r in run_store.read_history(run_id)] == [1]


def test_stray_files_and_folders_are_listed_as_skipped(run_store):
    run_store.create(CONFIG, run_id="good")
    run_store.root.joinpath("stray.txt").write_text("hello")
    run_store.root.joinpath("has space").mkdir()
    run_store.root.joinpath("empty").mkdir()
    run_store.root.joinpath(".hidden").mkdir()  # Dot-folders are not runs and not reported.
    problems = skipped(run_store)
    assert set(problems) == {"stray.txt", "has space", "empty"}
    assert "invalid run id" in problems["has space"] and "config.json" in problems["empty"]


def test_a_completed_run_without_its_model_is_skipped(run_store):
    run_id = run_store.create(CONFIG)
    run_store.write_status(run_id, "completed")
    assert "model.keras is missing" in skipped(run_store)[run_id]


def test_a_symlinked_run_folder_is_refused_everywhere(run_store, tmp_path):
    outside = RunStore(tmp_path / "elsewhere")
    target = outside.create(CONFIG, run_id="target")
    save_model(outside, target, tiny_model())
    outside.write_status(target, "completed")
    link = run_store.root / "linked"
    run_store.root.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside.path(target), target_is_directory=True)

    runs_found, _ = run_store.list_runs()
    assert runs_found == [] and "symbolic link" in skipped(run_store)["linked"]
    for action in (run_store.read, run_store.path, run_store.delete, lambda run_id: load_model(run_store, run_id),
                   run_store.read_history):
        with pytest.raises(RunError, match="symbolic link"):
            action("linked")
    assert not run_store.is_owner("linked", "anyone")
    assert outside.read(target).status == "completed" and link.is_symlink()  # Nothing was touched.


def test_a_symlinked_model_file_is_refused(run_store, tmp_path):
    run_id = run_store.create(CONFIG)
    real = tmp_path / "real.keras"
    tiny_model().save(real)
    (run_store.path(run_id) / "model.keras").symlink_to(real)
    with pytest.raises(RunError, match="no such model file"):
        load_model(run_store, run_id)


@pytest.mark.parametrize("bad", ["abc\n", "../etc", "..", "a..b", "a/b", "", "x" * 65, "/abs", ".hidden",
                                 "-dash", "a\x00b", "a b", None, 7])
def test_run_ids_must_match_the_whole_pattern(run_store, bad):
    with pytest.raises(RunError, match="invalid run id"):
        check_run_id(bad)
    with pytest.raises(RunError, match="invalid run id"):
        run_store.path(bad)


def test_good_run_ids_pass():
    for good in ("20261129-155300-a1b2c3", "seed_run.2", "x" * 64):
        assert check_run_id(good) == good


def test_a_stale_running_run_reads_interrupted_even_when_its_pid_is_alive(run_store):
    run_id = run_store.create(CONFIG)
    long_ago = time.time() - STALE_SECONDS - 5
    run_store.write_status(run_id, "running", pid=os.getpid(), updated=long_ago)  # Our pid: certainly alive.
    (run_store.path(run_id) / "heartbeat").write_text(json.dumps({"time": long_ago, "step": 3}))
    info = run_store.read(run_id)
    assert info.status == "interrupted" and "stopped answering" in info.reason

    run_store.beat(run_id, step=4)  # A fresh heartbeat: alive again.
    assert run_store.read(run_id).status == "running"
    run_store.delete(run_id)
    assert not run_store.path(run_id).exists()


def test_a_running_run_without_heartbeat_goes_stale_by_its_status_time(run_store):
    run_id = run_store.create(CONFIG)
    run_store.write_status(run_id, "running")
    assert run_store.read(run_id).status == "running"
    run_store.write_status(run_id, "running", updated=time.time() - STALE_SECONDS - 1)
    assert run_store.read(run_id).status == "interrupted"


def bomb(path, unpacked: int) -> None:
    """A zip holding ``unpacked`` bytes of zeros: a few hundred kB on disk."""
    chunk = bytes(2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("metadata.json", "{}")
        with archive.open("model.weights.h5", "w", force_zip64=True) as member:
            for _ in range(unpacked // len(chunk)):
                member.write(chunk)


def test_a_model_zip_bomb_is_refused_before_keras_sees_it(run_store, monkeypatch):
    import keras

    run_id = run_store.create(CONFIG)
    path = run_store.path(run_id) / "model.keras"
    bomb(path, runs.MAX_MODEL_BYTES + 2**20)
    assert path.stat().st_size < 2**20
    calls = []
    monkeypatch.setattr(keras.models, "load_model", lambda *args, **kwargs: calls.append(args))
    with pytest.raises(RunError, match="unpacks to .* over the 64 MB limit"):
        load_model(run_store, run_id)
    assert calls == []


def test_an_oversize_or_non_zip_model_is_refused(run_store, monkeypatch):
    run_id = run_store.create(CONFIG)
    path = run_store.path(run_id) / "model.keras"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(RunError, match="not a .keras archive"):
        load_model(run_store, run_id)
    monkeypatch.setattr(runs, "MAX_MODEL_BYTES", 8)
    with pytest.raises(RunError, match="over the 0 MB limit"):
        load_model(run_store, run_id)


def test_a_truncated_model_gives_a_clear_error(run_store):
    run_id = run_store.create(CONFIG)
    save_model(run_store, run_id, tiny_model())
    path = run_store.path(run_id) / "model.keras"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(RunError, match="model.keras"):
        load_model(run_store, run_id)


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


def test_written_files_are_ordinary_and_no_temporaries_are_left(run_store):
    previous = os.umask(0o077)  # Even under a strict umask, run files are readable by the server.
    try:
        run_id = run_store.create(CONFIG)
        run_store.write_metrics(run_id, {"test_accuracy": 0.5})
        run_store.write_predictions(run_id, np.zeros(10))
        run_store.write_history(run_id, [record(1)])
        run_store.write_file(run_id, "weights.npz", b"1234")
        run_store.beat(run_id)
        run_store.request_stop(run_id)
        save_model(run_store, run_id, tiny_model())
    finally:
        os.umask(previous)
    folder = run_store.path(run_id)
    for name in ("config.json", "status.json", "metrics.json", "predictions.npy", "history.jsonl",
                 "weights.npz", "heartbeat", "stop", "model.keras"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644, name
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    assert run_store.stop_requested(run_id)


def test_clean_debris_removes_old_temporaries_only(run_store):
    run_id = run_store.create(CONFIG)
    folder = run_store.path(run_id)
    old_model, old_json, fresh = folder / ".model-0badf00d.keras", folder / ".status.json.x1y2.tmp", folder / ".model-12345678.keras"
    for path in (old_model, old_json, fresh):
        path.write_bytes(b"")
    age(old_model, runs.TEMPORARY_AGE + 5)
    age(old_json, runs.TEMPORARY_AGE + 5)
    run_store.clean_debris(run_id)
    assert not old_model.exists() and not old_json.exists()
    assert fresh.exists()  # Perhaps a save in progress.
    assert {p.name for p in folder.iterdir()} == {"config.json", "status.json", fresh.name}


def test_owner_is_kept_as_a_hash_and_checked(run_store):
    run_id = run_store.create(CONFIG, owner="token-a")
    stored = json.loads((run_store.path(run_id) / "config.json").read_text())
    assert stored["owner"] == owner_hash("token-a") and "token-a" not in json.dumps(stored)
    assert run_store.is_owner(run_id, "token-a")
    assert not run_store.is_owner(run_id, "token-b")
    assert not run_store.is_owner(run_id, "") and not run_store.is_owner(run_id, None)
    anonymous = run_store.create(CONFIG)
    assert not run_store.is_owner(anonymous, "token-a") and not run_store.is_owner(anonymous, "")
    assert run_store.read(run_id).config["model"] == CONFIG["model"]


def test_delete_of_a_missing_run_says_so(run_store):
    with pytest.raises(RunError, match="there is no run nope"):
        run_store.delete("nope")
    with pytest.raises(RunError, match="there is no run nope"):
        run_store.read("nope")


@pytest.mark.slow
def test_killed_mid_save_never_leaves_a_half_written_run(run_store):
    run_id = run_store.create(CONFIG)
    save_model(run_store, run_id, tiny_model())
    run_store.write_status(run_id, "completed")
    child = textwrap.dedent(f"""
        from cnn_core.common.config import ModelConfig
        from cnn_core.common.runs import RunStore
        from cnn_core.worker.network import build_model
        from cnn_core.worker.saving import save_model
        store = RunStore({str(run_store.root)!r})
        model = build_model(ModelConfig(conv_channels=(2,), hidden_units=4))
        print("ready", flush=True)
        while True:
            save_model(store, {run_id!r}, model)
            store.write_history({run_id!r}, [{{"step": i, "train_loss": 1.0}} for i in range(2000)])
            store.write_metrics({run_id!r}, {{"test_accuracy": 0.5}})
            store.write_status({run_id!r}, "completed")
    """)
    env = {**os.environ, "PYTHONPATH": ROOT}
    for delay in (0.05, 0.2, 0.37):
        process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=env, cwd=ROOT)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        runs_found, problems = run_store.list_runs()
        assert [r.run_id for r in runs_found] == [run_id] and not problems
        load_model(run_store, run_id)
        assert len(run_store.read_history(run_id)) in (0, 2000)
    # Whatever temporaries the kills left are debris once old enough.
    folder = run_store.path(run_id)
    for path in folder.iterdir():
        if path.name.startswith("."):
            age(path, runs.TEMPORARY_AGE + 1)
    run_store.clean_debris(run_id)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def npz_bytes(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [b"PK\x03\x04 a broken zip", npz_bytes(x=np.zeros(3)), b"not numpy"],
                         ids=["broken-zip", "npz-archive", "garbage"])
def test_unreadable_predictions_read_as_none(run_store, content):
    # The Train page draws a confusion matrix from these: anything but an array of labels is absent.
    run_id = run_store.create(CONFIG)
    run_store.write_file(run_id, "predictions.npy", content)
    assert run_store.read_predictions(run_id) is None


def test_problems_do_not_show_the_servers_paths(run_store):
    # Skipped folders are listed on public pages: say what is wrong, not where the server keeps its files.
    for name in ("dir-config", "no-config"):
        run_store.create(CONFIG, run_id=name)
    (run_store.path("dir-config") / "config.json").unlink()
    (run_store.path("dir-config") / "config.json").mkdir()
    (run_store.path("no-config") / "config.json").unlink()
    problems = skipped(run_store)
    assert set(problems) == {"dir-config", "no-config"}
    for problem in problems.values():
        assert "config.json: unreadable" in problem and str(run_store.root) not in problem and "/" not in problem
