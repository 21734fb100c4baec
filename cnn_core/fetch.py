"""Get a dataset onto this machine without the web server importing TensorFlow.

    python -m cnn_core.fetch mnist      # finds it on disk, or has Keras download it (needs internet)

``fetch(name)`` runs that as a child process and returns None when the data is there afterwards,
or the one-line reason it is not (offline, a broken file...).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cnn_core.data import DATASETS, DataError, load_dataset, locate

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 300


def fetch(name: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """None when dataset ``name`` is on disk (downloading it if need be), else why it is not."""
    if name not in DATASETS:
        return f"unknown dataset {name!r}"
    if locate(name)[0] != "download":
        return None
    try:
        done = subprocess.run([sys.executable, "-m", "cnn_core.fetch", name], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the download of {name} did not finish ({type(error).__name__})"
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        return lines[-1].removeprefix("error:").strip() if lines else f"the download of {name} failed"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in DATASETS:
        print(f"error: usage: python -m cnn_core.fetch {{{','.join(DATASETS)}}}", file=sys.stderr)
        return 2
    try:
        dataset = load_dataset(argv[0])
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{dataset.name}: {dataset.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
