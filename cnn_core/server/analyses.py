"""The runs' experiment files, computed after training in a process of their own. Never imports TensorFlow.

A worker that completes an MNIST run leaves ``analysis.json`` saying "queued" and exits, which
frees the training slot at once. On each tick the launcher hands the run list here, and one run at
a time, oldest first, gets ``python -m cnn_core.experiments.artifacts --run RUN_ID``: LiteRT and
NumPy, at the lowest CPU priority, so that it only takes what the next run's training leaves. The
queue is the run folders, as for training: a server restart loses nothing (an analysis whose
process is gone is queued again), and two servers on one folder decide under the same lock.
Each analysis has the server's bounds per run (``cnn_core.common.limits``): the kernel holds it to
the worker's memory bound, and one that runs past the run-length bound is ended and marked failed.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cnn_core.common.runs import RunError, RunInfo, RunStore

ROOT = Path(__file__).resolve().parents[2]
ANALYSIS_NICE = 19   # below the training worker's priority: the next run's steps come first
MAX_ANALYSES = 1     # at once: each one is a CPU-bound loop over thousands of test digits


@dataclass
class Analysis:
    run_id: str
    process: subprocess.Popen
    started: float


def pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError, OverflowError):
        return False
    return True


class Analyses:
    """The analysis processes one launcher started, and the choice of which run goes next."""

    def __init__(self, store: RunStore, environment: dict, death_reason, max_seconds: float | None = None):
        self.store, self.environment, self.death_reason = store, environment, death_reason
        self.max_seconds = max_seconds  # None: no bound on an analysis's time
        self.running: dict[str, Analysis] = {}

    def tick(self, runs: list[RunInfo]) -> None:
        """Reap finished analyses, then start the oldest queued one if a place is free (caller holds the folder lock)."""
        self._end_overdue()
        self._reap()
        if len(self.running) >= MAX_ANALYSES:
            return
        waiting = []
        for run in runs:
            if run.status != "completed" or run.run_id in self.running:
                continue
            record = self.store.read_analysis(run.run_id)
            if self._orphaned(record):
                record = {**record, "status": "queued"}
            if record.get("status") == "queued":
                waiting.append((record.get("updated") or 0.0, run.run_id))
        for _, run_id in sorted(waiting)[:MAX_ANALYSES - len(self.running)]:
            self._start(run_id)

    @staticmethod
    def _orphaned(record: dict) -> bool:
        """An analysis marked running by a process on this machine that no longer exists (a server restart)."""
        return (record.get("status") == "running" and record.get("host") == socket.gethostname()
                and not pid_alive(record.get("pid")))

    def _start(self, run_id: str) -> None:
        command = [sys.executable, "-m", "cnn_core.experiments.artifacts", "--run", run_id,
                   "--runs-dir", str(self.store.root.resolve()), "--nice", str(ANALYSIS_NICE)]
        try:
            with open(self.store.path(run_id) / "analysis.log", "ab") as log:
                process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                           start_new_session=True, env=self.environment)
        except OSError as error:
            self._mark_failed(run_id, f"could not start the analysis ({error.strerror})")
            return
        self.running[run_id] = Analysis(run_id, process, time.time())
        # Running from now, with the child's pid, so another server on this folder leaves it alone.
        self.store.write_analysis(run_id, "running", pid=process.pid, started=time.time())

    def _end_overdue(self) -> None:
        """End an analysis past the run-length bound; its run keeps its model, without experiment files."""
        if not self.max_seconds:
            return
        for run_id, analysis in self.running.items():
            if analysis.process.poll() is None and time.time() - analysis.started > self.max_seconds:
                analysis.process.kill()
                analysis.process.wait(10)
                self._mark_failed(run_id, f"the analysis ran past the server's bound of {self.max_seconds / 60:.0f} min "
                                          "per run and was ended")

    def _reap(self) -> None:
        for run_id, analysis in list(self.running.items()):
            returncode = analysis.process.poll()
            if returncode is None:
                continue
            del self.running[run_id]
            try:
                record = self.store.read_analysis(run_id)
            except (RunError, OSError):
                continue  # The run was deleted meanwhile.
            if record.get("status") == "running":  # It died before it could say so itself.
                self._mark_failed(run_id, self.death_reason(returncode, "analysis"))

    def _mark_failed(self, run_id: str, reason: str) -> None:
        try:
            self.store.write_analysis(run_id, "failed", reason=reason)
        except (RunError, OSError):
            pass

    def close(self) -> None:
        """End this launcher's analyses; their runs are queued again for the next server."""
        for run_id, analysis in list(self.running.items()):
            if analysis.process.poll() is None:
                analysis.process.kill()
                analysis.process.wait(10)
            del self.running[run_id]
            try:
                self.store.write_analysis(run_id, "queued")
            except (RunError, OSError):
                pass
