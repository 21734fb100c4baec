"""Peak memory of one training worker, as the web server runs it: training, then the run's analysis.

    python benchmarks/worker_memory.py [--steps 300] [--repeats 2]
    python benchmarks/worker_memory.py --largest [--steps 30]

Queues a seed-network run of ``--steps`` steps (the seed's batch of 50) in a temporary runs folder,
runs ``python -m cnn_core.worker RUN_ID`` on it with the launcher's environment, and reports the
worker's peak resident memory (the kernel's high-water mark, from ``wait4``), its wall time, and
the analysis steps it logged. On Streamlit Community Cloud (1-3 GB) this peak plus the server's
own ~300 MB is what has to fit.

--largest runs, instead, the runs at the edges of what a public server accepts
(``cnn_core.common.limits``, CNN_LIMITS=public): the seed network, a wide CNN, a compute-heavy CNN
and the MLP of the parameter bound, each at the largest batch its memory estimate lets through,
for ``--steps`` steps on Fashion-MNIST (which has no experiment files to compute after), each with
its estimate beside its measured peak; the worker's own memory bound (RLIMIT_DATA) applies.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnn_core.common.config import ModelConfig, TrainConfig  # noqa: E402
from cnn_core.common.runs import RunStore  # noqa: E402
from cnn_core.server.launcher import worker_environment  # noqa: E402
from cnn_core.worker.devices import hardware_line  # noqa: E402


def one_worker(steps: int, model: ModelConfig | None = None, train: TrainConfig | None = None) -> dict:
    """Run one worker to the end; its peak RSS in MB, wall seconds, status and analysis log lines."""
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        config = {"model": (model or ModelConfig()).to_dict(), "train": (train or TrainConfig(iterations=steps)).to_dict()}
        run_id = store.create(config)
        began = time.perf_counter()
        with open(store.path(run_id) / "worker.log", "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "cnn_core.worker", run_id, "--runs-dir",
                                        str(store.root)], cwd=ROOT, stdout=log, stderr=log, env=worker_environment())
            data = DataPeak(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        lines = (store.path(run_id) / "worker.log").read_text(errors="replace").splitlines()
        info = store.read(run_id)
        return {"peak_mb": round(usage.ru_maxrss / 1024, 1), "peak_data_mb": data.stop(), "wall_s": round(wall, 1),
                "exit": os.waitstatus_to_exitcode(status), "status": info.status, "reason": info.reason[:200],
                "analysis": [line for line in lines if line.startswith("analysis")]}


class DataPeak:
    """The peak of a process's VmData (what RLIMIT_DATA bounds: its heap and private mappings, resident
    or not), sampled ten times a second until it exits."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.1):
            try:
                line = next(line for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                            if line.startswith("VmData:"))
                self.peak = max(self.peak, int(line.split()[1]) / 1024)
            except (OSError, StopIteration, ValueError):
                pass

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return round(self.peak, 1)


EDGES = {  # network -> the batch is the largest its estimate lets through on a public server
    "seed CNN": ModelConfig(),
    "wide CNN conv5x5 64-64, dense 1024": ModelConfig(conv_channels=(64, 64), kernel_size=5, hidden_units=1024),
    "compute-heavy CNN conv5x5 32-32-32, pool 1": ModelConfig(conv_channels=(32, 32, 32), kernel_size=5, pool_size=1),
    "MLP 784-6280-10": ModelConfig(architecture="mlp", hidden_units=6280),
}


def largest(steps: int) -> int:
    """The --largest mode: each edge of the public bounds, its estimate and its measured peak."""
    from cnn_core.common.limits import PROFILES, estimate, largest_batch

    bounds, rows = PROFILES["public"], []
    for name, model in EDGES.items():
        base = TrainConfig(dataset="fashion-mnist", iterations=steps, eval_every=steps)
        batch = min(4096, largest_batch(model, base, bounds.worker_memory_mb))
        train = TrainConfig(dataset="fashion-mnist", iterations=steps, eval_every=steps, batch_size=batch)
        assert bounds.check(model, train) == {}, (name, bounds.check(model, train))
        result = one_worker(steps, model, train)
        rows.append({"network": name, "batch": batch, "parameters": model.parameter_count(),
                     "estimate_mb": round(estimate(model, train).memory_mb), **result})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"limit_mb": bounds.worker_memory_mb, "peaks_mb": [row["peak_mb"] for row in rows],
                      "largest_peak_mb": max(row["peak_mb"] for row in rows)}), flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--largest", action="store_true", help="the edges of a public server's bounds instead")
    args = parser.parse_args()
    print(f"hardware: {hardware_line()}", flush=True)
    if args.largest:
        return largest(args.steps)
    runs = []
    for _ in range(args.repeats):
        runs.append(one_worker(args.steps))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"steps": args.steps, "peak_mb": [run["peak_mb"] for run in runs],
                      "median_peak_mb": statistics.median(run["peak_mb"] for run in runs)}), flush=True)
    return 0 if all(run["status"] == "completed" for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
