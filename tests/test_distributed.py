"""Multi-worker training: TF_CONFIG parsing, one-line errors, and two real worker processes on localhost."""
import json
import os
import socket
import subprocess
import sys

import pytest

from cnn_core.cli import main
from cnn_core.worker.distributed import Cluster, read_cluster
from tests.conftest import ROOT, needs_data


def tf_config(workers, index, task_type="worker") -> dict:
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": task_type, "index": index}})}


def test_the_cluster_comes_from_tf_config():
    cluster = read_cluster(tf_config(["a:1", "b:2", "c:3"], 2))
    assert cluster == Cluster(("a:1", "b:2", "c:3"), 2) and not cluster.is_chief
    assert read_cluster(tf_config(["a:1"], 0)).is_chief


@pytest.mark.parametrize("environ,message", [
    ({}, "needs TF_CONFIG set on every worker"),
    ({"TF_CONFIG": "{not json"}, "not valid JSON"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}})}, "needs a 'cluster' and a 'task'"),
    ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "chief", "index": 0}})},
     "only 'worker' tasks"),
    (tf_config([], 0), "list of 'host:port' strings"),
    (tf_config(["a:1", "b:2"], 2), "'index': 0..1"),
    (tf_config(["a:1"], 0, task_type="ps"), "task must be"),
])
def test_a_bad_tf_config_says_what_is_wrong(environ, message):
    with pytest.raises(ValueError, match=message):
        read_cluster(environ)


def test_multi_worker_without_tf_config_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", "--strategy", "multi-worker", "--iterations", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "needs TF_CONFIG" in err and len(err.strip().splitlines()) == 1


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for open_socket in sockets:
        open_socket.bind(("localhost", 0))
    ports = [open_socket.getsockname()[1] for open_socket in sockets]
    for open_socket in sockets:
        open_socket.close()
    return ports


@pytest.mark.slow
@pytest.mark.multiworker
@needs_data
def test_two_local_workers_train_together_and_the_chief_saves_the_run(tmp_path):
    """Two real processes train 20 steps together on 1,000 images; the chief saves the run."""
    workers = [f"localhost:{port}" for port in free_ports(2)]
    command = [sys.executable, "-m", "cnn_core", "train", "--strategy", "multi-worker", "--architecture", "mlp",
               "--iterations", "20", "--batch-size", "40", "--train-images", "1000", "--lr", "0.003", "--json"]
    processes = []
    for index in range(2):
        env = {**os.environ, **tf_config(workers, index), "PYTHONPATH": str(ROOT),
               "CNN_RUNS_DIR": str(tmp_path / f"runs{index}")}
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    try:
        outputs = [process.communicate(timeout=150) for process in processes]
    finally:
        for process in processes:
            process.kill()
    (chief_out, chief_err), (other_out, other_err) = outputs
    assert processes[0].returncode == 0, chief_err[-2000:]
    assert processes[1].returncode == 0, other_err[-2000:]
    chief = json.loads(chief_out.strip().splitlines()[-1])
    assert chief["workers"] == 2 and chief["worker"] == 0 and chief["status"] == "completed"
    assert chief["steps"] == 20 and chief["device"] == "multi-worker" and chief["precision"] == "float32"
    assert chief["test_accuracy"] > 0.5  # 20 steps of 40 images: far above chance (0.1).
    assert json.loads(other_out.strip().splitlines()[-1]) == {"status": "completed", "workers": 2, "worker": 1}
    assert not (tmp_path / "runs1").exists()  # Only the chief writes a run.
    from cnn_core.common.runs import RunStore
    from cnn_core.worker.saving import load_model_file

    store = RunStore(tmp_path / "runs0")
    info = store.read(chief["run_id"])
    assert info.status == "completed" and info.has_model and info.config["train"]["strategy"] == "multi-worker"
    assert load_model_file(info.path / "model.keras").count_params() == chief["parameters"]
    assert len(store.read_predictions(chief["run_id"])) == 10_000
