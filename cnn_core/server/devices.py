"""What TensorFlow sees, asked of a separate process so that the web server never imports it.

``probe()`` runs ``python -m cnn_core.worker.devices``, which prints one JSON object, once per server
(the pages cache it) and returns a ``DeviceReport``; if the child fails or takes too long, the
report says so instead of raising.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class DeviceReport:
    """The devices a worker will see: names, a sentence about them, and the precision 'auto' gives."""

    devices: tuple[tuple[str, str, str], ...] = ()   # (name, kind, description)
    summary: str = "Devices unknown."
    auto_precision: str = "float32"
    error: str = ""
    gpus: tuple[str, ...] = field(default=())

    def resolve(self, requested: str) -> str:
        """The device a run with ``requested`` ("auto", "cpu", "gpu") will use, or a ValueError."""
        if requested == "gpu" and not self.gpus:
            raise ValueError("a GPU was asked for but TensorFlow sees none; choose Automatic or CPU")
        return self.gpus[0] if requested in ("auto", "gpu") and self.gpus else "/CPU:0"


def probe(timeout: float = TIMEOUT_SECONDS) -> DeviceReport:
    """Ask a child process; a DeviceReport with ``error`` set when it could not answer."""
    try:
        done = subprocess.run([sys.executable, "-m", "cnn_core.worker.devices"], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        values = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as error:
        return DeviceReport(error=f"could not ask TensorFlow which devices it sees ({type(error).__name__})")
    return DeviceReport(devices=tuple(tuple(d) for d in values["devices"]), summary=values["summary"],
                        auto_precision=values["auto_precision"], gpus=tuple(values["gpus"]))

