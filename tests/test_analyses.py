"""A run's experiment files, computed after its worker exits by a process of their own (cnn_core.server.analyses)."""
import os
import signal
import socket

import pytest

from cnn_core.common.runs import RunStore
from cnn_core.server.launcher import Launcher
from tests.conftest import needs_data
from tests.support import app_on, completed_run, poll, texts

EXPERIMENT_FILES = ("neighbours.npz", "novelty.json", "ablation.json", "robustness.json")


@pytest.fixture
def launcher(run_store):
    launcher = Launcher(run_store, monitor=False)
    yield launcher
    launcher.close()


def ticked(launcher, condition):
    """A condition that ticks the launcher each time it is asked (it has no monitor thread here)."""
    def check():
        launcher.tick()
        return condition()
    return check


@needs_data
@pytest.mark.slow
def test_a_queued_analysis_runs_in_its_own_process_and_writes_the_files(launcher, run_store, tiny_models):
    run_id = completed_run(run_store, tiny_models.cnn, accuracy=0.5)
    run_store.write_analysis(run_id, "queued")
    launcher.tick()
    analysis = launcher.analyses.running[run_id].process
    assert run_store.read_analysis(run_id)["pid"] == analysis.pid != os.getpid()
    assert launcher.running() == []  # no training slot is taken
    poll(ticked(launcher, lambda: run_id not in launcher.analyses.running), 300, "the analysis to finish")
    record = run_store.read_analysis(run_id)
    assert record["status"] == "completed", (run_store.path(run_id) / "analysis.log").read_text()[-2000:]
    assert all((run_store.path(run_id) / name).is_file() for name in EXPERIMENT_FILES)


def test_runs_without_a_queued_analysis_are_left_alone(launcher, run_store, tiny_models):
    plain = completed_run(run_store, tiny_models.cnn)  # a shipped-style run, or one from an older version
    done = completed_run(run_store, tiny_models.cnn)
    run_store.write_analysis(done, "completed")
    launcher.tick()
    assert launcher.analyses.running == {} and run_store.read_analysis(plain) == {}


@needs_data
@pytest.mark.slow
def test_an_analysis_that_dies_is_marked_failed_with_the_reason(launcher, run_store, tiny_models):
    run_id = completed_run(run_store, tiny_models.cnn)
    run_store.write_analysis(run_id, "queued")
    launcher.tick()
    launcher.analyses.running[run_id].process.send_signal(signal.SIGKILL)
    poll(ticked(launcher, lambda: run_store.read_analysis(run_id)["status"] == "failed"), 60, "the failure to be noticed")
    assert "the analysis was killed by signal 9" in run_store.read_analysis(run_id)["reason"]


@needs_data
@pytest.mark.slow
def test_broken_model_files_make_the_analysis_fail_not_the_run(launcher, run_store, tiny_models):
    run_id = completed_run(run_store, tiny_models.cnn)
    (run_store.path(run_id) / "model.tflite").write_bytes(b"no flatbuffer here" * 50)
    run_store.write_analysis(run_id, "queued")
    launcher.tick()
    poll(ticked(launcher, lambda: run_id not in launcher.analyses.running), 120, "the analysis to end")
    assert run_store.read_analysis(run_id)["status"] == "failed" and "model.tflite" in run_store.read_analysis(run_id)["reason"]
    assert run_store.read(run_id).status == "completed"


def test_an_analysis_left_running_by_a_dead_server_is_queued_again(run_store, tiny_models, monkeypatch):
    from cnn_core.server import analyses

    run_id = completed_run(run_store, tiny_models.cnn)
    run_store.write_analysis(run_id, "running", pid=2**22 + 12345, host=socket.gethostname())  # no such process
    started = []
    monkeypatch.setattr(analyses.Analyses, "_start", lambda self, rid: started.append(rid))
    launcher = Launcher(run_store, monitor=False)
    launcher.tick()
    assert started == [run_id]
    # One running on another machine sharing the folder is that machine's to finish.
    run_store.write_analysis(run_id, "running", pid=2**22 + 12345, host="another-host")
    launcher.tick()
    assert started == [run_id]


def test_closing_the_server_queues_its_analyses_again(run_store, tiny_models):
    launcher = Launcher(run_store, monitor=False)
    run_id = completed_run(run_store, tiny_models.cnn)
    run_store.write_analysis(run_id, "queued")
    launcher.tick()
    assert run_id in launcher.analyses.running
    launcher.close()
    assert run_store.read_analysis(run_id)["status"] == "queued"


@needs_data
def test_the_experiments_page_says_the_files_are_being_prepared(runs_dir, tiny_models):
    store = RunStore(runs_dir)
    run_id = completed_run(store, tiny_models.cnn, accuracy=0.5)
    store.write_analysis(run_id, "running", pid=os.getpid())  # alive: nobody restarts it
    app = app_on("pages/experiments.py", session={"model_key": run_id})
    assert not app.exception, app.exception
    assert "being prepared" in texts(app)
    assert "experiments_ranking" not in " ".join(chart.proto.id for chart in app.get("plotly_chart"))


def test_an_analysis_past_the_run_length_bound_is_ended_and_marked_failed(run_store, tiny_models):
    import subprocess
    import sys
    import time

    from cnn_core.server.analyses import Analyses, Analysis

    run_id = completed_run(run_store, tiny_models.cnn)
    analyses = Analyses(run_store, {}, lambda code: f"exited {code}", max_seconds=0.5)
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    analyses.running[run_id] = Analysis(run_id, stuck, time.time() - 1)
    run_store.write_analysis(run_id, "running", pid=stuck.pid)
    analyses.tick([run_store.read(run_id)])
    assert stuck.poll() is not None and run_id not in analyses.running
    record = run_store.read_analysis(run_id)
    assert record["status"] == "failed" and "past the server's bound" in record["reason"]
