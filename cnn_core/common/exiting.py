"""Leave a process whose work is done without TensorFlow's slow teardown.

Once a command has written everything it writes (every file of a run is written whole, fsynced and
renamed, and closed), the interpreter's own shutdown only joins TensorFlow's thread pools and frees
memory the operating system takes back anyway; a person launching a run waits for it all the same
(``benchmarks/job_breakdown.py`` times the exit). So the atexit handlers run, the standard streams
are flushed, and the process ends at once.
"""
from __future__ import annotations

import atexit
import os
import sys


def exit_now(code: int) -> None:
    """Run the atexit handlers, flush stdout and stderr, and end the process with ``code``."""
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code if isinstance(code, int) else 1)
