"""Saved runs: one folder per training job under ``runs/`` (or ``$CNN_RUNS_DIR``).

    runs/<run_id>/config.json     model and training configs
    runs/<run_id>/status.json     queued / running / completed / stopped / failed, reason, device, pid
    runs/<run_id>/history.csv     the progress records
    runs/<run_id>/metrics.json    final full-test-set metrics
    runs/<run_id>/predictions.npy the model's answer for every test image (uint8)
    runs/<run_id>/model.keras     the trained model

Every file is written atomically (a temporary file in the same folder, then a rename), so a
process killed mid-save never leaves a file that loads half-written. A folder that is not a valid
run is reported by ``list_runs`` and skipped. Models load with Keras' safe mode on.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STATUSES = ("queued", "running", "completed", "stopped", "failed")
HISTORY_COLUMNS = ("step", "epoch", "train_loss", "test_loss", "test_accuracy", "learning_rate",
                   "images_per_second", "elapsed", "eta")


class RunError(RuntimeError):
    """A run id is invalid, or a run is missing or broken."""


@dataclass(frozen=True)
class RunInfo:
    """What the run table shows about one saved run."""

    run_id: str
    path: Path
    status: str
    config: dict = field(repr=False)
    metrics: dict = field(repr=False)
    status_info: dict = field(repr=False)

    @property
    def has_model(self) -> bool:
        return (self.path / "model.keras").is_file()


def default_root() -> Path:
    return Path(os.environ.get("CNN_RUNS_DIR", "runs"))


def new_run_id() -> str:
    """A sortable, unguessable id: date, time and six hex digits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe folder name, else raise RunError (no path traversal)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or ".." in run_id:
        raise RunError(f"invalid run id {run_id!r}: expected letters, digits, '-', '_' or '.'")
    return run_id


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode())


def read_json(path: Path) -> dict:
    """Read a JSON object; RunError says which file is broken."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable ({error})") from None
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object")
    return value


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """The folder of saved runs."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

    def create(self, config: dict, run_id: str | None = None) -> str:
        """Make a new run folder holding its config and a 'queued' status."""
        run_id = check_run_id(run_id or new_run_id())
        folder = self.path(run_id)
        folder.mkdir(parents=True, exist_ok=False)
        atomic_write_json(folder / "config.json", config)
        self.write_status(run_id, "queued")
        return run_id

    def write_status(self, run_id: str, status: str, **details) -> None:
        assert status in STATUSES, status
        record = {"status": status, "updated": time.time(), "pid": os.getpid(),
                  "host": socket.gethostname(), **details}
        atomic_write_json(self.path(run_id) / "status.json", record)

    def write_history(self, run_id: str, records: list[dict]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
        atomic_write_bytes(self.path(run_id) / "history.csv", text.getvalue().encode())

    def write_metrics(self, run_id: str, metrics: dict) -> None:
        atomic_write_json(self.path(run_id) / "metrics.json", metrics)

    def write_predictions(self, run_id: str, predictions: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, predictions.astype(np.uint8), allow_pickle=False)
        atomic_write_bytes(self.path(run_id) / "predictions.npy", buffer.getvalue())

    def save_model(self, run_id: str, model) -> None:
        """Save a Keras model atomically (Keras insists the name ends in .keras)."""
        folder = self.path(run_id)
        temporary = folder / f".model-{secrets.token_hex(4)}.keras"
        try:
            model.save(temporary)
            os.replace(temporary, folder / "model.keras")
        finally:
            temporary.unlink(missing_ok=True)

    def read(self, run_id: str) -> RunInfo:
        """One run's config, status and metrics; RunError if the folder is not a valid run."""
        folder = self.path(run_id)
        if not folder.is_dir():
            raise RunError(f"no run {run_id!r} in {self.root}")
        config = read_json(folder / "config.json")
        status_info = read_json(folder / "status.json")
        status = status_info.get("status")
        if status not in STATUSES:
            raise RunError(f"{folder / 'status.json'}: unknown status {status!r}")
        if status in ("queued", "running") and not self.owner_alive(status_info):
            status, status_info = "failed", {**status_info, "reason": "the process running it ended"}
        metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else {}
        if status == "completed" and not (folder / "model.keras").is_file():
            raise RunError(f"{folder}: marked completed but model.keras is missing")
        return RunInfo(run_id, folder, status, config, metrics, status_info)

    @staticmethod
    def owner_alive(status_info: dict) -> bool:
        """Whether the process that wrote a queued/running status still runs (same host only)."""
        if status_info.get("host") != socket.gethostname():
            return True
        return process_alive(int(status_info.get("pid", -1)))

    def list_runs(self) -> tuple[list[RunInfo], list[str]]:
        """All valid runs, newest first, and one line per folder that was skipped and why."""
        runs, problems = [], []
        if not self.root.is_dir():
            return runs, problems
        for folder in sorted(self.root.iterdir(), reverse=True):
            if folder.name.startswith("."):
                continue
            try:
                if not folder.is_dir():
                    raise RunError(f"{folder}: not a run folder")
                runs.append(self.read(folder.name))
            except RunError as error:
                problems.append(str(error))
        return runs, problems

    def read_history(self, run_id: str) -> list[dict]:
        """The progress records as dicts of floats (empty cells become None)."""
        path = self.path(run_id) / "history.csv"
        if not path.is_file():
            return []
        with path.open(newline="") as handle:
            return [{key: (float(value) if value not in ("", None) else None) for key, value in row.items()}
                    for row in csv.DictReader(handle)]

    def read_predictions(self, run_id: str) -> np.ndarray | None:
        path = self.path(run_id) / "predictions.npy"
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def load_model(self, run_id: str):
        """The run's Keras model, loaded with safe mode on (no arbitrary code)."""
        return load_model_file(self.path(run_id) / "model.keras")

    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.path(run_id))


def load_model_file(path: Path | str):
    """Load a .keras file with safe mode on; RunError with the reason if it cannot be loaded."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such model file")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises ValueError, TypeError, OSError... for bad files.
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RunError(f"{path}: cannot load model ({first_line[:300]})") from None
