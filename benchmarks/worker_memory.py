"""Peak memory of one training worker, as the web server runs it: training, then the run's analysis.

    python benchmarks/worker_memory.py [--steps 300] [--repeats 2]

Queues a seed-network run of ``--steps`` steps (the seed's batch of 50) in a temporary runs folder,
runs ``python -m cnn_core.worker RUN_ID`` on it with the launcher's environment, and reports the
worker's peak resident memory (the kernel's high-water mark, from ``wait4``), its wall time, and
the analysis steps it logged. On Streamlit Community Cloud (1-3 GB) this peak plus the server's
own ~300 MB is what has to fit.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnn_core.common.config import ModelConfig, TrainConfig  # noqa: E402
from cnn_core.common.runs import RunStore  # noqa: E402
from cnn_core.server.launcher import worker_environment  # noqa: E402
from cnn_core.worker.devices import hardware_line  # noqa: E402


def one_worker(steps: int) -> dict:
    """Run one worker to the end; its peak RSS in MB, wall seconds, status and analysis log lines."""
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        config = {"model": ModelConfig().to_dict(), "train": TrainConfig(iterations=steps).to_dict()}
        run_id = store.create(config)
        began = time.perf_counter()
        with open(store.path(run_id) / "worker.log", "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "cnn_core.worker", run_id, "--runs-dir",
                                        str(store.root)], cwd=ROOT, stdout=log, stderr=log, env=worker_environment())
            _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        lines = (store.path(run_id) / "worker.log").read_text(errors="replace").splitlines()
        return {"peak_mb": round(usage.ru_maxrss / 1024, 1), "wall_s": round(wall, 1),
                "exit": os.waitstatus_to_exitcode(status), "status": store.read(run_id).status,
                "analysis": [line for line in lines if line.startswith("analysis")]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"hardware: {hardware_line()}", flush=True)
    runs = []
    for _ in range(args.repeats):
        runs.append(one_worker(args.steps))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"steps": args.steps, "peak_mb": [run["peak_mb"] for run in runs],
                      "median_peak_mb": statistics.median(run["peak_mb"] for run in runs)}), flush=True)
    return 0 if all(run["status"] == "completed" for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
