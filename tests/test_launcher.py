"""The server's training queue (cnn_core.server.launcher): run folders in, worker processes out.

A worker start imports TensorFlow, which is slow on a busy 2-core machine, so the tests that
start one wait generously (TIMEOUT) and assert no wall-clock figure; the rest use a launcher
without its monitor thread and fake the runs ahead in the queue, so no worker starts at all.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cnn_core.common import runs
from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.common.runs import RunError
from cnn_core.server.launcher import Launcher, LaunchRefused
from tests.conftest import ROOT, needs_data
from tests.support import adopt_fake_worker, poll, tick_until_ended

TIMEOUT = 180.0  # seconds, for anything that waits on a worker; never asserted as a duration
TINY = TrainConfig(iterations=40, train_images=500, batch_size=50, eval_every=20, eval_images=200)
LONG = TrainConfig(iterations=20_000, train_images=500, batch_size=50, eval_every=20, eval_images=200)
ARTIFACTS = ("config.json", "status.json", "heartbeat", "history.jsonl", "metrics.json", "model.keras",
             "model.tflite", "weights.npz", "predictions.npy", "filter_history.npz")
FINISHED = ("completed", "stopped", "failed", "interrupted")


@pytest.fixture
def launchers(run_store):
    """make(**limits) -> a Launcher on the test's runs folder; every one is closed (workers killed) at the end."""
    made = []

    def make(**kwargs) -> Launcher:
        launcher = Launcher(run_store, **kwargs)
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        launcher.close()


def config(train: TrainConfig = TINY) -> dict:
    return {"model": ModelConfig().to_dict(), "train": train.to_dict()}


def wait_for(condition, what: str, folder=None, timeout: float = TIMEOUT):
    """Poll ``condition`` until it returns something true; on timeout fail with the worker's log."""
    def worker_log() -> str:
        log = folder / "worker.log" if folder is not None else None
        return "worker log:\n" + (log.read_text(errors="replace")[-3000:] if log is not None and log.is_file() else "(none)")

    return poll(condition, timeout, what, details=worker_log)


def status_of(store, run_id: str) -> str:
    return store.read(run_id).status


def status_file(store, run_id: str) -> dict:
    return json.loads((store.path(run_id) / "status.json").read_text())


def folders(store) -> list[str]:
    """The run folders (the launcher's lock file is not one)."""
    return sorted(path.name for path in store.root.iterdir() if path.is_dir()) if store.root.is_dir() else []


def occupy_the_slot(store) -> str:
    """A run that reads as running (fresh heartbeat, another worker's), so a launcher starts nothing."""
    run_id = store.create(config(), run_id="busy")
    store.write_status(run_id, "running", pid=os.getpid())
    store.beat(run_id, step=1)
    return run_id


def test_two_servers_on_one_runs_folder_start_a_queued_run_once(run_store, monkeypatch):
    run_id = run_store.create(config(), run_id="queued-one")
    started = []

    def slow_start(launcher, started_id):  # Popen and the status write take time: room for a race.
        time.sleep(0.3)
        started.append(started_id)
        launcher.store.write_status(started_id, "running", pid=os.getpid())
        launcher.store.beat(started_id, step=1)

    monkeypatch.setattr(Launcher, "_start", slow_start)
    servers = [Launcher(run_store, monitor=False) for _ in range(2)]
    threads = [threading.Thread(target=server.tick) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert started == [run_id]
    assert folders(run_store) == [run_id]


@needs_data
@pytest.mark.slow
def test_a_submitted_run_completes_in_a_worker(launchers, run_store):
    launcher = launchers()
    run_id = launcher.submit(ModelConfig(), TINY, owner="alice")
    folder = run_store.path(run_id)
    worker_pid = launcher._workers[run_id].process.pid
    wait_for(lambda: status_of(run_store, run_id) in FINISHED, "the run to finish", folder)

    info = run_store.read(run_id)
    assert info.status == "completed", info.reason
    missing = [name for name in ARTIFACTS if not (folder / name).is_file()]
    assert not missing, f"missing {missing}"
    assert info.servable and info.has_model and run_store.is_owner(run_id, "alice")
    assert info.metrics["steps"] == 40 and 0 <= info.metrics["test_accuracy"] <= 1
    assert info.status_info["pid"] == worker_pid != os.getpid()  # Written by the worker itself.
    history = run_store.read_history(run_id)
    assert history[0]["step"] == 1 and history[-1]["step"] == 40
    assert [r["step"] for r in history if r["test_accuracy"] is not None] == [1, 20, 40]
    assert len(run_store.read_predictions(run_id)) == 10_000
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # No temporaries left.

    from cnn_core.server.serving import ServedModel

    assert ServedModel(folder).probabilities(np.zeros((2, 28, 28))).shape == (2, 10)
    wait_for(lambda: run_id not in launcher._workers, "the worker to exit and be reaped", folder)
    assert launcher.running() == [] and launcher.queue() == []
    # The experiment files come from a process of their own, after the worker has freed its slot.
    wait_for(lambda: run_store.read_analysis(run_id).get("status") in ("completed", "failed"),
             "the run's analysis to finish", folder)
    assert run_store.read_analysis(run_id)["status"] == "completed", (folder / "analysis.log").read_text()[-2000:]
    for name in ("neighbours.npz", "novelty.json", "ablation.json", "robustness.json"):
        assert (folder / name).is_file(), name
    assert "analysis" not in (folder / "worker.log").read_text()  # none of it ran in the worker


@pytest.mark.slow
def test_the_server_side_never_imports_tensorflow(run_store):
    """Submit, read the queue, stop and tick in a fresh interpreter (this one may have TensorFlow already)."""
    code = f"""
import sys
from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.common.runs import RunStore
from cnn_core.server.launcher import Launcher

launcher = Launcher(RunStore({str(run_store.root)!r}), monitor=False)
run_id = launcher.submit(ModelConfig(), TrainConfig(**{TINY.to_dict()!r}), owner="alice")
started = run_id in launcher._workers
launcher.queue(), launcher.running(), launcher.ahead_of(run_id), launcher.store.list_runs()
launcher.stop(run_id, owner="alice")
launcher.tick()
print(started, sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras")))
launcher.close()
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "[]"], result.stdout


def test_while_a_worker_starts_its_status_names_the_worker_not_the_server(launchers, run_store):
    """status.json's pid is the worker's: whoever reads it to signal the run must not hit the web server."""
    launcher = launchers(monitor=False)
    run_id = launcher.submit(ModelConfig(), TINY, owner="alice")
    worker_pid = launcher._workers[run_id].process.pid
    launcher.tick()  # The monitor vouches for a worker still importing TensorFlow.
    status = status_file(run_store, run_id)
    assert status["status"] == "running"
    assert status["pid"] == worker_pid, f"status.json names pid {status['pid']}; the server is {os.getpid()}"


@needs_data
@pytest.mark.slow
def test_a_queued_folder_from_a_previous_server_starts_and_stops_on_request(launchers, run_store):
    """A new launcher starts a run an earlier server left queued; Stop then reaches its worker.

    One worker for both checks: each start costs a TensorFlow import.
    """
    run_id = run_store.create(config(LONG), owner="alice")  # As a server killed before starting it left it.
    folder = run_store.path(run_id)
    launcher = launchers()
    wait_for(lambda: run_store.read_history(run_id), "the first progress record", folder)
    assert status_of(run_store, run_id) == "running"
    pid = launcher._workers[run_id].process.pid
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)

    with pytest.raises(PermissionError):
        launcher.stop(run_id, owner="bob")
    launcher.stop(run_id, owner="alice")
    assert run_store.stop_requested(run_id)
    wait_for(lambda: status_of(run_store, run_id) in FINISHED, "the stopped run to finish", folder)

    info = run_store.read(run_id)
    assert info.status == "stopped", info.reason
    assert info.metrics["steps"] < LONG.iterations and run_store.read_history(run_id)[-1]["step"] < LONG.iterations
    assert info.has_model and info.servable  # What it learned before the stop is kept.
    assert info.reason == "stopped by request"  # The worker stopped itself, not killed after the grace period.
    wait_for(lambda: run_id not in launcher._workers, "the worker to be reaped", folder)
    launcher.delete(run_id, owner="alice")
    assert not folder.exists()


@needs_data
@pytest.mark.slow
def test_a_worker_killed_by_signal_9_is_marked_failed(launchers, run_store):
    launcher = launchers()
    run_id = launcher.submit(ModelConfig(), LONG, owner="alice")
    folder = run_store.path(run_id)
    worker_pid = launcher._workers[run_id].process.pid
    # The worker writes its own pid once it has loaded TensorFlow and is beating; never signal another.
    wait_for(lambda: (folder / "heartbeat").exists() and status_file(run_store, run_id)["pid"] == worker_pid,
             "the worker to record its pid", folder)
    pid = status_file(run_store, run_id)["pid"]
    assert pid == worker_pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: status_of(run_store, run_id) == "failed", "the run to be marked failed", folder)

    info = run_store.read(run_id)
    assert "signal 9" in info.reason and "SIGKILL" in info.reason and info.status_info["returncode"] == -9
    assert launcher.running() == []  # The server carries on; the slot is free again.
    launcher.delete(run_id, owner="alice")
    assert not folder.exists()


def test_only_the_owner_or_the_presenter_manage_a_run(launchers, run_store):
    launcher = launchers(monitor=False)
    mine, theirs = run_store.create(config(), owner="alice"), run_store.create(config(), owner="bob")
    anonymous = run_store.create(config())
    for run_id in (mine, theirs, anonymous):
        for owner in ("mallory", "", None):
            with pytest.raises(PermissionError, match="Only the visitor who launched this run"):
                launcher.stop(run_id, owner=owner)
            with pytest.raises(PermissionError, match="Only the visitor who launched this run"):
                launcher.delete(run_id, owner=owner)
    assert {status_of(run_store, run_id) for run_id in (mine, theirs, anonymous)} == {"queued"}

    launcher.stop(mine, owner="alice")
    assert status_of(run_store, mine) == "stopped" and "removed from the queue" in run_store.read(mine).reason
    launcher.delete(mine, owner="alice")
    with pytest.raises(RunError, match="Stop this run before deleting it"):
        launcher.delete(theirs, presenter=True)
    launcher.stop(theirs, presenter=True)
    launcher.delete(theirs, presenter=True)
    launcher.stop(anonymous, owner="alice", presenter=True)
    launcher.delete(anonymous, presenter=True)
    assert folders(run_store) == []


def test_the_queue_is_bounded_and_a_refused_submit_makes_no_folder(launchers, run_store):
    busy = occupy_the_slot(run_store)
    launcher = launchers(monitor=False, max_waiting=2, max_runs=10)
    first = launcher.submit(ModelConfig(), TINY, owner="alice")
    assert status_of(run_store, first) == "queued" and launcher._workers == {}  # The slot is taken.
    before = folders(run_store)
    with pytest.raises(LaunchRefused, match="You already have a run waiting in the queue"):
        launcher.submit(ModelConfig(), TINY, owner="alice")
    assert folders(run_store) == before

    run_store.beat(busy)
    second = launcher.submit(ModelConfig(), TINY, owner="bob")
    assert [run.run_id for run in launcher.queue()] == [first, second]
    assert launcher.ahead_of(first) == 0 and launcher.ahead_of(second) == 1
    before = folders(run_store)
    with pytest.raises(LaunchRefused, match=r"The queue is full \(2 runs waiting\)"):
        launcher.submit(ModelConfig(), TINY, owner="carol")
    assert folders(run_store) == before

    run_store.beat(busy)
    full = launchers(monitor=False, max_waiting=10, max_runs=3)
    with pytest.raises(LaunchRefused, match="keeps at most 3 saved runs and has 3. Delete runs"):
        full.submit(ModelConfig(), TINY, owner="carol")
    assert folders(run_store) == before
    assert launcher._workers == {} and full._workers == {}


def test_taking_a_run_out_of_the_queue_lets_its_owner_queue_another(launchers, run_store):
    occupy_the_slot(run_store)
    launcher = launchers(monitor=False)
    first = launcher.submit(ModelConfig(), TINY, owner="alice")
    launcher.stop(first, owner="alice")
    second = launcher.submit(ModelConfig(), TINY, owner="alice")
    assert [run.run_id for run in launcher.queue()] == [second] and launcher._workers == {}


def test_a_stale_running_folder_reads_interrupted_and_can_be_deleted(launchers, run_store):
    run_id = run_store.create(config(), owner="alice")
    long_ago = time.time() - runs.STALE_SECONDS - 5
    run_store.write_status(run_id, "running", updated=long_ago)  # Its pid (ours) is alive: not enough.
    (run_store.path(run_id) / "heartbeat").write_text(json.dumps({"time": long_ago, "step": 7}))
    launcher = launchers(monitor=False)
    launcher.tick()
    info = run_store.read(run_id)
    assert info.status == "interrupted" and "stopped answering" in info.reason
    assert launcher.running() == [] and launcher.queue() == [] and launcher._workers == {}
    launcher.stop(run_id, owner="alice")  # Nothing to stop: no error.
    launcher.delete(run_id, owner="alice")
    assert folders(run_store) == []


def test_a_new_server_cleans_up_the_debris_of_an_interrupted_save(launchers, run_store):
    run_id = run_store.create(config(), owner="alice")
    run_store.write_status(run_id, "failed", reason="the worker was killed by signal 9 (SIGKILL)")
    debris = run_store.path(run_id) / ".model-0badf00d.keras"
    debris.write_bytes(b"")  # What a save killed mid-way leaves, as seen in issue 10.
    then = time.time() - runs.TEMPORARY_AGE - 5
    os.utime(debris, (then, then))
    launcher = launchers(monitor=False)
    launcher.tick()
    assert not debris.exists(), "nothing calls RunStore.clean_debris"


def test_broken_folders_do_not_stop_the_queue(launchers, run_store):
    occupy_the_slot(run_store)
    run_store.root.joinpath("broken").mkdir()
    run_store.root.joinpath("broken", "config.json").write_text("{")
    launcher = launchers(monitor=False)
    run_id = launcher.submit(ModelConfig(), TINY, owner="alice")
    launcher.tick()
    assert [run.run_id for run in launcher.queue()] == [run_id]


def test_limits_must_make_sense(run_store):
    with pytest.raises(ValueError, match="max_running must be at least 1, got 0"):
        Launcher(run_store, max_running=0, monitor=False)


def test_a_worker_that_ignores_stop_is_killed_after_the_grace_period(launchers, run_store, monkeypatch):
    from cnn_core.server import launcher as launcher_module

    monkeypatch.setattr(launcher_module, "STOP_ACK_SECONDS", 0.2)
    launcher = launchers(monitor=False)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    run_id = adopt_fake_worker(launcher, run_store, config(), stubborn)
    launcher.stop(run_id, owner="alice")
    assert run_store.stop_requested(run_id)
    tick_until_ended(launcher, run_id, "the stubborn worker to be killed", TIMEOUT)
    info = run_store.read(run_id)
    assert info.status == "stopped" and "did not stop in time" in info.reason
    assert info.status_info["returncode"] == -signal.SIGKILL


@pytest.mark.parametrize("code, reason", [("print('ready', flush=True); raise SystemExit(3)", "exited with code 3"),
                                          ("import os; print('ready', flush=True); os.kill(os.getpid(), 15)", "signal 15 (SIGTERM)")],
                         ids=["exit-3", "sigterm"])
def test_a_worker_that_dies_is_marked_failed_with_the_reason(launchers, run_store, code, reason):
    launcher = launchers(monitor=False)
    run_id = adopt_fake_worker(launcher, run_store, config(), code)
    launcher._workers[run_id].process.wait(TIMEOUT)
    launcher.tick()
    info = run_store.read(run_id)
    assert info.status == "failed" and reason in info.reason and run_id not in launcher._workers


@pytest.mark.parametrize("owner_stops", [True, False], ids=["owner-stops-it", "monitor-ends-it"])
def test_a_hung_worker_does_not_hold_the_slot_forever(launchers, run_store, owner_stops):
    """A worker of ours that stopped beating (hung, or SIGSTOPped) reads interrupted; it must not keep its slot."""
    launcher = launchers(monitor=False)
    run_id = adopt_fake_worker(launcher, run_store, config(), "import time; print('ready', flush=True); time.sleep(600)")
    long_ago = time.time() - runs.STALE_SECONDS - 5
    run_store.write_status(run_id, "running", updated=long_ago)
    (run_store.path(run_id) / "heartbeat").write_text(json.dumps({"time": long_ago, "step": 3}))
    assert status_of(run_store, run_id) == "interrupted"
    process = launcher._workers[run_id].process
    try:
        if owner_stops:
            launcher.stop(run_id, owner="alice")  # What its owner does on seeing "interrupted".

        def freed():
            launcher.tick()
            return run_id not in launcher._workers and process.poll() is not None

        wait_for(freed, "the hung worker to be ended and its slot freed", timeout=30)
        info = run_store.read(run_id)
        if owner_stops:
            assert info.status == "stopped"
        else:
            assert info.status == "failed" and "stopped answering" in info.reason
    finally:
        process.kill()
        process.wait()
