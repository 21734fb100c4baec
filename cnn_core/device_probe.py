"""What TensorFlow sees, asked of a separate process so that the web server never imports it.

    python -m cnn_core.device_probe      # prints one JSON object

``probe()`` runs that once per server (the pages cache it) and returns a ``DeviceReport``; if the
child fails or takes too long, the report says so instead of raising.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def report_here() -> dict:
    """The report of this process (which imports TensorFlow)."""
    from cnn_core.devices import describe_hardware, list_devices
    from cnn_core.training import resolve_precision

    devices = list_devices()
    gpus = [d.name for d in devices if d.kind == "GPU"]
    return {"devices": [[d.name, d.kind, d.description] for d in devices], "summary": describe_hardware(),
            "auto_precision": resolve_precision("auto", gpus[0] if gpus else "/CPU:0"), "gpus": gpus}


def probe(timeout: float = TIMEOUT_SECONDS) -> DeviceReport:
    """Ask a child process; a DeviceReport with ``error`` set when it could not answer."""
    try:
        done = subprocess.run([sys.executable, "-m", "cnn_core.device_probe"], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        values = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as error:
        return DeviceReport(error=f"could not ask TensorFlow which devices it sees ({type(error).__name__})")
    return DeviceReport(devices=tuple(tuple(d) for d in values["devices"]), summary=values["summary"],
                        auto_precision=values["auto_precision"], gpus=tuple(values["gpus"]))


if __name__ == "__main__":
    print(json.dumps(report_here()))
