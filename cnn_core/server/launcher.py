"""The web server's training queue: run folders in, worker processes out. Never imports TensorFlow.

    launcher = Launcher(RunStore(), max_running=1)
    run_id = launcher.submit(model_config, train_config, owner=token)   # LaunchRefused if over a limit
    launcher.stop(run_id, owner=token)                                  # PermissionError if not theirs

The queue is the run folders themselves: a submitted run is a folder with status "queued", and a
monitor thread starts the oldest one as ``python -m cnn_core.worker RUN_ID`` (at a lower CPU
priority) whenever fewer than ``max_running`` runs are training. So queued runs survive a server
restart (the next server starts them), and a run launched from the command line into the same
folder counts against the same limit. The monitor also notices a worker that died (kill -9, out of
memory, a crash) within a second and marks its run failed with the reason, and kills a worker that
does not answer a stop request. Once a worker has exited, the experiment files of its run are
computed by a lighter process beside the training slots (``cnn_core.server.analyses``).

Limits, each with a message that says what to do: one waiting run per visitor, ``max_waiting`` in
all, ``max_runs`` saved runs with results on disk (a visitor's stopped or failed runs without
results count against that visitor alone: only the last EMPTY_RUNS_KEPT are kept), and the
server's bounds per run (``cnn_core.common.limits``): a run over them is refused, one that trains
past its time is stopped (keeping what it learned), one whose memory passes the bound is ended
and marked "failed: out of memory". Only the visitor who launched a run (its owner token) or a
presenter may stop or delete it. A full disk or a read-only runs folder is a message, never a
half-made folder, and a run whose worker died is marked failed even when its folder cannot be
written (``RunStore.settle``).

Two servers may share one runs folder: each decides what to start, and starts it, holding an
exclusive lock on ``.launcher.lock`` in the folder, so a queued run gets one worker, never two.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock; run one server per runs folder there.
    fcntl = None

from cnn_core.common import limits as bounds
from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.common.runs import ACTIVE, RunError, RunInfo, RunStore, disk_problem
from cnn_core.server.analyses import Analyses
from cnn_core.server.guards import counts_as_saved, disk_errors_as_run_errors, logged_reason, resident_mb

ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.5        # how often the monitor reaps, starts and enforces stops
STOP_ACK_SECONDS = 3.0    # a worker that has not acknowledged a stop by then is killed
STOP_SAVE_SECONDS = 90.0  # one that acknowledged gets this long to save what it learned
WORKER_NICE = 10
EMPTY_RUNS_KEPT = 3       # a visitor's ended runs without results kept (older ones go at their next launch)
MEMORY_SLACK_MB = 256     # over the bound in resident memory (shared libraries, which RLIMIT_DATA leaves out)


class LaunchRefused(Exception):
    """A submit over a limit; the message is for the visitor."""


@dataclass
class Worker:
    """A worker process this server started."""

    run_id: str
    process: subprocess.Popen
    stop_asked: float | None = None
    hung: bool = False              # its heartbeat went stale while the process lived on
    started: float = field(default_factory=time.time)
    over_time: bool = False         # stopped for running past the bound on a run's length
    memory_mb: float = 0.0          # the resident memory it was ended at, past the bound
    peak_mb: float = 0.0            # the most resident memory seen, once a tick


def worker_environment() -> dict:
    """The server's environment, with glibc held to two malloc arenas: TensorFlow's many threads
    otherwise each grow one, which raises a worker's peak memory (``benchmarks/worker_memory.py``)."""
    return {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def death_reason(returncode: int, process: str = "worker") -> str:
    """Why ``process`` (the worker, or the analysis after it) ended without saying so itself."""
    if returncode < 0:
        hint = " (out of memory, or killed by hand)" if -returncode == signal.SIGKILL else ""
        return f"the {process} was killed by signal {-returncode} ({signal_name(-returncode)}){hint}"
    return f"the {process} exited with code {returncode} before finishing"


@contextlib.contextmanager
def folder_lock(root: Path):
    """Held by one process at a time (an flock on ``root/.launcher.lock``; the kernel drops it if
    the holder dies), so that two servers on one runs folder take turns to start workers."""
    if fcntl is None:
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".launcher.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Launcher:
    """Runs queued run folders in worker processes, at most ``max_running`` at once."""

    def __init__(self, store: RunStore | None = None, max_running: int = 1, max_waiting: int = 5,
                 max_runs: int = 100, nice: int = WORKER_NICE, monitor: bool = True,
                 limits: bounds.Limits | None = None):
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1, got {max_running}")
        self.store = store or RunStore()
        self.max_running, self.max_waiting, self.max_runs, self.nice = max_running, max_waiting, max_runs, nice
        self.limits = limits if limits is not None else bounds.active_limits()
        self._workers: dict[str, Worker] = {}
        self.analyses = Analyses(self.store, worker_environment(), death_reason, self.limits.max_run_seconds)
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._clean_all_debris()
        if monitor:
            threading.Thread(target=self._monitor, name="launcher", daemon=True).start()

    def _clean_all_debris(self) -> None:
        """Remove what interrupted saves left in finished runs (a server restart is when they are found)."""
        for run in self.store.list_runs()[0]:
            if run.status not in ACTIVE:
                try:
                    self.store.clean_debris(run.run_id)
                except (OSError, RunError):
                    pass

    # What visitors do.
    def submit(self, model_config: ModelConfig, train_config: TrainConfig, owner: str | None = None) -> str:
        """Queue a run (a folder with status "queued") and start it if a slot is free.

        LaunchRefused says why a run is not queued: over a limit, or a disk that cannot take it."""
        over = self.limits.check(model_config, train_config)
        if over:
            raise LaunchRefused("This run is over this server's bounds: " + " ".join(
                message[:1].upper() + message[1:] for message in over.values()))
        with self._lock:
            try:
                with folder_lock(self.store.root):  # The limits hold with two servers on one folder too.
                    runs, _ = self.store.list_runs()
                    queued = [run for run in runs if run.status == "queued"]
                    if owner and any(self.store.is_owner(run.run_id, owner) for run in queued):
                        raise LaunchRefused("You already have a run waiting in the queue; it starts when the one "
                                            "ahead of it ends. Stop it first to launch a different one.")
                    if len(queued) >= self.max_waiting:
                        raise LaunchRefused(f"The queue is full ({len(queued)} runs waiting). Try again when one "
                                            "has started, or watch the runs already training.")
                    kept = [run for run in runs if counts_as_saved(run)]
                    if len(kept) >= self.max_runs:
                        raise LaunchRefused(f"This server keeps at most {self.max_runs} saved runs and has "
                                            f"{len(kept)}. Delete runs you no longer need, then launch again.")
                    self._prune_empty_runs(runs, owner)
                    config = {"model": model_config.to_dict(), "train": train_config.to_dict()}
                    run_id = self.store.create(config, owner=owner)
            except (RunError, OSError) as error:  # A full disk or a read-only runs folder.
                raise LaunchRefused(str(error) if isinstance(error, RunError)
                                    else f"No run was queued: {disk_problem(error)}.") from None
            self.tick()  # Takes the folder lock itself (an flock is not re-entrant across opens).
            return run_id

    def _prune_empty_runs(self, runs: list[RunInfo], owner: str | None) -> None:
        """Delete this owner's oldest ended runs without results beyond EMPTY_RUNS_KEPT - 1, making room
        for the one being queued: a visitor who launches and stops again and again fills only their own space."""
        if not owner:
            return
        empty = [run for run in runs if not counts_as_saved(run) and self.store.is_owner(run.run_id, owner)]
        for run in sorted(empty, key=lambda run: run.run_id, reverse=True)[EMPTY_RUNS_KEPT - 1:]:
            try:
                self.store.delete(run.run_id)
            except RunError:
                pass  # Kept for now; it still counts against nobody's limit but its owner's.

    def may_manage(self, run_id: str, owner: str | None, presenter: bool = False) -> bool:
        return presenter or self.store.is_owner(run_id, owner)

    def stop(self, run_id: str, owner: str | None = None, presenter: bool = False) -> None:
        """Stop a training run, or take a queued one out of the queue."""
        if not self.may_manage(run_id, owner, presenter):
            raise PermissionError("Only the visitor who launched this run, or the presenter, can stop it.")
        with self._lock, disk_errors_as_run_errors("stopped"):
            info = self.store.read(run_id)
            worker = self._workers.get(run_id)
            if info.status == "queued" and worker is None:
                self.store.write_status(run_id, "stopped", reason="removed from the queue before it started")
                return
            # A worker of ours that went silent reads "interrupted" but still holds its slot: stop it too.
            if info.status not in ACTIVE and (worker is None or worker.process.poll() is not None):
                return
            self.store.request_stop(run_id)
            if worker is not None and worker.stop_asked is None:
                worker.stop_asked = time.time()
                worker.process.send_signal(signal.SIGTERM)

    def delete(self, run_id: str, owner: str | None = None, presenter: bool = False) -> None:
        """Delete a finished run's folder."""
        self.store.read(run_id)  # RunError "there is no run ..." when another tab deleted it already.
        if not self.may_manage(run_id, owner, presenter):
            raise PermissionError("Only the visitor who launched this run, or the presenter, can delete it.")
        with self._lock:
            if self.store.read(run_id).status in ACTIVE:
                raise RunError("Stop this run before deleting it.")
            self.store.delete(run_id)  # RunError, not a half-deleted folder, on a read-only disk.

    # What the pages read.
    def queue(self, runs: list[RunInfo] | None = None) -> list[RunInfo]:
        """The waiting runs (of ``runs``, or of the folder now), first in line first."""
        runs = self.store.list_runs()[0] if runs is None else runs
        waiting = [run for run in runs if run.status == "queued" and run.run_id not in self._workers]
        return sorted(waiting, key=lambda run: run.status_info.get("queued_at") or 0.0)

    def running(self, runs: list[RunInfo] | None = None) -> list[RunInfo]:
        """Runs training now (of ``runs``, or of the folder now), by our workers or any other live worker."""
        runs = self.store.list_runs()[0] if runs is None else runs
        return [run for run in runs if run.status == "running" or run.run_id in self._workers]

    def ahead_of(self, run_id: str) -> int:
        """How many runs will start before this queued one (0 when it is next)."""
        order = [run.run_id for run in self.queue()]
        return order.index(run_id) if run_id in order else 0

    # The monitor.
    def tick(self) -> None:
        """Reap finished workers, enforce stops and bounds, start queued runs while slots are free."""
        with self._lock:
            self._reap()
            self._vouch_for_children()
            self._end_hung_workers()
            self._enforce_bounds()
            self._enforce_stops()
            # Another server on this folder decides under the same lock, and a started run reads
            # "running" before the lock is released, so it is never started twice.
            with folder_lock(self.store.root):
                runs, _ = self.store.list_runs()  # Once per tick, after the steps above changed statuses.
                busy = len(self._workers) + sum(1 for run in self.running(runs) if run.run_id not in self._workers)
                for run in self.queue(runs)[:max(0, self.max_running - busy)]:
                    self._start(run.run_id)
                self.analyses.tick(runs)  # Experiment files of finished runs, beside the training slots.

    def _start(self, run_id: str) -> None:
        command = [sys.executable, "-m", "cnn_core.worker", run_id, "--runs-dir", str(self.store.root.resolve()),
                   "--nice", str(self.nice)]
        try:
            log = open(self.store.path(run_id) / "worker.log", "ab")
        except OSError as error:  # A full disk or a read-only folder: the run cannot even keep a log.
            self.store.settle(run_id, "failed", reason=f"could not start a worker: {disk_problem(error)}")
            return
        try:
            process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True, env=worker_environment())
        except OSError as error:
            self.store.settle(run_id, "failed", reason=f"could not start a worker ({error.strerror})")
            return
        finally:
            log.close()
        self._workers[run_id] = Worker(run_id, process)
        # The worker's pid, never the server's: whatever reads status.json must not signal the server.
        try:
            self.store.write_status(run_id, "running", reason="starting a worker", pid=process.pid)
        except OSError:
            pass  # The worker finds the folder unwritable too and exits; _reap then settles the run.

    def _reap(self) -> None:
        for run_id, worker in list(self._workers.items()):
            returncode = worker.process.poll()
            if returncode is None:
                continue
            del self._workers[run_id]
            try:
                info = self.store.read(run_id)
            except (RunError, OSError):
                continue  # Deleted or broken: nothing to mark.
            with contextlib.suppress(RunError, OSError):
                self.store.clean_debris(run_id)  # A read-only folder keeps its debris; the run is still marked.
            if info.status in ACTIVE or info.status == "interrupted":
                if worker.memory_mb:
                    self.store.settle(run_id, "failed", reason=self._memory_reason(worker), returncode=returncode)
                elif worker.hung:
                    self.store.settle(run_id, "failed", reason="the worker stopped answering and was ended",
                                      returncode=returncode)
                elif worker.stop_asked is not None:
                    self.store.settle(run_id, "stopped", reason="killed after it did not stop in time",
                                      returncode=returncode)
                else:
                    logged = logged_reason(self.store.path(run_id)) or self._crash_near_the_bound(worker, returncode)
                    self.store.settle(run_id, "failed", returncode=returncode,
                                      reason=death_reason(returncode) + (f": {logged}" if logged else ""))
            elif worker.over_time and info.status == "stopped":
                self.store.settle(run_id, "stopped", reason=f"stopped at this server's limit of "
                                  f"{bounds.duration_text(self.limits.max_run_seconds)} per run; what it "
                                  "learned is saved", returncode=returncode)

    def _vouch_for_children(self) -> None:
        """Beat for a live worker of ours that has not beaten itself yet (it is still importing TensorFlow).

        Our own child cannot be a reused PID: ``poll()`` says whether it is alive. A worker that has
        started beating is left to do so, so that a hung one still goes stale.
        """
        for run_id, worker in self._workers.items():
            if worker.process.poll() is None and not (self.store.path(run_id) / "heartbeat").exists():
                with contextlib.suppress(OSError):  # An unwritable folder must not stall the queue's tick.
                    self.store.write_status(run_id, "running", reason="starting: loading TensorFlow and the data",
                                            pid=worker.process.pid)  # The worker's pid, never the server's.

    def _end_hung_workers(self) -> None:
        """A live worker of ours whose heartbeat went stale is hung: ask it to stop, then kill it (see _enforce_stops)."""
        for run_id, worker in self._workers.items():
            if worker.stop_asked is not None or worker.process.poll() is not None:
                continue
            try:
                stale = self.store.read(run_id).status == "interrupted"
            except RunError:
                stale = False
            if stale:
                worker.stop_asked, worker.hung = time.time(), True
                worker.process.send_signal(signal.SIGTERM)

    def _enforce_bounds(self) -> None:
        """Stop a worker that trains past the bound on a run's length (it saves what it learned), and end
        one whose resident memory passed the memory bound (the kernel's RLIMIT_DATA should have first)."""
        now, limit_mb, limit_seconds = time.time(), self.limits.worker_memory_mb, self.limits.max_run_seconds
        for run_id, worker in self._workers.items():
            if worker.process.poll() is not None:
                continue
            if limit_mb:
                used = resident_mb(worker.process.pid)
                worker.peak_mb = max(worker.peak_mb, used)
                if used > limit_mb + MEMORY_SLACK_MB:
                    worker.memory_mb = used
                    worker.process.kill()
                    continue
            if limit_seconds and worker.stop_asked is None and now - worker.started > limit_seconds + bounds.START_GRACE_SECONDS:
                worker.over_time = True
                with contextlib.suppress(RunError, OSError):
                    self.store.request_stop(run_id)
                worker.stop_asked = now
                worker.process.send_signal(signal.SIGTERM)

    def _crash_near_the_bound(self, worker: Worker, returncode: int) -> str:
        """A worker that crashed (TensorFlow does, at times, when the kernel refuses it memory) close to
        the memory bound: most likely out of memory, and the run says so."""
        limit_mb = self.limits.worker_memory_mb
        crashed = returncode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGKILL)
        if not (limit_mb and crashed and worker.peak_mb >= limit_mb - MEMORY_SLACK_MB):
            return ""
        return (f"most likely {bounds.out_of_memory_reason(limit_mb)} (it crashed at "
                f"{bounds.memory_text(worker.peak_mb)} resident)")

    def _memory_reason(self, worker: Worker) -> str:
        return (f"{bounds.out_of_memory_reason(self.limits.worker_memory_mb)} (it reached "
                f"{bounds.memory_text(worker.memory_mb)} and was ended)")

    def _enforce_stops(self) -> None:
        now = time.time()
        for worker in self._workers.values():
            if worker.stop_asked is None or worker.process.poll() is not None:
                continue
            acknowledged = self._acknowledged(worker.run_id)
            limit = STOP_SAVE_SECONDS if acknowledged else STOP_ACK_SECONDS
            if now - worker.stop_asked > limit:
                worker.process.kill()

    def _acknowledged(self, run_id: str) -> bool:
        import json

        try:
            return bool(json.loads((self.store.path(run_id) / "heartbeat").read_text()).get("stopping"))
        except (OSError, ValueError, AttributeError, RunError):
            return False

    def _monitor(self) -> None:
        while not self._closed.wait(POLL_SECONDS):
            try:
                self.tick()
            except Exception as error:  # The monitor must outlive any one bad folder.
                print(f"launcher: {type(error).__name__}: {error}", file=sys.stderr)

    def close(self, stop_workers: bool = True) -> None:
        """End the monitor (tests); optionally kill this launcher's workers."""
        self._closed.set()
        if stop_workers:
            with self._lock:
                for worker in self._workers.values():
                    if worker.process.poll() is None:
                        worker.process.kill()
                        worker.process.wait(10)
                self._reap()
                self.analyses.close()


def launcher_from_environment(store: RunStore | None = None) -> Launcher:
    """A Launcher with limits from $CNN_MAX_JOBS, $CNN_MAX_WAITING, $CNN_MAX_RUNS and the bounds per run
    from $CNN_LIMITS (``cnn_core.common.limits``; a bad value there stops the server with its message)."""
    def number(name: str, default: int) -> int:
        try:
            return max(1, int(os.environ.get(name, default)))
        except ValueError:
            return default

    return Launcher(store, max_running=number("CNN_MAX_JOBS", 1), max_waiting=number("CNN_MAX_WAITING", 5),
                    max_runs=number("CNN_MAX_RUNS", 100), limits=bounds.active_limits())
