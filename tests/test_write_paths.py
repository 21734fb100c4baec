"""Every write the server makes (launch, stop, delete, the queue) meets a full disk or a read-only
folder with a message and no half-made folder, and a worker that dies for any reason leaves its run
marked failed with the reason, even when it could not write its status itself.

The full disk is simulated twice: by an OSError(ENOSPC) from the write itself, and where this
machine allows it, by a real tmpfs of a few kilobytes (and one remounted read-only under a worker).
"""
import contextlib
import errno
import json
import os
import subprocess
import sys
import uuid

import pytest

from cnn_core.common import runs
from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.common.runs import RunError, RunStore
from cnn_core.server.launcher import Launcher, LaunchRefused, Worker
from tests.conftest import needs_data
from tests.support import adopt_fake_worker, app_on, poll

TINY = TrainConfig(iterations=40, train_images=500, batch_size=50, eval_every=20, eval_images=200)
LONG = TrainConfig(iterations=20_000, train_images=500, batch_size=50, eval_every=20, eval_images=200)


def config(train=TINY) -> dict:
    return {"model": ModelConfig().to_dict(), "train": train.to_dict()}


def entries(store) -> list[str]:
    """Everything in the runs folder, hidden entries included, but the launcher's lock."""
    return sorted(p.name for p in store.root.iterdir() if p.name != ".launcher.lock") if store.root.is_dir() else []


def failing(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs of that size (bytes) under tmp_path; skips where mounting is not allowed."""
    mounted = []

    def mount(size: int):
        point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()[:80]})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(folder) -> None:
    """Write until the disk is full."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as out:
        while True:
            out.write(bytes(4096))
            out.flush()


def test_a_launch_on_a_full_disk_is_a_message_and_leaves_no_folder(run_store, monkeypatch):
    run_store.root.mkdir(parents=True)
    launcher = Launcher(run_store, monitor=False)
    monkeypatch.setattr(os, "fdopen", failing(errno.ENOSPC))  # every atomic write of the run's files
    with pytest.raises(LaunchRefused, match="No run was queued: the server's disk is full"):
        launcher.submit(ModelConfig(), TINY, owner="alice")
    assert entries(run_store) == []
    launcher.close()


def test_a_launch_into_a_read_only_folder_is_a_message(run_store, monkeypatch):
    run_store.root.mkdir(parents=True)
    launcher = Launcher(run_store, monitor=False)
    monkeypatch.setattr(os, "rename", failing(errno.EROFS))
    with pytest.raises(LaunchRefused, match="read-only"):
        launcher.submit(ModelConfig(), TINY, owner="alice")
    assert entries(run_store) == []
    launcher.close()


def test_a_real_full_disk(tmpfs):
    store = RunStore(tmpfs(64 * 1024) / "runs")
    store.root.mkdir()
    fill(store.root)
    launcher = Launcher(store, monitor=False)
    with pytest.raises(LaunchRefused, match="No run was queued: the server's disk is full"):
        launcher.submit(ModelConfig(), TINY, owner="alice")
    assert entries(store) == ["filler"]
    launcher.close()


@needs_data
def test_the_train_page_says_the_disk_is_full(runs_dir, monkeypatch):
    app = app_on("pages/train.py")
    monkeypatch.setattr(os, "fdopen", failing(errno.ENOSPC))
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    assert any("the server's disk is full" in box.value for box in app.warning), [w.value for w in app.warning]
    assert [p.name for p in runs_dir.iterdir() if p.name != ".launcher.lock"] == []


def test_delete_and_stop_on_a_read_only_folder_say_so_and_change_nothing(run_store, monkeypatch):
    launcher = Launcher(run_store, monitor=False)
    done = run_store.create(config(), owner="alice")
    run_store.write_status(done, "failed", reason="test")
    queued = run_store.create(config(), owner="alice")
    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", failing(errno.EROFS))
        with pytest.raises(RunError, match="could not be deleted: the server's runs folder is read-only"):
            launcher.delete(done, owner="alice")
    assert run_store.read(done).status == "failed"
    import tempfile

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", failing(errno.EROFS))
        with pytest.raises(RunError, match="could not be stopped: the server's runs folder is read-only"):
            launcher.stop(queued, owner="alice")
    assert run_store.read(queued).status == "queued"
    launcher.close()


def test_a_delete_that_fails_half_way_leaves_no_half_a_run(run_store, monkeypatch):
    run_id = run_store.create(config(), owner="alice")
    run_store.write_status(run_id, "failed", reason="test")
    import shutil

    real = shutil.rmtree
    monkeypatch.setattr(shutil, "rmtree", lambda path, ignore_errors=False: None)  # removes nothing
    run_store.delete(run_id)
    assert run_store.list_runs() == ([], []) and any(name.startswith(".deleted-") for name in entries(run_store))
    monkeypatch.setattr(shutil, "rmtree", real)
    run_store.empty_trash()
    assert entries(run_store) == []


def test_a_dead_worker_whose_folder_cannot_be_written_is_still_marked_failed(run_store, monkeypatch):
    launcher = Launcher(run_store, monitor=False)
    run_id = adopt_fake_worker(launcher, run_store, config(), "import os; print('ready', flush=True); os.kill(os.getpid(), 9)")
    launcher._workers[run_id].process.wait(30)
    real_write = runs.atomic_write_json

    def read_only_run(path, value):  # The run folder is read-only; the folder beside it is not.
        if path.parent.name == run_id:
            raise OSError(errno.EROFS, "Read-only file system")
        real_write(path, value)

    monkeypatch.setattr(runs, "atomic_write_json", read_only_run)
    launcher.tick()
    assert json.loads((run_store.path(run_id) / "status.json").read_text())["status"] == "running"
    info = run_store.read(run_id)
    assert info.status == "failed" and "signal 9" in info.reason
    assert RunStore(run_store.root).read(run_id).status == "failed"  # Another server reads it too.

    monkeypatch.setattr(runs, "atomic_write_json", real_write)
    second = adopt_fake_worker(launcher, run_store, config(), "print('ready', flush=True); raise SystemExit(1)")
    launcher._workers[second].process.wait(30)
    monkeypatch.setattr(runs, "atomic_write_json", failing(errno.ENOSPC))  # Nowhere to write at all now.
    launcher.tick()
    assert run_store.read(second).status == "failed" and "exited with code 1" in run_store.read(second).reason
    launcher.close()


def test_a_worker_log_says_why_it_died(run_store):
    launcher = Launcher(run_store, monitor=False)
    code = "import sys; print('ready', flush=True); print('worker failed: the server\\'s disk is full (OSError)', file=sys.stderr); raise SystemExit(1)"
    run_id = run_store.create(config(), owner="alice")
    run_store.write_status(run_id, "running")
    with open(run_store.path(run_id) / "worker.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout.readline().strip() == "ready"
    launcher._workers[run_id] = Worker(run_id, process)
    process.wait(30)
    launcher.tick()
    info = run_store.read(run_id)
    assert info.status == "failed" and info.reason.endswith("before finishing: the server's disk is full (OSError)")
    launcher.close()


@contextlib.contextmanager
def read_only(folder):
    """``folder`` made read-only (for root too) by bind-mounting it read-only onto itself; files already
    open for writing (the worker's log) stay writable. Skips where mounting is not allowed."""
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bound.stderr.strip()[:80]})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@needs_data
@pytest.mark.slow
def test_a_run_folder_made_read_only_mid_run_reads_failed_with_the_reason(run_store):
    """Issue 19: the worker died within a second, the page said "running" for 10 s, then
    "interrupted", and status.json said "running" for good."""
    launcher = Launcher(run_store)
    run_id = launcher.submit(ModelConfig(), LONG, owner="alice")
    folder = run_store.path(run_id)
    try:
        poll(lambda: run_store.read_history(run_id), 300, "the first progress record",
             details=lambda: (folder / "worker.log").read_text(errors="replace")[-2000:])
        with read_only(folder):
            info = poll(lambda: (lambda i: i if i.status not in ("queued", "running") else None)(run_store.read(run_id)),
                        30, "the run to read as ended")
            assert json.loads((folder / "status.json").read_text())["status"] == "running"  # It could not say.
        assert info.status == "failed", info.status_info
        assert "read-only" in info.reason, info.reason
        assert RunStore(run_store.root).read(run_id).status == "failed"  # A restarted server still knows.
        assert launcher.running() == []
    finally:
        launcher.close()
