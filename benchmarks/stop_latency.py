"""How long a running job takes to stop after ``stop()``: seconds from the request to its last record.

Wall-clock figures depend on the machine and its load, so they live here rather than in the unit
tests. Run: ``python benchmarks/stop_latency.py [--repeats 5] [--budget 1.0]``; prints one JSON line
and exits 1 if the median is over the budget.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core.common.config import ModelConfig, TrainConfig  # noqa: E402
from cnn_core.common.runs import RunStore  # noqa: E402
from cnn_core.worker.devices import hardware_line  # noqa: E402
from cnn_core.worker.job import TrainingJob  # noqa: E402


def one_stop(store: RunStore) -> float:
    """Seconds between asking a job to stop and the elapsed time of its last record."""
    config = TrainConfig(iterations=100_000, batch_size=20, learning_rate=3e-3, eval_every=10_000,
                         eval_images=200, train_images=600)
    job = TrainingJob(ModelConfig(conv_channels=(8, 16), hidden_units=32), config, store).start()
    while len(job.records_since(0)) < 3:
        time.sleep(0.05)
    asked = time.perf_counter()
    job.stop()
    assert job.wait(120) and job.status == "stopped", job.reason
    return job.records_since(0)[-1].elapsed - (asked - job._started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds the median may take")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        seconds = [one_stop(RunStore(folder)) for _ in range(args.repeats)]
    median = statistics.median(seconds)
    print(json.dumps({"hardware": hardware_line(), "stop_seconds": [round(s, 3) for s in seconds],
                      "median": round(median, 3), "budget": args.budget}))
    return 0 if median <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
