"""The training worker: one process per run, started by the web server's launcher (or by hand).

    python -m cnn_core.worker RUN_ID [--runs-dir runs] [--nice 10]

It trains the run whose folder the launcher made (config.json, status "queued"), and writes
everything the pages show into that folder: the append-only history, a heartbeat twice a second,
the final metrics, the Keras model and the LiteRT artifacts. It stops, saving what it has learned,
when a ``stop`` file appears in the folder or on SIGTERM. The web server never imports TensorFlow:
this process does, and gives every byte of memory (GPU memory too) back when it exits. A completed
MNIST run is left with ``analysis.json`` saying "queued": its experiment files are computed by a
lighter process the launcher starts after this one exits, so the next run need not wait for them.

Its memory is bounded by the kernel to the server's bound per run (``cnn_core.common.limits``,
``$CNN_LIMITS``) before TensorFlow loads, so a run that needs more fails alone, as "out of memory".
When the folder cannot be written (a full disk, made read-only) it says why on stderr, which the
launcher keeps in worker.log and reads back for the run's reason.

Exit status: 0 when the run completed or was stopped, 1 when it failed, 2 for a bad run id.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from cnn_core.common.limits import active_limits, apply_memory_limit
from cnn_core.common.runs import HEARTBEAT_SECONDS, RunError, RunStore, check_config, disk_problem, read_json


class Heartbeat(threading.Thread):
    """Writes the heartbeat and watches for a stop request until the job ends."""

    def __init__(self, store: RunStore, job):
        super().__init__(name="heartbeat", daemon=True)
        self.store, self.job = store, job
        self.stopping = False
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(HEARTBEAT_SECONDS):
            if not self.stopping and self.store.stop_requested(self.job.run_id):
                self.stop()
            latest = self.job.latest()
            try:
                self.store.beat(self.job.run_id, step=latest.step if latest else 0, stopping=self.stopping)
            except OSError:
                pass  # The folder was removed under us; the job's own writes will fail and say so.

    def stop(self) -> None:
        self.stopping = True
        self.job.stop()


def train_run(store: RunStore, run_id: str) -> int:
    """Train the queued run ``run_id`` in this process; the exit status for the worker."""
    from cnn_core.common.config import ModelConfig, TrainConfig
    from cnn_core.worker.commands import quiet_tensorflow
    from cnn_core.worker.job import TrainingJob

    config = read_json(store.path(run_id) / "config.json")
    check_config(config)
    store.write_status(run_id, "running", reason="starting: loading TensorFlow and the data")
    quiet_tensorflow()
    job = TrainingJob(ModelConfig.from_dict(config["model"]), TrainConfig.from_dict(config["train"]),
                      store, run_id=run_id)
    heartbeat = Heartbeat(store, job)
    signal.signal(signal.SIGTERM, lambda *_: heartbeat.stop())
    store.beat(run_id, step=0, stopping=False)
    heartbeat.start()
    try:
        # Queued before the final status, so that no reader ever sees a completed run without it.
        job.on_completed = lambda: queue_analysis(store, run_id, job.train_config.dataset)
        job.run()
    finally:
        heartbeat.done.set()
    return 1 if job.status == "failed" else 0


def queue_analysis(store: RunStore, run_id: str, dataset_name: str) -> None:
    """Ask for the run's experiment files (nearest training digits, the "looks like a digit"
    calibration, the filter ranking, robustness curves): the launcher starts the process that writes
    them once this worker has exited. Only for MNIST: the non-digit calibration means nothing for clothes."""
    if dataset_name == "mnist":
        store.write_analysis(run_id, "queued")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnn_core.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--runs-dir", default=None, help="the runs folder (default: $CNN_RUNS_DIR or runs/)")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by N")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    try:
        limit_memory()
    except ValueError as error:  # A bad $CNN_LIMITS value.
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = RunStore(args.runs_dir)
    try:
        store.path(args.run_id)
        return train_run(store, args.run_id)
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # The folder went away or became unwritable: the launcher reads this line.
        print(f"worker failed: {disk_problem(error)} ({type(error).__name__}: {error.strerror})",
              file=sys.stderr, flush=True)
        return 1


def limit_memory() -> None:
    """The server's memory bound per run, enforced by the kernel from here on (before TensorFlow loads)."""
    apply_memory_limit(active_limits().worker_memory_mb)


if __name__ == "__main__":
    sys.exit(main())
