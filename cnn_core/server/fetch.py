"""Get a dataset onto this machine without the web server importing TensorFlow.

``fetch(name)`` runs ``python -m cnn_core.worker.download NAME`` as a child process and returns None
when the data is there afterwards, or the one-line reason it is not (offline, a broken file...).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cnn_core.common.data import DATASETS, locate

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 300


def fetch(name: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """None when dataset ``name`` is on disk (downloading it if need be), else why it is not."""
    if name not in DATASETS:
        return f"unknown dataset {name!r}"
    if locate(name)[0] != "download":
        return None
    try:
        done = subprocess.run([sys.executable, "-m", "cnn_core.worker.download", name], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the download of {name} did not finish ({type(error).__name__})"
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        return lines[-1].removeprefix("error:").strip() if lines else f"the download of {name} failed"
    return None
