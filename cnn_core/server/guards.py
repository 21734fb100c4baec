"""What the launcher checks about runs and their workers beyond the queue itself.

Why a worker died (the end of its log), how much memory it holds (/proc), which runs count against
the server's saved-runs limit, and a write that fails on a full disk or a read-only folder as a
message. Kept apart from ``launcher`` so that the queue's own logic reads on its own.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cnn_core.common import limits as bounds
from cnn_core.common.runs import ACTIVE, RunError, RunInfo, disk_problem, open_regular

LOG_TAIL_BYTES = 8192     # of worker.log, read for why a worker died


def logged_reason(folder: Path) -> str:
    """What the end of a worker's log says went wrong: its last "worker failed:" or "error:" line, or
    that memory ran out; "" when it says nothing (a worker that could not write its own status)."""
    try:
        with open_regular(folder / "worker.log", 2**62) as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - LOG_TAIL_BYTES))
            data = log.read(LOG_TAIL_BYTES)
    except (RunError, OSError):
        return ""
    text = data.decode(errors="replace")
    if bounds.out_of_memory(text):
        return bounds.out_of_memory_reason(None)
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith(("worker failed:", "error:"))]
    return lines[-1].split(":", 1)[1].strip()[:300] if lines else ""


def resident_mb(pid: int) -> float:
    """A process's resident memory from /proc (0 where there is none to read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def counts_as_saved(run: RunInfo) -> bool:
    """Whether a run counts against the server's ``max_runs``: it is active, or it kept a model."""
    return run.status in ACTIVE or run.has_model


@contextlib.contextmanager
def disk_errors_as_run_errors(action: str):
    """A write that fails (full disk, read-only folder) as a RunError a page can show."""
    try:
        yield
    except OSError as error:
        raise RunError(f"The run could not be {action}: {disk_problem(error)}.") from None
